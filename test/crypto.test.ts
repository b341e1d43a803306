import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { keccak256 } from '../src/crypto/index.ts';
import { hex } from '../src/util/bytes.ts';

test('keccak256 gives @noble keccak_256 at every length across three sponge blocks, on views, in arrays of its own', () => {
  const data = new Uint8Array(420 + 7);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 255;
  const results: [Uint8Array, string][] = [];
  for (let len = 0; len <= 420; len++) {
    // A view at an odd offset into a larger buffer: the hash must read exactly the view's bytes.
    const view = data.subarray(7, 7 + len);
    const out = keccak256(view);
    assert.equal(hex(out), hex(keccak_256(view)), `length ${len}`);
    // Each result is its own 32-byte buffer from offset 0 (the library's bloom filter reads `out.buffer` directly).
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, 32);
    results.push([out, hex(out)]);
  }
  // No result is a view of memory a later hash reuses.
  for (const [out, was] of results) assert.equal(hex(out), was, 'a later hash changed an earlier result');
  assert.equal(hex(keccak256(new TextEncoder().encode('abc'))), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
});
