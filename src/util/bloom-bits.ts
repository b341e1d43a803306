/**
 * The logs bloom's bit selection (Yellow Paper, M3:2048): an entry sets three of the 2,048 bits, each chosen by the
 * low 11 bits of one of the first three big-endian 16-bit words of its Keccak-256 hash, counted from the vector's end.
 * Shared by the interpreter's patched `Bloom.add` (exec/bloom.ts) and the store, which rebuilds stored receipts' blooms.
 */
export function setBloomBits(bits: Uint8Array, hash: Uint8Array): void {
  for (let i = 0; i < 6; i += 2) {
    const loc = ((hash[i] << 8) | hash[i + 1]) & 2047;
    bits[255 - (loc >> 3)] |= 1 << (loc & 7);
  }
}

/** An empty logs bloom, shared: never written (a placeholder where a receipt's bloom is not made yet, or has no bits). */
export const EMPTY_BLOOM = new Uint8Array(256);
