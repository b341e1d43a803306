/**
 * LevelDB key layout. One database holds everything; a one-byte prefix names the record kind.
 *
 *   0x01 addr(20)             -> account RLP [nonce, balance, storageRoot, codeHash] (flat: read without a trie walk)
 *   0x02 codeHash(32)         -> contract code
 *   0x03 addr(20) slot(32)    -> storage value, big-endian with leading zeros stripped (absent = zero)
 *   0x04 nodeHash(32)         -> Merkle-Patricia trie node (state trie and all storage tries; content-addressed):
 *                                written here only by databases in memory and before schema 2; a database on disk keeps
 *                                its nodes in the file beside it (see node-file.ts) and reads this prefix for older ones
 *   0x05 name                 -> metadata (executed head, schema version)
 *   0x06 number(8)            -> executed block record
 *   0x07 number(8)            -> undo journal of that block (previous values of every flat record it changed)
 *   0x08 number(8)            -> receipts of that block, without their logs blooms (see receipts.ts)
 *   0x09 number(8)            -> verification record of that block (canonical roots, mismatches), JSON
 */
import { Slab } from '../util/slab.ts';

export const P_ACCOUNT = 0x01;
export const P_CODE = 0x02;
export const P_STORAGE = 0x03;
export const P_NODE = 0x04;
export const P_META = 0x05;
export const P_BLOCK = 0x06;
export const P_UNDO = 0x07;
export const P_RECEIPTS = 0x08;
export const P_VERIFY = 0x09;
/** Execution trace of a recent block (JSON), kept for the last `traceBlocks` blocks. */
export const P_TRACE = 0x0a;

export const META_HEAD = metaKey('head');
export const META_SCHEMA = metaKey('schema');
/** Number of the last block recorded as a mismatch (8 bytes). */
export const META_LAST_MISMATCH = metaKey('lastMismatch');
/** Bytes of node records in the trie node file as of the head (8 bytes, big-endian; see node-file.ts). */
export const META_NODE_FILE = metaKey('nodeFile');
/** 2: trie nodes in the node file beside LevelDB. A database of schema 1 (every node in LevelDB) is read as it is. */
export const SCHEMA_VERSION = 2;
/** Schemas this version opens. */
export const SCHEMAS_READ = [1, 2];

function metaKey(name: string): Uint8Array {
  const b = new TextEncoder().encode(name);
  const k = new Uint8Array(1 + b.length);
  k[0] = P_META;
  k.set(b, 1);
  return k;
}

export function accountKey(address: Uint8Array): Uint8Array {
  const k = new Uint8Array(21);
  k[0] = P_ACCOUNT;
  k.set(address, 1);
  return k;
}

export function codeKey(codeHash: Uint8Array): Uint8Array {
  const k = new Uint8Array(33);
  k[0] = P_CODE;
  k.set(codeHash, 1);
  return k;
}

export function storageKey(address: Uint8Array, slot: Uint8Array): Uint8Array {
  const k = new Uint8Array(53);
  k[0] = P_STORAGE;
  k.set(address, 1);
  k.set(slot, 21);
  return k;
}

/** Bounds of all account records. */
export function accountRange(): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: Uint8Array.of(P_ACCOUNT), lt: Uint8Array.of(P_ACCOUNT + 1) };
}

/** Bounds of all storage records of one account, for range scans when its storage is wiped. */
export function storageRange(address: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const gte = new Uint8Array(21);
  gte[0] = P_STORAGE;
  gte.set(address, 1);
  const lt = new Uint8Array(53).fill(0xff);
  lt[0] = P_STORAGE;
  lt.set(address, 1);
  return { gte, lt: concatFF(lt) };
}

function concatFF(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.length + 1);
  out.set(k);
  out[k.length] = 0xff;
  return out;
}

export function nodeKey(hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(33);
  k[0] = P_NODE;
  k.set(hash, 1);
  return k;
}

export function numberKey(prefix: number, n: bigint): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = prefix;
  new DataView(k.buffer).setBigUint64(1, n);
  return k;
}

/**
 * Keys for one synchronous read (`getSync`), written into one scratch buffer that the next read key overwrites: the
 * read must be made before another read key is (LevelDB copies nothing it keeps from the key). A key made with
 * `accountKey` and the like is a typed array of up to 53 bytes on V8's heap, which the native call moves into a
 * backing store of its own (a malloc, later swept and freed); the scratch is one, made once per thread.
 */
const readScratch = Buffer.alloc(64);
const readViews = new Map<number, Uint8Array>();

function readView(length: number): Uint8Array {
  let v = readViews.get(length);
  if (v === undefined) readViews.set(length, (v = new Uint8Array(readScratch.buffer, readScratch.byteOffset, length)));
  return v;
}

/** `accountKey` of the address given in hex (40 digits), for one `getSync`. */
export function accountReadKey(addrHex: string): Uint8Array {
  readScratch[0] = P_ACCOUNT;
  writeHex(addrHex, 1, 20);
  return readView(21);
}

/** `storageKey` of the address and slot given in hex (40 and 64 digits), for one `getSync`. */
export function storageReadKey(addrHex: string, slotHex: string): Uint8Array {
  readScratch[0] = P_STORAGE;
  writeHex(addrHex, 1, 20);
  writeHex(slotHex, 21, 32);
  return readView(53);
}

/** `nodeKey` of the hash given in hex (64 digits), for one `getSync`. */
export function nodeReadKey(hashHex: string): Uint8Array {
  readScratch[0] = P_NODE;
  writeHex(hashHex, 1, 32);
  return readView(33);
}

/** `codeKey` of the code hash, for one `getSync`. */
export function codeReadKey(codeHash: Uint8Array): Uint8Array {
  readScratch[0] = P_CODE;
  readScratch.set(codeHash, 1);
  return readView(33);
}

function writeHex(h: string, at: number, bytes: number): void {
  if (h.length !== bytes * 2 || readScratch.write(h, at, bytes, 'hex') !== bytes) throw new RangeError(`expected ${bytes * 2} hex digits, got "${h}"`);
}

/**
 * Keys of one write batch, cut from shared 64 KB slabs: the native batch call moves every key that lives on V8's heap
 * (`accountKey` and `storageKey` make such arrays) into a backing store of its own, a malloc per key, and a block
 * writes thousands. For keys nothing keeps after the batch (the batch copies them; the undo journal encodes a copy).
 */
export class KeyArena {
  private readonly slab = new Slab(1 << 16, 64);

  account(address: Uint8Array): Uint8Array {
    const key = this.slab.take(21);
    key[0] = P_ACCOUNT;
    key.set(address, 1);
    return key;
  }

  storage(address: Uint8Array, slot: Uint8Array): Uint8Array {
    const key = this.slab.take(53);
    key[0] = P_STORAGE;
    key.set(address, 1);
    key.set(slot, 21);
    return key;
  }

  /** `storageKey` of an address and a slot given together (52 bytes, as a commit pack holds them). */
  storageAt(addressSlot: Uint8Array): Uint8Array {
    const key = this.slab.take(53);
    key[0] = P_STORAGE;
    key.set(addressSlot, 1);
    return key;
  }

  /** `nodeKey` of a node's 32-byte hash. */
  node(hash: Uint8Array): Uint8Array {
    if (hash.length !== 32) throw new RangeError(`expected a 32-byte trie node hash, got ${hash.length} bytes`);
    const key = this.slab.take(33);
    key[0] = P_NODE;
    key.set(hash, 1);
    return key;
  }
}
