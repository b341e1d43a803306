/**
 * Receipts as the store keeps them: each without its logs bloom, which its logs determine (256 bytes of a
 * transfer's 270-odd, and of a block's write batch 545 KB of 2.57 MB on the transfers benchmark's blocks).
 *
 * Stored value: the format byte 0x01, then the RLP list of the block's receipts, each as a byte string: the type byte
 * of a typed receipt, then RLP([status or post-state root, cumulative gas used, logs]). Values written before this
 * format (the RLP list of the full encodings, so starting with a list header) are read as they are.
 */
import { RLP } from '@ethereumjs/rlp';
import { keccak256 } from '../crypto/index.ts';
import { ParallaxError } from '../errors.ts';
import { setBloomBits } from '../util/bloom-bits.ts';
import { Slab } from '../util/slab.ts';
import { encodeRlp, itemEnd, listPayloadStart, rlpListLength, writeRlpListHeader } from '../util/rlp.ts';

const FORMAT_WITHOUT_BLOOM = 0x01;
/** The receipts without bloom are copied into the stored value at once: cut from slabs, not allocated one by one. */
const scratch = new Slab(1 << 16, 1 << 13);
const BLOOM_BYTES = 256;
/** A bloom as its receipt holds it: a 256-byte string (header 0xb9 0x01 0x00). */
const BLOOM_ITEM = 3 + BLOOM_BYTES;

/** Where the fields of an encoded receipt start and end. */
interface Fields {
  /** 1 for a typed receipt (its first byte the type), else 0. */
  typed: number;
  /** Offset of the list's first item. */
  start: number;
  /** Offset just past each field. */
  ends: number[];
}

/** The `count` fields of an encoded receipt (full, or without its bloom); RangeError on malformed bytes. */
function fields(r: Uint8Array, count: number): Fields {
  const typed = r.length > 0 && r[0] < 0x80 ? 1 : 0;
  const start = listPayloadStart(r, typed);
  const ends: number[] = [];
  let p = start;
  for (let i = 0; i < count; i++) {
    p = itemEnd(r, p);
    if (p > r.length) throw new RangeError(`field ${i} runs past the end (${p} of ${r.length} bytes)`);
    ends.push(p);
  }
  if (p !== r.length || itemEnd(r, typed) !== r.length) throw new RangeError(`not ${count} fields in one list`);
  return { typed, ends, start };
}

/**
 * The receipt `r` (fields `f`) rebuilt as its type byte and one list: its status and cumulative gas (up to `gasEnd`),
 * then `middle`, then `logs` (encoded).
 */
function relist(r: Uint8Array, f: Fields, gasEnd: number, middle: Uint8Array, logs: Uint8Array, alloc: (n: number) => Uint8Array): Uint8Array {
  const payload = gasEnd - f.start + middle.length + logs.length;
  const out = alloc(f.typed + rlpListLength(payload));
  if (f.typed === 1) out[0] = r[0];
  let pos = writeRlpListHeader(out, f.typed, payload);
  out.set(r.subarray(f.start, gasEnd), pos);
  pos += gasEnd - f.start;
  out.set(middle, pos);
  out.set(logs, pos + middle.length);
  return out;
}

const NO_BYTES = new Uint8Array(0);

/** The stored value of a block's receipts (their consensus encodings, as the receipts trie holds them). */
export function packReceipts(encoded: Uint8Array[]): Uint8Array {
  const compact = encoded.map((r, i) => {
    let f;
    try {
      f = fields(r, 4);
    } catch (e) {
      throw new Error(`receipt ${i} is no receipt encoding: ${(e as Error).message}`);
    }
    const [, gasEnd, bloomEnd, logsEnd] = f.ends;
    if (bloomEnd - gasEnd !== BLOOM_ITEM) throw new Error(`receipt ${i}'s third field is no ${BLOOM_BYTES}-byte bloom`);
    return relist(r, f, gasEnd, NO_BYTES, r.subarray(bloomEnd, logsEnd), (n) => scratch.take(n));
  });
  return encodeRlp(compact, FORMAT_WITHOUT_BLOOM);
}

/** A block's receipts (consensus encodings) from their stored value; DB_CORRUPT naming `where` if it does not decode. */
export function unpackReceipts(value: Uint8Array, where: string): Uint8Array[] {
  const corrupt = (why: string) => new ParallaxError('DB_CORRUPT', `receipts of ${where} do not decode: ${why}`, { where });
  if (value[0] !== FORMAT_WITHOUT_BLOOM && !(value[0] >= 0xc0)) throw corrupt(`unknown format byte ${value[0]}`);
  let items: Uint8Array[];
  try {
    const list = RLP.decode(value[0] === FORMAT_WITHOUT_BLOOM ? value.subarray(1) : value);
    if (!Array.isArray(list) || list.some((x) => !(x instanceof Uint8Array))) throw new Error('not a list of byte strings');
    items = list as Uint8Array[];
  } catch (e) {
    throw corrupt((e as Error).message);
  }
  if (value[0] !== FORMAT_WITHOUT_BLOOM) return items; // the earlier format: full encodings
  return items.map((r, i) => {
    try {
      const f = fields(r, 3);
      const [, gasEnd, logsEnd] = f.ends;
      // The bloom as its receipt holds it: a 256-byte string, header 0xb9 0x01 0x00.
      const bloomItem = new Uint8Array(BLOOM_ITEM);
      bloomItem.set([0xb9, 0x01, 0x00]);
      const bloom = bloomItem.subarray(3);
      for (const log of RLP.decode(r.subarray(gasEnd, logsEnd)) as unknown as [Uint8Array, Uint8Array[], Uint8Array][]) {
        if (!Array.isArray(log) || !(log[0] instanceof Uint8Array) || !Array.isArray(log[1])) throw new Error('a log is not [address, topics, data]');
        setBloomBits(bloom, keccak256(log[0]));
        for (const topic of log[1]) setBloomBits(bloom, keccak256(topic));
      }
      return relist(r, f, gasEnd, bloomItem, r.subarray(gasEnd, logsEnd), (n) => new Uint8Array(n));
    } catch (e) {
      throw corrupt(`receipt ${i}: ${(e as Error).message}`);
    }
  });
}
