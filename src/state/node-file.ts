/**
 * Trie nodes in an append-only file beside LevelDB, found through a hash index in shared memory.
 *
 * A block of 2,000 transfers makes about 8,400 trie nodes (1.4 MB), each under a random 32-byte key. In LevelDB every
 * one of them went through the write batch, the memtable and the log, and then through every compaction of its level:
 * random keys overlap every table, so each merge rewrote them again (see "What removed the hot spots" in
 * docs/performance.md, eleventh session). Nodes are content-addressed and never change or go away, so they need no
 * sorted store: here a block's nodes are appended to one file with one write, and an in-memory index maps each hash to
 * its place.
 *
 * The file is a sequence of records, the format the workers pack their shares' nodes in (see `unpackNodes`), so their
 * buffers are written as they come:
 *
 *   length u32 (big-endian) | P_NODE | hash (32) | encoding (length bytes)
 *
 * Crash safety: a block's nodes are appended before the LevelDB batch that commits the block is written (and flushed
 * to disk first, fdatasync, when the store syncs its batches), and that batch records the file's new length
 * (`META_NODE_FILE`), the block's undo journal the length before. Reopening cuts the file back to the recorded
 * length, dropping the nodes of a block whose batch never landed, and rebuilds the index from it. A file shorter than
 * recorded (a power loss that kept LevelDB's last batches and not the file's last pages) makes the store unwind the
 * blocks whose nodes it lost (see `StateStore.open`); here such a file is reported as corrupt, never used.
 *
 * The index is an open-addressing table (linear probing) in a SharedArrayBuffer, so the execution workers look nodes up
 * in it without a message: four 32-bit words per slot, the hash's first and second four bytes, the record's offset's
 * low 32 bits, and its high 12 bits with the encoding's length (20 bits; zero marks an empty slot, as no stored node is
 * shorter than 32 bytes). Only the main thread inserts, and only while committing a block, when no worker is reading;
 * a slot's last word is written last, atomically. A table over 60% full is replaced by one twice its size; readers get
 * the current one with each job (`view`). A hit on the first eight bytes is confirmed against the whole hash in the
 * record before it is used.
 */
import { closeSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync, writevSync } from 'node:fs';
import { ParallaxError } from '../errors.ts';
import { P_NODE } from './keys.ts';
import { readU32 } from '../util/bytes.ts';

/** The file's name inside the database directory (LevelDB leaves names it does not know alone). */
export const NODE_FILE = 'trie-nodes.dat';

/** A record's header: length (4), P_NODE (1), hash (32). */
export const RECORD_HEADER = 37;
const MAX_NODE = (1 << 20) - 1;
const MAX_OFFSET = 2 ** 44;
const WORDS = 4;
const INITIAL_SLOTS = 1 << 16;
const MAX_LOAD = 0.6;
/** Bytes read from the file at a time while the index is rebuilt at open. */
const SCAN_CHUNK = 8 << 20;

/** What a thread needs to read nodes: the file (its path, and which opening of it) and the current index. */
export interface NodeFileView {
  path: string;
  /** Distinguishes files opened one after another at the same path (a directory removed and made again). */
  opening: number;
  index: SharedArrayBuffer;
}

let openings = 0;

/** Whether the record header at `pos` is a node record's: the kind byte, and a length a stored node can have. */
function isRecord(buf: Uint8Array, pos: number, len: number): boolean {
  return buf[pos + 4] === P_NODE && len >= 32 && len <= MAX_NODE;
}

function sameHash(record: Uint8Array, hash: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (record[5 + i] !== hash[i]) return false;
  return true;
}

/** Lookups in a node file through its index: the main thread's `NodeFile` and each worker's reader. */
export class NodeFileReader {
  protected table: Uint32Array;
  protected mask: number;
  protected fd: number;
  readonly path: string;
  readonly opening: number;

  constructor(path: string, opening: number, fd: number, index: SharedArrayBuffer) {
    this.path = path;
    this.opening = opening;
    this.fd = fd;
    this.table = new Uint32Array(index);
    this.mask = this.table.length / WORDS - 1;
  }

  /** A reader of its own (a worker's), on the file `view` names. */
  static reader(view: NodeFileView): NodeFileReader {
    return new NodeFileReader(view.path, view.opening, openSync(view.path, 'r'), view.index);
  }

  /** Use the current index (a reader keeps its file open across blocks; the table is replaced as it grows). */
  use(index: SharedArrayBuffer): void {
    if (this.table.buffer === index) return;
    this.table = new Uint32Array(index);
    this.mask = this.table.length / WORDS - 1;
  }

