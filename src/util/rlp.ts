/**
 * RLP encoding into one buffer: sizes first, then one allocation and one pass of writes. @ethereumjs/rlp builds and
 * concatenates an array per nested list, which profiles showed as a large share of the main thread's time in
 * transaction serialization, receipts, trie nodes and the commit batch. Decoding stays with @ethereumjs/rlp.
 */
export type RlpInput = Uint8Array | RlpInput[];

function lengthOfLength(n: number): number {
  return n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
}

/** Encoded size of a byte string. */
export function rlpStringLength(b: Uint8Array): number {
  const n = b.length;
  if (n === 1 && b[0] < 0x80) return 1;
  return n < 56 ? 1 + n : 1 + lengthOfLength(n) + n;
}

/** Encoded size of a list whose items take `payload` bytes. */
export function rlpListLength(payload: number): number {
  return (payload < 56 ? 1 : 1 + lengthOfLength(payload)) + payload;
}

function writeLength(out: Uint8Array, pos: number, n: number, short: number, long: number): number {
  if (n < 56) {
    out[pos++] = short + n;
    return pos;
  }
  const ll = lengthOfLength(n);
  out[pos++] = long + ll;
  for (let i = ll - 1; i >= 0; i--) out[pos++] = (n >>> (8 * i)) & 0xff;
  return pos;
}

export function writeRlpString(out: Uint8Array, pos: number, b: Uint8Array): number {
  if (b.length === 1 && b[0] < 0x80) {
    out[pos] = b[0];
    return pos + 1;
  }
  pos = writeLength(out, pos, b.length, 0x80, 0xb7);
  out.set(b, pos);
  return pos + b.length;
}

export function writeRlpListHeader(out: Uint8Array, pos: number, payload: number): number {
  return writeLength(out, pos, payload, 0xc0, 0xf7);
}

/** Payload sizes of every list in `item`, in the order `write` meets them. */
function measure(item: RlpInput, sizes: number[]): number {
  if (item instanceof Uint8Array) return rlpStringLength(item);
  const at = sizes.length;
  sizes.push(0);
  let payload = 0;
  for (const x of item) payload += measure(x, sizes);
  sizes[at] = payload;
  return rlpListLength(payload);
}

function write(item: RlpInput, out: Uint8Array, pos: number, sizes: number[], next: { i: number }): number {
  if (item instanceof Uint8Array) return writeRlpString(out, pos, item);
  pos = writeRlpListHeader(out, pos, sizes[next.i++]);
  for (const x of item) pos = write(x, out, pos, sizes, next);
  return pos;
}

const NO_BYTES = new Uint8Array(0);
const wide = new DataView(new ArrayBuffer(32));
const wideBytes = new Uint8Array(wide.buffer);
const TWO_53 = 2n ** 53n;
const TWO_256 = 2n ** 256n;

/**
 * The minimal big-endian bytes of an integer in [0, 2^256), empty for 0: what @ethereumjs/util's
 * `bigIntToUnpaddedBytes` gives, without its detour through a hex string (about 0.5 us per field, and a transaction
 * has up to nine).
 */
export function uintBytes(v: bigint): Uint8Array {
  if (v < 0n || v >= TWO_256) throw new RangeError(`integer out of range for 32 bytes: ${v}`);
  if (v < TWO_53) {
    let x = Number(v);
    let len = 0;
    for (let t = x; t > 0; t = Math.floor(t / 256)) len++;
    if (len === 0) return NO_BYTES;
    const out = new Uint8Array(len);
    for (let i = len - 1; i >= 0; i--) {
      out[i] = x % 256;
      x = Math.floor(x / 256);
    }
    return out;
  }
  wide.setBigUint64(0, v >> 192n);
  wide.setBigUint64(8, BigInt.asUintN(64, v >> 128n));
  wide.setBigUint64(16, BigInt.asUintN(64, v >> 64n));
  wide.setBigUint64(24, BigInt.asUintN(64, v));
  let i = 0;
  while (wideBytes[i] === 0) i++;
  return wideBytes.slice(i);
}

/** The transaction fields the legacy, EIP-2930 and EIP-1559 encodings share. */
interface TxFields {
  type: number;
  nonce: bigint;
  gasLimit: bigint;
  to?: { bytes: Uint8Array };
  value: bigint;
  data: Uint8Array;
  v?: bigint;
  r?: bigint;
  s?: bigint;
  chainId?: bigint;
  gasPrice?: bigint;
  maxPriorityFeePerGas?: bigint;
  maxFeePerGas?: bigint;
  accessList?: RlpInput[];
  raw(): unknown;
}

const opt = (v: bigint | undefined) => (v === undefined ? NO_BYTES : uintBytes(v));

