/**
 * RLP encoding into one buffer: sizes first, then one allocation and one pass of writes. @ethereumjs/rlp builds and
 * concatenates an array per nested list, which profiles showed as a large share of the main thread's time in
 * transaction serialization, receipts, trie nodes and the commit batch. Decoding stays with @ethereumjs/rlp.
 */
import { Slab } from './slab.ts';

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

/** 2^(8n) for n = 0..32: the bounds of each byte length. */
const BYTE_BOUNDS = Array.from({ length: 33 }, (_, n) => 1n << BigInt(8 * n));

/** Length of the minimal big-endian bytes of an integer in [0, 2^256) (0 for 0). */
function uintLength(v: bigint): number {
  if (v < TWO_53) {
    let n = 0;
    for (let x = Number(v); x > 0; x = Math.floor(x / 256)) n++;
    return n;
  }
  if (v >= TWO_256) throw new RangeError(`integer out of range for 32 bytes: ${v}`);
  let n = 32;
  while (v < BYTE_BOUNDS[n - 1]) n--;
  return n;
}

/** Encoded size of an integer field (its minimal bytes as an RLP string). */
function uintFieldLength(v: bigint): number {
  if (v < 0n) throw new RangeError(`integer out of range for 32 bytes: ${v}`);
  return v < 128n ? 1 : 1 + uintLength(v);
}

/** Write an integer field (see `uintFieldLength`) at `pos`; returns the position after it. */
function writeUintField(out: Uint8Array, pos: number, v: bigint): number {
  if (v === 0n) {
    out[pos] = 0x80;
    return pos + 1;
  }
  if (v < 128n) {
    out[pos] = Number(v);
    return pos + 1;
  }
  const n = uintLength(v);
  out[pos++] = 0x80 + n;
  if (v < TWO_53) {
    let x = Number(v);
    for (let i = pos + n - 1; i >= pos; i--) {
      out[i] = x % 256;
      x = Math.floor(x / 256);
    }
    return pos + n;
  }
  wide.setBigUint64(0, v >> 192n);
  wide.setBigUint64(8, BigInt.asUintN(64, v >> 128n));
  wide.setBigUint64(16, BigInt.asUintN(64, v >> 64n));
  wide.setBigUint64(24, BigInt.asUintN(64, v));
  out.set(wideBytes.subarray(32 - n), pos);
  return pos + n;
}

/**
 * Transaction and receipt encodings are cut from shared slabs: an array of more than 64 bytes made on its own gets a
 * backing store of its own (a malloc, later swept and freed), which cost more than writing a transaction. A slab
 * lives as long as any encoding cut from it; the engine's transactions are dropped once the block's transactions are
 * packed for the workers, its receipts with the block.
 */
const encodings = new Slab(1 << 16, 1 << 13);

function slabBytes(n: number): Uint8Array {
  return encodings.take(n);
}

/** A signature field: empty on an unsigned transaction. */
function sigFieldLength(v: bigint | undefined): number {
  return v === undefined ? 1 : uintFieldLength(v);
}

function writeSigField(out: Uint8Array, pos: number, v: bigint | undefined): number {
  if (v !== undefined) return writeUintField(out, pos, v);
  out[pos] = 0x80;
  return pos + 1;
}

/**
 * A signed transaction's canonical bytes (EIP-2718 type byte first for typed ones), as `tx.serialize()` gives. Types
 * 0, 1 and 2 are written field by field into one slab-cut array sized first; other types go through the library's
 * `raw()`. The main thread serializes every transaction it sends to the workers: an array per integer field and one
 * of its own for the output took 2.5-2.8 us a transaction, this 0.9-1.0 us (lab, the 8,000 transactions of the
 * transfers and of the ERC-20 blocks, CPU of all threads).
 */
