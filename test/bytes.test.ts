import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fromHex, hex } from '../src/util/bytes.ts';

/** Hex the slow way, byte by byte, to check `hex` against. */
function byByte(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

test('hex: every length up to past the scratch limit, views at offsets, shared memory, and the scratch left behind', () => {
  // Lengths cross the scratch's first size (256), its growth and its limit (4096, past which the bytes are viewed).
  const lengths = [0, 1, 19, 20, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4095, 4096, 4097, 10_000];
  for (const n of lengths) {
    const own = new Uint8Array(randomBytes(n));
    assert.equal(hex(own), byByte(own), `own array of ${n}`);
    const big = new Uint8Array(randomBytes(n + 37));
    const view = big.subarray(13, 13 + n);
    assert.equal(hex(view), byByte(view), `view of ${n} at offset 13`);
    const shared = new Uint8Array(new SharedArrayBuffer(n + 8), 8, n);
    shared.set(own);
    assert.equal(hex(shared), byByte(own), `shared view of ${n}`);
    assert.deepEqual(fromHex(hex(own)), own, `round trip of ${n}`);
  }
  // A long input, then a short one: the short one's hex must not carry the long one's bytes.
  const long = new Uint8Array(3000).fill(0xab);
  hex(long);
  assert.equal(hex(Uint8Array.of(1, 2)), '0102');
  // The input is read, never written.
  const input = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
  hex(input);
  assert.deepEqual(input, Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
});