/** The field list `tx.raw()` gives, built without the library's per-field conversions (types 0-2; others: raw()). */
function txItems(t: TxFields): RlpInput {
  const to = t.to === undefined ? NO_BYTES : t.to.bytes;
  const sig = [opt(t.v), opt(t.r), opt(t.s)];
  switch (t.type) {
    case 0:
      return [uintBytes(t.nonce), uintBytes(t.gasPrice!), uintBytes(t.gasLimit), to, uintBytes(t.value), t.data, ...sig];
    case 1:
      return [uintBytes(t.chainId!), uintBytes(t.nonce), uintBytes(t.gasPrice!), uintBytes(t.gasLimit), to, uintBytes(t.value), t.data, t.accessList!, ...sig];
    case 2:
      return [uintBytes(t.chainId!), uintBytes(t.nonce), uintBytes(t.maxPriorityFeePerGas!), uintBytes(t.maxFeePerGas!), uintBytes(t.gasLimit), to, uintBytes(t.value), t.data, t.accessList!, ...sig];
    default:
      return t.raw() as RlpInput;
  }
}

/** A signed transaction's canonical bytes (EIP-2718 type byte first for typed ones), as `tx.serialize()` gives. */
export function serializeTx(tx: { type: number; raw(): unknown }): Uint8Array {
  return encodeRlp(txItems(tx as TxFields), tx.type === 0 ? undefined : tx.type);
}

/** The RLP encoding of `item` (byte strings and nested lists of them), byte for byte what @ethereumjs/rlp gives. */
export function encodeRlp(item: RlpInput, prefix?: number): Uint8Array {
  const sizes: number[] = [];
  const total = measure(item, sizes);
  const skip = prefix === undefined ? 0 : 1;
  const out = new Uint8Array(total + skip);
  if (prefix !== undefined) out[0] = prefix;
  write(item, out, skip, sizes, { i: 0 });
  return out;
}

/** Offset just past the RLP item (string or list) that starts at `p`. */
function itemEnd(b: Uint8Array, p: number): number {
  const h = b[p];
  if (h === undefined) throw new RangeError(`RLP item expected at byte ${p} of ${b.length}`);
  if (h < 0x80) return p + 1;
  if (h < 0xb8) return p + 1 + (h - 0x80);
  if (h < 0xc0) return p + 1 + (h - 0xb7) + lengthAt(b, p + 1, h - 0xb7);
  if (h < 0xf8) return p + 1 + (h - 0xc0);
  return p + 1 + (h - 0xf7) + lengthAt(b, p + 1, h - 0xf7);
}

function lengthAt(b: Uint8Array, p: number, ll: number): number {
  if (p + ll > b.length) throw new RangeError(`RLP length runs past the end (byte ${p} of ${b.length})`);
  let n = 0;
  for (let i = 0; i < ll; i++) n = n * 256 + b[p + i];
  return n;
}

/**
 * What a signed transaction's signature signs, cut from its canonical encoding (`serializeTx`, or the bytes a block
 * carries) instead of re-encoded from its decoded fields: the list items before the signature (its last three),
 * under a new list header, after the type byte of a typed transaction; for a legacy transaction protected by
 * EIP-155, followed by its chain id, 0 and 0. The same bytes as the library's `getMessageToSign()` encoding for any
 * transaction the library decodes (it accepts canonical RLP and integers only). RangeError on bytes that are no list.
 */
export function signingPayload(raw: Uint8Array, eip155ChainId?: bigint): Uint8Array {
  const typed = raw.length > 0 && raw[0] < 0x80;
  const at = typed ? 1 : 0;
  const h = raw[at];
  if (h === undefined || h < 0xc0) throw new RangeError('a transaction encoding must be an RLP list');
  const start = h < 0xf8 ? at + 1 : at + 1 + (h - 0xf7);
  const end = itemEnd(raw, at);
  if (end !== raw.length) throw new RangeError(`transaction encoding has ${raw.length - end} bytes after its list`);
  // Item ends, to find where the signature (the last three items) begins.
  const ends: number[] = [];
  for (let p = start; p < end; p = ends[ends.length - 1]) ends.push(itemEnd(raw, p));
  if (ends.length < 4 || ends[ends.length - 1] !== end) throw new RangeError(`transaction encoding has ${ends.length} fields`);
  const unsignedEnd = ends[ends.length - 4];
  const chainId = !typed && eip155ChainId !== undefined ? uintBytes(eip155ChainId) : undefined;
  const extra = chainId === undefined ? 0 : rlpStringLength(chainId) + 2;
  const payload = unsignedEnd - start + extra;
  const out = new Uint8Array(at + rlpListLength(payload));
  if (typed) out[0] = raw[0];
  let pos = writeRlpListHeader(out, at, payload);
  out.set(raw.subarray(start, unsignedEnd), pos);
  pos += unsignedEnd - start;
  if (chainId !== undefined) {
    pos = writeRlpString(out, pos, chainId);
    out[pos++] = 0x80;
    out[pos++] = 0x80;
  }
  return out;
}