export function serializeTx(tx: { type: number; raw(): unknown }): Uint8Array {
  const t = tx as TxFields;
  if (t.type > 2) return encodeRlp(t.raw() as RlpInput, t.type);
  const to = t.to === undefined ? NO_BYTES : t.to.bytes;
  const typed = t.type !== 0;
  const lists: number[] = [];
  let payload = uintFieldLength(t.nonce) + uintFieldLength(t.gasLimit) + rlpStringLength(to) + uintFieldLength(t.value) + rlpStringLength(t.data);
  payload += t.type === 2 ? uintFieldLength(t.maxPriorityFeePerGas!) + uintFieldLength(t.maxFeePerGas!) : uintFieldLength(t.gasPrice!);
  if (typed) payload += uintFieldLength(t.chainId!) + measure(t.accessList!, lists);
  payload += sigFieldLength(t.v) + sigFieldLength(t.r) + sigFieldLength(t.s);
  const skip = typed ? 1 : 0;
  const out = slabBytes(skip + rlpListLength(payload));
  if (typed) out[0] = t.type;
  let pos = writeRlpListHeader(out, skip, payload);
  if (typed) pos = writeUintField(out, pos, t.chainId!);
  pos = writeUintField(out, pos, t.nonce);
  if (t.type === 2) {
    pos = writeUintField(out, pos, t.maxPriorityFeePerGas!);
    pos = writeUintField(out, pos, t.maxFeePerGas!);
  } else pos = writeUintField(out, pos, t.gasPrice!);
  pos = writeUintField(out, pos, t.gasLimit);
  pos = writeRlpString(out, pos, to);
  pos = writeUintField(out, pos, t.value);
  pos = writeRlpString(out, pos, t.data);
  if (typed) pos = write(t.accessList!, out, pos, lists, { i: 0 });
  pos = writeSigField(out, pos, t.v);
  pos = writeSigField(out, pos, t.r);
  pos = writeSigField(out, pos, t.s);
  if (pos !== out.length) throw new Error(`serializeTx wrote ${pos} of ${out.length} bytes`);
  return out;
}

/** The RLP encoding of `item` (byte strings and nested lists of them), byte for byte what @ethereumjs/rlp gives. */
export function encodeRlp(item: RlpInput, prefix?: number): Uint8Array {
  return encodeInto(item, prefix, (n) => new Uint8Array(n));
}

/**
 * `encodeRlp` into an array cut from a shared slab (see `slabBytes`): for encodings made per transaction and dropped
 * with their block (receipts), never for ones a cache keeps, which would keep their whole slab alive.
 */
export function encodeRlpTransient(item: RlpInput, prefix?: number): Uint8Array {
  return encodeInto(item, prefix, slabBytes);
}

function encodeInto(item: RlpInput, prefix: number | undefined, alloc: (n: number) => Uint8Array): Uint8Array {
  const sizes: number[] = [];
  const total = measure(item, sizes);
  const skip = prefix === undefined ? 0 : 1;
  const out = alloc(total + skip);
  if (prefix !== undefined) out[0] = prefix;
  write(item, out, skip, sizes, { i: 0 });
  return out;
}

/** Offset just past the RLP item (string or list) that starts at `p`; RangeError where there is none. */
export function itemEnd(b: Uint8Array, p: number): number {
  const h = b[p];
  if (h === undefined) throw new RangeError(`RLP item expected at byte ${p} of ${b.length}`);
  if (h < 0x80) return p + 1;
  if (h < 0xb8) return p + 1 + (h - 0x80);
  if (h < 0xc0) return p + 1 + (h - 0xb7) + lengthAt(b, p + 1, h - 0xb7);
  if (h < 0xf8) return p + 1 + (h - 0xc0);
  return p + 1 + (h - 0xf7) + lengthAt(b, p + 1, h - 0xf7);
}

/** Offset of the first item inside the RLP list that starts at `p`; RangeError if no list starts there. */
export function listPayloadStart(b: Uint8Array, p: number): number {
  const h = b[p];
  if (h === undefined || h < 0xc0) throw new RangeError(`RLP list expected at byte ${p} of ${b.length}`);
  return h < 0xf8 ? p + 1 : p + 1 + (h - 0xf7);
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
