/**
 * Byte arrays cut from shared ArrayBuffers. A typed array of more than 64 bytes made on its own gets a backing store of
 * its own (a malloc, an entry for V8's array-buffer sweeper, a free when it dies), and one of up to 64 bytes lives on
 * V8's heap until something asks for its `buffer` (a `subarray`, a native call), which moves it into such a store.
 * Arrays cut from a slab are views: making one allocates no store. A slab's memory lives as long as any array cut
 * from it, so a slab serves arrays that die together (a block's encodings, its trie paths), not ones a cache keeps
 * one by one.
 */
export class Slab {
  private readonly bytes: number;
  private readonly largest: number;
  private buffer: ArrayBuffer;
  private used = 0;

  /** Slabs of `bytes` bytes; arrays longer than `largest` are made on their own. */
  constructor(bytes: number, largest: number) {
    this.bytes = bytes;
    this.largest = largest;
    this.buffer = new ArrayBuffer(bytes);
  }

  /** `n` zeroed bytes no other array of this slab shares. */
  take(n: number): Uint8Array {
    if (n > this.largest) return new Uint8Array(n);
    if (this.used + n > this.bytes) {
      this.buffer = new ArrayBuffer(this.bytes);
      this.used = 0;
    }
    const out = new Uint8Array(this.buffer, this.used, n);
    this.used += n;
    return out;
  }
}
