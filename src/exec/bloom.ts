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

proto.add = function add(this: BloomThis, e: Uint8Array): void {
  setBloomBits(this.bitvector, this.keccakFunction(e));
};
notePatch('@ethereumjs/vm Bloom.add (src/exec/bloom.ts)');