  /** The node's encoding, or undefined if the file does not hold it. */
  get(hash: Uint8Array): Uint8Array | undefined {
    const k0 = readU32(hash, 0);
    const k1 = readU32(hash, 4);
    const t = this.table;
    for (let s = k0 & this.mask; ; s = (s + 1) & this.mask) {
      const i = s * WORDS;
      const last = Atomics.load(t, i + 3);
      if (last === 0) return undefined;
      if (t[i] !== k0 || t[i + 1] !== k1) continue;
      const record = this.read(t[i + 2] + (last >>> 20) * 2 ** 32, last & MAX_NODE);
      if (sameHash(record, hash)) return record.subarray(RECORD_HEADER);
    }
  }

  /** The record at `offset` whose encoding is `length` bytes, checked to be one. */
  protected read(offset: number, length: number): Uint8Array {
    const record = new Uint8Array(RECORD_HEADER + length);
    let got = 0;
    try {
      while (got < record.length) {
        const n = readSync(this.fd, record, got, record.length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (e) {
      throw new ParallaxError('DB_CORRUPT', `cannot read trie node file ${this.path} at offset ${offset}: ${(e as Error).message}`, {}, { cause: e });
    }
    if (got !== record.length || readU32(record, 0) !== length || record[4] !== P_NODE) {
      throw new ParallaxError('DB_CORRUPT', `trie node file ${this.path} has no node record of ${length} bytes at offset ${offset}`);
    }
    return record;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The main thread's node file: appends blocks' nodes, keeps the index, answers reads. */
export class NodeFile extends NodeFileReader {
  private index: SharedArrayBuffer;
  private count = 0;
  /** Bytes of records in the file (where the next block's nodes go). */
  private end: number;

  private constructor(path: string, fd: number, slots: number, end: number) {
    const index = new SharedArrayBuffer(slots * WORDS * 4);
    super(path, ++openings, fd, index);
    this.index = index;
    this.end = end;
  }

  /**
   * Open (or create) the file at `path`, which the database says holds `committed` bytes of records: anything beyond
   * is cut off (nodes of a block whose batch was never written), and the index is built from the rest. `progress` is
   * told of a long rebuild's advance.
   */
  static at(path: string, committed: number, progress?: (done: number, total: number) => void, slots = INITIAL_SLOTS): NodeFile {
    if (!Number.isSafeInteger(committed) || committed < 0) throw new ParallaxError('DB_CORRUPT', `the database records ${committed} bytes for trie node file ${path}`);
    let fd: number;
    try {
      fd = openSync(path, 'a+');
      closeSync(fd);
      fd = openSync(path, 'r+');
    } catch (e) {
      throw new ParallaxError('DB_CORRUPT', `cannot open trie node file ${path}: ${(e as Error).message}`, {}, { cause: e });
    }
    const file = new NodeFile(path, fd, slots, committed);
    try {
      const size = fstatSync(fd).size;
      if (size < committed) {
        throw new ParallaxError('DB_CORRUPT', `trie node file ${path} holds ${size} bytes, but the database's head needs ${committed}: the file was truncated or replaced`);
      }
      if (size > committed) ftruncateSync(fd, committed);
      file.scan(committed, progress);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return file;
  }

  /** Index every record in the first `length` bytes of the file. */
  private scan(length: number, progress?: (done: number, total: number) => void): void {
    const chunk = new Uint8Array(Math.min(SCAN_CHUNK, Math.max(length, RECORD_HEADER)));
    let base = 0;
    while (base < length) {
      const want = Math.min(chunk.length, length - base);
      let got = 0;
      while (got < want) {
        const n = readSync(this.fd, chunk, got, want - got, base + got);
        if (n === 0) throw new ParallaxError('DB_CORRUPT', `trie node file ${this.path} ended at ${base + got} bytes while reading ${length}`);
        got += n;
      }
      let pos = 0;
      while (pos + RECORD_HEADER <= want) {
        const len = readU32(chunk, pos);
        if (pos + RECORD_HEADER + len > want) break;
        this.check(chunk, pos, base + pos, len);
        this.insert(chunk.subarray(pos + 5, pos + RECORD_HEADER), base + pos, len);
        pos += RECORD_HEADER + len;
      }
      if (pos === 0) {
        // Not even one record fits what is left of the chunk: a broken length (a record is never near 8 MiB).
        this.check(chunk, 0, base, readU32(chunk, 0));
        throw new ParallaxError('DB_CORRUPT', `trie node file ${this.path}: the record at offset ${base} runs past the file's recorded end (${length})`);
      }
      base += pos;
      progress?.(base, length);
    }
  }

  private check(buf: Uint8Array, pos: number, offset: number, len: number): void {
    if (!isRecord(buf, pos, len)) {
      throw new ParallaxError('DB_CORRUPT', `trie node file ${this.path} has a broken record at offset ${offset} (length ${len}, kind ${buf[pos + 4]})`);
    }
  }

  /** The current index and the file, for another thread's reader. */
  view(): NodeFileView {
    return { path: this.path, opening: this.opening, index: this.index };
  }

  /** Bytes of records in the file: what the committing batch records. */
  get length(): number {
    return this.end;
  }

  get nodes(): number {
    return this.count;
  }

  /**
   * Append buffers of packed records (see `unpackNodes`) in one write at the file's end and index them; returns the
   * file's new length. Nothing is indexed if the write fails, and the next append writes over what it left.
   */
  append(parts: Uint8Array[]): number {
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (bytes === 0) return this.end;
    if (this.end + bytes >= MAX_OFFSET) throw new ParallaxError('DB_CORRUPT', `trie node file ${this.path} would pass ${MAX_OFFSET} bytes`);
    for (const p of parts) {
      for (let pos = 0; pos < p.length; ) {
        const len = p.length - pos >= RECORD_HEADER ? readU32(p, pos) : -1;
        if (len < 0 || pos + RECORD_HEADER + len > p.length || !isRecord(p, pos, len)) {
          throw new Error(`packed trie nodes are malformed at byte ${pos} of ${p.length}`);
        }
        pos += RECORD_HEADER + len;
      }
    }
    let written = 0;
    try {
      while (written < bytes) {
        let skip = written;
        const rest: Uint8Array[] = [];
        for (const p of parts) {
          if (skip >= p.length) skip -= p.length;
          else {
            rest.push(skip === 0 ? p : p.subarray(skip));
            skip = 0;
          }
        }
        written += writevSync(this.fd, rest, this.end + written);
      }
    } catch (e) {
      throw new ParallaxError('DB_CORRUPT', `cannot append ${bytes} bytes of trie nodes to ${this.path}: ${(e as Error).message}`, {}, { cause: e });
    }
    let offset = this.end;
    for (const p of parts) {
      for (let pos = 0; pos < p.length; ) {
        const len = readU32(p, pos);
        this.insert(p.subarray(pos + 5, pos + RECORD_HEADER), offset + pos, len);
        pos += RECORD_HEADER + len;
      }
      offset += p.length;
    }
    this.end += bytes;
    return this.end;
  }

  /**
   * Grow the index now if appending `nodes` more would (a growth copies the whole index: 24 ms at 79,000 entries in a
   * benchmark block's commit), so that it happens while the caller has nothing else to do.
   */
  reserve(nodes: number): void {
    while (this.count + nodes > (this.mask + 1) * MAX_LOAD) this.grow();
  }

  /** Flush what was appended to the disk (before the batch that records the file's length is written). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) =>
      fdatasync(this.fd, (e) => (e === null ? resolve() : reject(new ParallaxError('DB_CORRUPT', `cannot flush trie node file ${this.path}: ${e.message}`, {}, { cause: e })))),
    );
  }

  private insert(hash: Uint8Array, offset: number, len: number): void {
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.grow();
    const k0 = readU32(hash, 0);
    const k1 = readU32(hash, 4);
    const t = this.table;
    let s = k0 & this.mask;
    for (; ; s = (s + 1) & this.mask) {
      const i = s * WORDS;
      const last = t[i + 3];
      if (last === 0) break;
      // The same node again (a block recreating an earlier node, or listing one twice): the first copy serves.
      if (t[i] === k0 && t[i + 1] === k1 && sameHash(this.read(t[i + 2] + (last >>> 20) * 2 ** 32, last & MAX_NODE), hash)) return;
    }
    const i = s * WORDS;
    t[i] = k0;
    t[i + 1] = k1;
    t[i + 2] = offset >>> 0;
    Atomics.store(t, i + 3, ((Math.floor(offset / 2 ** 32) << 20) | len) >>> 0);
    this.count++;
  }

  private grow(): void {
    const old = this.table;
    const slots = (this.mask + 1) * 2;
    const index = new SharedArrayBuffer(slots * WORDS * 4);
    const t = new Uint32Array(index);
    const mask = slots - 1;
    // Word by word (a subarray per entry to copy from took 22 ms for 155,000 entries against 15, 150 for 1.24 million
    // against 87).
    for (let i = 0; i < old.length; i += WORDS) {
      const last = old[i + 3];
      if (last === 0) continue;
      const k0 = old[i];
      let s = k0 & mask;
      while (t[s * WORDS + 3] !== 0) s = (s + 1) & mask;
      const j = s * WORDS;
      t[j] = k0;
      t[j + 1] = old[i + 1];
      t[j + 2] = old[i + 2];
      t[j + 3] = last;
    }
    this.index = index;
    this.table = t;
    this.mask = mask;
  }
}
