/** Small byte helpers used on hot paths; Buffer's hex codec is native and much faster than per-byte loops. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(h: string): Uint8Array {
  const s = h.startsWith('0x') ? h.slice(2) : h;
  const buf = Buffer.from(s.length % 2 === 1 ? '0' + s : s, 'hex');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function prefixed(b: Uint8Array): `0x${string}` {
  return `0x${hex(b)}`;
}

/** Strip leading zero bytes: the canonical form of storage values. */
export function unpad(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === 0 ? b : b.subarray(i);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
