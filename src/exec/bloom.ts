/**
 * The logs bloom's `add` without a DataView per bit (imported for its effect by the executor, and so by the workers).
 *
 * @ethereumjs/vm's `Bloom.add` hashes the entry and then reads each of the three 11-bit positions through
 * `new DataView(hash.buffer)`: three DataViews per entry, and the hash, a 32-byte array on V8's heap, is moved into a
 * backing store of its own by the first `buffer` (a malloc, later swept and freed). An ERC-20 transfer adds four
 * entries (the token's address and three topics). Here the positions are read from the hash's bytes directly; the
 * bits set are the same (the bloom test compares both on thousands of entries).
 */
import { Bloom } from '@ethereumjs/vm';
import { notePatch } from '../util/patches.ts';
import { setBloomBits } from '../util/bloom-bits.ts';

interface BloomThis {
  keccakFunction(e: Uint8Array): Uint8Array;
  bitvector: Uint8Array;
}

const proto = Bloom.prototype as unknown as { add(this: BloomThis, e: Uint8Array): void };

/** The library's `add`, kept for the equivalence test. */
export const libraryBloomAdd: (this: BloomThis, e: Uint8Array) => void = proto.add;

/** Set while a transaction runs whose bloom is made elsewhere (see `withoutBlooms`). */
let skipping = false;

proto.add = function add(this: BloomThis, e: Uint8Array): void {
  if (skipping) return;
  setBloomBits(this.bitvector, this.keccakFunction(e));
};

/**
 * Run `f` (one transaction's runTx, awaited before the thread's next one starts) with `Bloom.add` doing nothing: its
 * block's receipts, blooms included, are made from the logs elsewhere (see receipts-job.ts), and the empty bloom it
 * leaves is not used. Nothing else on the thread adds to a bloom meanwhile: the executor ORs blooms' bits, and the
 * workers' outcomes come with theirs.
 */
export async function withoutBlooms<T>(f: () => Promise<T>): Promise<T> {
  skipping = true;
  try {
    return await f();
  } finally {
    skipping = false;
  }
}
notePatch('@ethereumjs/vm Bloom.add (src/exec/bloom.ts)');
