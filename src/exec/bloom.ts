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

/**
 * The bloom runTx returns for a transaction run `withoutBlooms`: one, shared, left empty (`add` does nothing then).
 * runTx made a new one per transaction, a 256-byte array, which V8 allocates outside its heap (typed arrays above 64
 * bytes): allocated and swept, 1.4-2.0 us each (lab, docs/performance.md: the ERC-20 blocks 1.5% faster without them).
 * runTx asks for it through `globalThis[Symbol.for('parallax.skippedTxBloom')]`, a call that
 * scripts/patch-deps.ts adds to the installed @ethereumjs/vm (a module-private function); without that edit runTx
 * makes its own as before.
 */
let skippedBloom: Bloom | undefined;
/** How many times runTx took the shared bloom (tests: the edit is in effect). */
let sharedTaken = 0;
(globalThis as Record<symbol, unknown>)[Symbol.for('parallax.skippedTxBloom')] = (): Bloom | undefined => {
  if (!skipping) return undefined;
  sharedTaken++;
  return (skippedBloom ??= new Bloom());
};

/** The times runTx took the shared empty bloom so far (see `withoutBlooms`). */
export function sharedBloomsTaken(): number {
  return sharedTaken;
}

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
notePatch("@ethereumjs/vm runTx's bloom without blooms (src/exec/bloom.ts, scripts/patch-deps.ts)");
