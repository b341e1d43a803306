/**
 * Parallax's own state on LevelDB.
 *
 * Execution reads flat records (account, code, storage slot: one LevelDB get each, cached in memory); the
 * Merkle-Patricia trie is updated once per block from the block's diff, its new nodes appended to the node file beside
 * the database (node-file.ts; in LevelDB for a database in memory). A block commits as one atomic batch: flat records,
 * code, receipts, the block record, the block's undo journal, the node file's new length and the executed head, written
 * after the block's nodes were appended (and flushed, with `sync`). Reopening after a crash at any instant therefore
 * yields exactly the last committed block (see `open` for a node file that lost pages in a power loss). The batch is
 * packed here and written here, or by an execution worker while the next block runs (`writeOn`, block-write.ts): until
 * it is in LevelDB, reads the caches miss are answered from the block's writes.
 *
 * The undo journal of block N holds the previous value of every flat record N changed; the last `undoDepth` blocks
 * keep theirs, so a reorg can unwind that far. Trie nodes are never deleted, so restoring flat records and the head
 * record restores the previous state root too.
 */
import { RLP } from '@ethereumjs/rlp';
import { Account, KECCAK256_NULL, KECCAK256_RLP, bigIntToBytes, bytesToBigInt, createAccountFromRLP } from '@ethereumjs/util';
import type { Common } from '@ethereumjs/common';
import { ParallaxError, errorMessage } from '../errors.ts';
import { bytesEqual, hex } from '../util/bytes.ts';
import { encodeRlp } from '../util/rlp.ts';
import {
  META_HEAD,
  META_SCHEMA,
  META_NODE_FILE,
  P_BLOCK,
  P_RECEIPTS,
  P_VERIFY,
  P_TRACE,
  META_LAST_MISMATCH,
  P_UNDO,
  P_ACCOUNT,
  SCHEMA_VERSION,
  SCHEMAS_READ,
  accountRange,
  accountReadKey,
  codeReadKey,
  nodeReadKey,
  numberKey,
  storageRange,
  storageReadKey,
} from './keys.ts';
import { StateTrie, packNodes, type NodeSource, type TrieSharder, type TrieUpdate } from './trie.ts';
import { join } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { NODE_FILE, NodeFile, type NodeFileView } from './node-file.ts';
import { NodeCache } from './mpt.ts';
import type { StateDiff, StateReader } from './types.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { decodeAccountRecord } from './account-record.ts';
import { unpackReceipts } from './receipts.ts';
import { CommitPacker, type CommitPack } from './commit-pack.ts';
import { writeBlock, type BlockWrite } from './block-write.ts';
import { parseLevelDbStats, type LevelDbStats } from './leveldb-stats.ts';
import { watchCompactionThread, type CompactionWatch } from './compaction-priority.ts';
import { AccountFilter, DEFAULT_FILTER_ENTRIES } from './account-filter.ts';

/** The subset of abstract-level that the store uses (classic-level on disk, memory-level for throwaway runs). */
export interface KVStore {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * A point read answered on the calling thread (LevelDB's own block cache and OS page cache). Execution reads go
   * through it: an asynchronous get costs a thread-pool round trip per missed key, which left the main thread idle
   * about half the time on blocks of fresh accounts.
   */
  getSync(key: Uint8Array): Uint8Array | undefined;
  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** Set on a LevelDB that other threads of this process may open to read (see `createDatabase`). */
  readonly sharedLocation?: string;
  batch(ops: KVOp[], options?: { sync?: boolean }): Promise<void>;
  /**
   * A batch built one operation at a time and written atomically by `write` (abstract-level's chained batch). A
   * block's commit uses it: classic-level reads an array of operations through several N-API property lookups per
   * operation, where a chained `put` passes the key and value as arguments (12,000 puts: 6-7 ms against 17 on the
   * calling thread, measured side by side on this project's machine; see README, Performance).
   */
  batch(): WriteBatch;
  iterator(options: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<[Uint8Array, Uint8Array]>;
  /** LevelDB's properties (`leveldb.stats`); absent on an in-memory database. */
  getProperty?(property: string): string;
}
export type KVOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** The part of abstract-level's chained batch the store uses. Nothing is written until `write`; `close` discards. */
export interface WriteBatch {
  put(key: Uint8Array, value: Uint8Array): unknown;
  del(key: Uint8Array): unknown;
  write(options?: { sync?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** What Parallax records for every executed block. */
export interface BlockRecord {
  number: bigint;
  hash: Uint8Array;
  parentHash: Uint8Array;
  stateRoot: Uint8Array;
  receiptsRoot: Uint8Array;
  logsBloom: Uint8Array;
  gasUsed: bigint;
  txCount: number;
  timestamp: bigint;
}

/** What a block read from the store: hex addresses, and hex address + hex 32-byte slot. */
export interface ReadLog {
  accounts: Set<string>;
  slots: Set<string>;
}

export interface StoreOptions {
  /** How many recent blocks keep an undo journal (the deepest reorg that can be unwound). */
  undoDepth: number;
  /**
   * fsync every block batch and the trie nodes before it (survives power loss, not only process crashes; without it a
   * power loss can cost the last blocks, which are executed again).
   */
  sync?: boolean;
  /** Entries per in-memory cache (accounts, slots, code, trie nodes). */
  cacheEntries?: number;
  /** Execution traces kept: those of the last `traceBlocks` blocks (0 = none are stored). */
  traceBlocks?: number;
  /**
   * Nice value given to LevelDB's compaction thread of an on-disk database (0 = leave it at execution's priority);
   * default 19. See compaction-priority.ts.
   */
  compactionNice?: number;
  /** Told the compaction thread's id when its priority was lowered. */
  onCompactionLowered?: (tid: number) => void;
  /**
   * Keep a filter of the addresses with an account, so that reads of accounts that do not exist skip LevelDB (see
   * account-filter.ts); default true. Built from the database's account records when the store opens.
   */
  accountFilter?: boolean;
  /** Addresses the first account filter is sized for (default 1,048,576; it is built again larger when outgrown). */
  accountFilterEntries?: number;
  /** Told when the account filter is ready: the addresses it was built from, its size in bytes, the build's time. */
  onAccountFilter?: (built: { accounts: number; bytes: number; ms: number }) => void;
  /**
   * Keep the trie nodes of a database on disk in the node file beside it (node-file.ts); default true. False writes
   * them to LevelDB as schema 1 did (for tests of such databases).
   */
  nodeFile?: boolean;
  /** Told of the node file's index rebuild at open: bytes of records indexed so far, and in all. */
  onNodeFileScan?: (done: number, total: number) => void;
  /**
   * Told when the node file is open and indexed: its nodes, bytes, the index build's time, and the blocks unwound
   * because the file had lost their nodes (a power loss without `sync`).
   */
  onNodeFile?: (opened: { nodes: number; bytes: number; ms: number; unwound: number }) => void;
  /** Told when the writer a block's batch was handed to (see `StateStore.writeOn`) failed: the batch is written here. */
  onWriterFailed?: (block: bigint, error: unknown) => void;
}

/** Writes a block's batch on another thread (see `StateStore.writeOn`). */
export interface BlockWriter {
  /** Whether it takes the batch of the block being committed (asked before the batch is packed). */
  takes(): boolean;
  /** Resolves once the batch is in LevelDB at `location` (the other thread opens the database itself). */
  write(write: BlockWrite, location: string): Promise<void>;
}

/** LevelDB's compactions run at the lowest priority unless told otherwise (see compaction-priority.ts). */
export const DEFAULT_COMPACTION_NICE = 19;

const EMPTY = new Uint8Array(0);

/**
 * New trie nodes a block adds per changed leaf (account or slot), for the node file's room (see `computeTrie`): about
 * 2.0-2.2 in the benchmark's transfers and ERC-20 blocks (a leaf and its branch under the shared upper levels); more is
 * only an earlier growth, fewer a growth during the commit.
 */
const NODES_PER_LEAF = 3;

function encodeRecord(r: BlockRecord): Uint8Array {
  return encodeRlp([
    bigIntToBytes(r.number),
    r.hash,
    r.parentHash,
    r.stateRoot,
    r.receiptsRoot,
    r.logsBloom,
    bigIntToBytes(r.gasUsed),
    bigIntToBytes(BigInt(r.txCount)),
    bigIntToBytes(r.timestamp),
  ]);
}

function decodeRecord(b: Uint8Array, where: string): BlockRecord {
  try {
    const f = RLP.decode(b) as Uint8Array[];
    if (!Array.isArray(f) || f.length !== 9) throw new Error(`expected 9 fields, got ${Array.isArray(f) ? f.length : 'bytes'}`);
    return {
      number: bytesToBigInt(f[0]),
      hash: f[1],
      parentHash: f[2],
      stateRoot: f[3],
      receiptsRoot: f[4],
      logsBloom: f[5],
      gasUsed: bytesToBigInt(f[6]),
      txCount: Number(bytesToBigInt(f[7])),
      timestamp: bytesToBigInt(f[8]),
    };
  } catch (e) {
    throw new ParallaxError('DB_CORRUPT', `corrupt block record at ${where}: ${errorMessage(e)}`, { where });
  }
}

/** An account record (`addr`: the address in hex, for the error). */
function decodeAccount(addr: string, rlp: Uint8Array): Account {
  try {
    return decodeAccountRecord(rlp);
  } catch (e) {
    throw new ParallaxError('DB_CORRUPT', `account record of 0x${addr} does not decode: ${errorMessage(e)}`, { address: '0x' + addr }, { cause: e });
  }
}

/** A prepared block commit: the diff, its trie update and the block record, ready to be written. */
export interface PreparedCommit {
  record: BlockRecord;
  diff: StateDiff;
  trie: TrieUpdate;
  receipts: Uint8Array[];
  /** The block's verification record (canonical roots, mismatches), stored in the same batch. */
  verification?: { json: string; mismatch: boolean };
  /** The block's execution trace (JSON), stored in the same batch when traces are kept. */
  trace?: string;
}

export class StateStore implements StateReader, NodeSource {
  readonly db: KVStore;
  private readonly opts: Required<StoreOptions>;
  private readonly trie: StateTrie;
  private headRecord: BlockRecord | undefined;
  private accountCache: BoundedCache<Uint8Array | null>;
  private storageCache: BoundedCache<Uint8Array>;
  private codeCache: BoundedCache<Uint8Array>;
  private nodeCache: BoundedCache<Uint8Array>;
  /** Serialises commits and unwinds: one writer at a time. */
  private writing: Promise<unknown> = Promise.resolve();
  /** Writes a block's batch while the next block runs (see `writeOn`); undefined: commits write their own. */
  private writer: BlockWriter | undefined;
  /** Settles once the last batch handed to the writer is in LevelDB (or has failed: `writeFailure`). */
  private lastWrite: Promise<void> = Promise.resolve();
  /** A handed-over batch that neither the writer nor this thread could write: every later commit fails with it. */
  private writeFailure: ParallaxError | undefined;
  /** The writes of the batch being written elsewhere, answering reads the caches miss until it is in LevelDB. */
  private pending: { accounts: Map<string, Uint8Array | null>; slots: Map<string, Uint8Array>; codes: Map<string, Uint8Array> } | undefined;

  private constructor(db: KVStore, common: Common, opts: StoreOptions) {
    this.db = db;
    this.opts = { sync: false, cacheEntries: 500_000, traceBlocks: 0, compactionNice: DEFAULT_COMPACTION_NICE, onCompactionLowered: () => {}, accountFilter: true, accountFilterEntries: DEFAULT_FILTER_ENTRIES, onAccountFilter: () => {}, nodeFile: true, onNodeFileScan: () => {}, onNodeFile: () => {}, onWriterFailed: () => {}, ...opts };
    const n = this.opts.cacheEntries;
    // Decoded trie nodes weigh about ten times their encoding: a tenth as many, enough for the levels every block rewrites.
    this.trie = new StateTrie(this, new NodeCache(Math.max(1024, Math.floor(n / 10))));
    this.accountCache = new BoundedCache(n);
    this.storageCache = new BoundedCache(n);
    this.codeCache = new BoundedCache(Math.max(1024, n >> 6));
    this.nodeCache = new BoundedCache(n);
  }

  /** Open a store on an abstract-level database (opened here if needed). */
  static async open(db: KVStore, common: Common, opts: StoreOptions): Promise<StateStore> {
    if (!Number.isInteger(opts.undoDepth) || opts.undoDepth < 0) {
      throw new ParallaxError('CONFIG_INVALID', `undoDepth must be a non-negative integer, got ${opts.undoDepth}`);
    }
    let compaction: CompactionWatch | undefined;
    const openHere = db.status !== 'open';
    if (openHere) {
      // Before LevelDB starts its compaction thread (see compaction-priority.ts); only a database on disk has one.
      if (db.sharedLocation !== undefined) compaction = await watchCompactionThread(opts.compactionNice ?? DEFAULT_COMPACTION_NICE, opts.onCompactionLowered);
      try {
        await db.open();
      } catch (e) {
        compaction?.stop();
        const cause = (e as { cause?: { code?: string } }).cause;
        if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(errorMessage(cause ?? e))) {
          throw new ParallaxError('DB_LOCKED', 'the data directory is in use by another Parallax process (LevelDB lock held)', {}, { cause: e });
        }
        throw new ParallaxError('DB_CORRUPT', `cannot open the database: ${errorMessage(cause ?? e)}`, {}, { cause: e });
      }
    }
    const store = new StateStore(db, common, opts);
    store.compaction = compaction;
    try {
      const schema = await db.get(META_SCHEMA);
      if (schema !== undefined && (schema.length !== 1 || !SCHEMAS_READ.includes(schema[0]))) {
        throw new ParallaxError('DB_CORRUPT', `database schema version ${hex(schema)} is not one of ${SCHEMAS_READ.join(', ')}`);
      }
      store.schema = schema?.[0];
      const head = await db.get(META_HEAD);
      store.headRecord = head === undefined ? undefined : decodeRecord(head, 'head');
      let committed = await store.nodeFileLength();
      if (db.sharedLocation !== undefined && store.opts.nodeFile !== false) {
        const t0 = performance.now();
        const path = join(db.sharedLocation, NODE_FILE);
        // Without store.sync the file is not flushed before each batch: after a power loss LevelDB may hold blocks
        // whose nodes the file lost. Those blocks are unwound (each block's undo journal restores the previous
        // length), as LevelDB itself loses its last unsynced blocks; they are executed again.
        const size = existsSync(path) ? statSync(path).size : 0;
        let unwound = 0;
        while (committed > size && store.headRecord !== undefined && (await store.unwindableDepth()) > 0) {
          await store.unwindNow(1);
          unwound++;
          committed = await store.nodeFileLength();
        }
        store.nodeFile = NodeFile.at(path, committed, store.opts.onNodeFileScan);
        store.opts.onNodeFile({ nodes: store.nodeFile.nodes, bytes: store.nodeFile.length, ms: performance.now() - t0, unwound });
      } else if (committed > 0) {
        throw new ParallaxError('DB_CORRUPT', `the database keeps ${committed} bytes of trie nodes in ${NODE_FILE}, which this store does not open`);
      }
    } catch (e) {
      compaction?.stop();
      if (openHere) await db.close();
      throw e;
    }
    // Nothing is being written yet: every account is either in the build's snapshot or written after it has begun.
    if (store.opts.accountFilter) store.filterBuild = store.buildFilter(store.opts.accountFilterEntries);
    return store;
  }

  // ---- the account filter (see account-filter.ts) ----------------------------------------------------------------

  /** The filter reads consult: complete for the database (set once a build has gone over every account record). */
  private filter: AccountFilter | undefined;
  /** A filter being built: every account written meanwhile is added to it too. */
  private building: AccountFilter | undefined;
  private filterBuild: Promise<unknown> | undefined;
  private closing = false;

  /**
   * Build a filter for at least `entries` addresses from the account records (in the background: reads meanwhile go
   * to LevelDB, or to the previous filter), then use it; one holding more than it was sized for is built again,
   * twice as large. A failed build (the database closed under it) leaves reads as they were.
   *
   * It must begin while no commit is between adding its accounts and writing its batch: the accounts such a commit
   * added before `building` was set would reach LevelDB after the iterator's snapshot (taken when it is made, on this
   * call) and be in neither. At open nothing is being written; `growFilter` waits for the commits queued before it.
   */
  private async buildFilter(entries: number): Promise<void> {
    const t0 = performance.now();
    const f = AccountFilter.create(entries);
    this.building = f;
    let accounts = 0;
    try {
      const records = this.db.iterator(accountRange());
      for await (const [k] of records) {
        if (this.closing) return;
        if (k.length !== 21) continue;
        f.add(hex(k.subarray(1)));
        accounts++;
      }
    } catch {
      return;
    } finally {
      if (this.building === f) this.building = undefined;
    }
    if (this.closing) return;
    this.filter = f;
    this.opts.onAccountFilter({ accounts, bytes: f.buffer.byteLength, ms: performance.now() - t0 });
    this.growFilter();
  }

  /** A larger filter is being built (see `growFilter`). */
  private growing = false;

  /**
   * Build the filter again, twice as large, once it holds more addresses than it was sized for (false positives grow
   * from there). The build begins between two commits: after those queued so far, before any queued later (see
   * `buildFilter`).
   */
  private growFilter(): void {
    const f = this.filter;
    if (this.growing || this.closing || f === undefined || !f.full()) return;
    this.growing = true;
    let build: Promise<void> = Promise.resolve();
    // A batch handed to the writer is in LevelDB first: its accounts are in the filter already, not yet in LevelDB.
    const begun = this.writing.then(() => this.lastWrite).then(() => {
      if (!this.closing) build = this.buildFilter(f.added * 2);
    });
    this.writing = begun;
    this.filterBuild = begun.then(() => build).finally(() => (this.growing = false));
  }

  /** `hexAddr` has an account from now on: in the filter (and the one being built) before LevelDB has it. */
  private noteAccount(hexAddr: string): void {
    this.filter?.add(hexAddr);
    this.building?.add(hexAddr);
  }

  /**
   * The account filter's bits, shared with the execution workers (see AccountFilter.view); undefined while none is
   * complete, or with the filter off.
   */
  accountFilter(): SharedArrayBuffer | undefined {
    return this.filter?.buffer;
  }

  /** Once the builds started so far are over: whether reads now consult a filter. */
  async accountFilterBuilt(): Promise<boolean> {
    while (this.filterBuild !== undefined) {
      const build = this.filterBuild;
      await build;
      if (this.filterBuild === build) break;
    }
    return this.filter !== undefined;
  }

  /** The last committed block, or undefined for an empty database. */
  head(): BlockRecord | undefined {
    return this.headRecord;
  }

  async close(): Promise<void> {
    this.compaction?.stop();
    this.closing = true;
    await this.accountFilterBuilt();
    await this.writing.catch(() => {});
    await this.lastWrite;
    await this.db.close();
    this.nodeFile?.close();
    this.nodeFile = undefined;
  }

  /** The trie nodes' file of a database on disk (node-file.ts); undefined: nodes live in LevelDB. */
  private nodeFile: NodeFile | undefined;
  /** The schema the database was written with (undefined: empty). */
  private schema: number | undefined;

  /** The node file's length the head records (0 without one). */
  private async nodeFileLength(): Promise<number> {
    const length = await this.db.get(META_NODE_FILE);
    if (length === undefined) return 0;
    if (length.length !== 8) throw new ParallaxError('DB_CORRUPT', `the node file's recorded length has ${length.length} bytes, not 8`);
    return Number(new DataView(length.buffer, length.byteOffset, 8).getBigUint64(0));
  }

  /** Nodes and bytes in the node file (undefined: nodes live in LevelDB). */
  nodeFileStats(): { path: string; nodes: number; bytes: number } | undefined {
    const f = this.nodeFile;
    return f === undefined ? undefined : { path: f.path, nodes: f.nodes, bytes: f.length };
  }

  /** The node file and its current index, for other threads' trie updates; undefined when nodes live in LevelDB. */
  nodeFileView(): NodeFileView | undefined {
    return this.nodeFile?.view();
  }

  /** The watch that lowers LevelDB's compaction thread's priority (an on-disk database opened here). */
  private compaction: CompactionWatch | undefined;

  /** LevelDB's compaction thread, once found and given its lower priority (see compaction-priority.ts). */
  compactionThread(): number | undefined {
    return this.compaction?.tid;
  }

  // ---- reads ----------------------------------------------------------------------------------------------------

  /** Accounts and slots read since `recordReads()` (hex address; hex address + hex slot). */
  private readLog: ReadLog | undefined;

  /**
   * Start noting every account and slot read from the store (by the executor, the workers' misses and the rollback
   * manager's validation alike), so that a block's pre-state can be checked against another source: a Frontier
   * chain's own storage.
   */
  recordReads(): void {
    this.readLog = { accounts: new Set(), slots: new Set() };
  }

  /** LevelDB's account of its flushes and compactions so far (see leveldb-stats.ts); undefined in memory. */
  levelDbStats(): LevelDbStats | undefined {
    const text = this.db.getProperty?.('leveldb.stats');
    return text === undefined ? undefined : parseLevelDbStats(text);
  }

  /**
   * Where other threads may read committed state straight from LevelDB: the database's location, unless it cannot be
   * shared (in memory, wrapped) or reads are being recorded (they must then all pass through here).
   */
  sharedReads(): string | undefined {
    return this.readLog === undefined && this.pending === undefined ? this.db.sharedLocation : undefined;
  }

  takeReads(): ReadLog {
    const r = this.readLog ?? { accounts: new Set(), slots: new Set() };
    this.readLog = undefined;
    return r;
  }

  async getAccount(address: Uint8Array): Promise<Account | undefined> {
    return this.accountNow(hex(address));
  }

  /**
   * `getAccount`, answered on this call (every read of the store is: caches, then LevelDB's synchronous get), by the
   * address in hex.
   */
  accountNow(addr: string): Account | undefined {
    const rlp = this.accountRLP(addr);
    return rlp === null ? undefined : decodeAccount(addr, rlp);
  }

  async getAccountRLP(address: Uint8Array): Promise<Uint8Array | null> {
    return this.accountRLP(hex(address));
  }

  private accountRLP(k: string): Uint8Array | null {
    this.readLog?.accounts.add(k);
    const cached = this.accountCache.get(k);
    if (cached !== undefined) return cached;
    const p = this.pending?.accounts.get(k);
    const v = p !== undefined ? p : this.filter !== undefined && !this.filter.mayContain(k) ? null : (this.read(accountReadKey(k)) ?? null);
    this.accountCache.set(k, v);
    return v;
  }

  async getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    return this.storageNow(hex(address), hex(slot));
  }

  /** `getStorage`, answered on this call (see `accountNow`). */
  storageNow(addr: string, slotHex: string): Uint8Array {
    const k = addr + slotHex;
    this.readLog?.slots.add(k);
    const cached = this.storageCache.get(k);
    if (cached !== undefined) return cached;
    const v = this.pending?.slots.get(k) ?? this.read(storageReadKey(addr, slotHex)) ?? EMPTY;
    this.storageCache.set(k, v);
    return v;
  }

  async getCode(codeHash: Uint8Array): Promise<Uint8Array> {
    if (bytesEqual(codeHash, KECCAK256_NULL)) return EMPTY;
    const k = hex(codeHash);
    const cached = this.codeCache.get(k);
    if (cached !== undefined) return cached;
    const v = this.pending?.codes.get(k) ?? this.read(codeReadKey(codeHash));
    if (v === undefined) throw new ParallaxError('STATE_MISSING', `code ${k} is referenced but not stored`, { codeHash: k });
    this.codeCache.set(k, v);
    return v;
  }

  /**
   * An account's storage root, read off its record without decoding the rest: the record ends with the storage root
   * and the code hash, each a 32-byte string (0xa0 and the bytes).
   */
  private storageRootOf(address: Uint8Array): Uint8Array | undefined {
    const addr = hex(address);
    const rlp = this.accountRLP(addr);
    if (rlp === null) return undefined;
    const n = rlp.length;
    if (n >= 66 && rlp[n - 66] === 0xa0 && rlp[n - 33] === 0xa0) return rlp.subarray(n - 65, n - 33);
    return decodeAccount(addr, rlp).storageRoot; // not the usual shape: decode it (or report it corrupt)
  }

  /** A state read, answered on this thread (see `KVStore.getSync`). */
  private read(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(key);
  }

  getNode(hashHex: string, hash: Uint8Array): Uint8Array | undefined {
    const cached = this.nodeCache.get(hashHex);
    if (cached !== undefined) return cached;
    // A database of schema 1 has its older nodes in LevelDB.
    const v = this.nodeFile?.get(hash) ?? this.read(nodeReadKey(hashHex));
    if (v !== undefined) this.nodeCache.set(hashHex, v);
    return v;
  }

  async blockRecord(n: bigint): Promise<BlockRecord | undefined> {
    await this.lastWrite;
    const v = await this.db.get(numberKey(P_BLOCK, n));
    return v === undefined ? undefined : decodeRecord(v, `block ${n}`);
  }

  /** Block `n`'s receipts as their consensus encodings (stored without blooms: see receipts.ts). */
  async receipts(n: bigint): Promise<Uint8Array[] | undefined> {
    await this.lastWrite;
    const v = await this.db.get(numberKey(P_RECEIPTS, n));
    return v === undefined ? undefined : unpackReceipts(v, `block ${n}`);
  }

  /** The execution trace stored with block `n`, if it is among the last `traceBlocks` blocks. */
  async trace(n: bigint): Promise<unknown | undefined> {
    await this.lastWrite;
    const v = await this.db.get(numberKey(P_TRACE, n));
    if (v === undefined) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(v));
    } catch (e) {
      throw new ParallaxError('DB_CORRUPT', `trace record of block ${n} does not decode: ${errorMessage(e)}`);
    }
  }

  /** The verification record stored with block `n` (JSON), if any. */
  async verification(n: bigint): Promise<unknown | undefined> {
    await this.lastWrite;
    const v = await this.db.get(numberKey(P_VERIFY, n));
    if (v === undefined) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(v));
    } catch (e) {
      throw new ParallaxError('DB_CORRUPT', `verification record of block ${n} does not decode: ${errorMessage(e)}`);
    }
  }

  /** The last block recorded as a mismatch and its record (none if it was unwound since). */
  async lastMismatch(): Promise<{ number: bigint; record: unknown } | undefined> {
    await this.lastWrite;
    const v = await this.db.get(META_LAST_MISMATCH);
    if (v === undefined || v.length !== 8) return undefined;
    const n = new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0);
    const record = (await this.verification(n)) as { matched?: boolean } | undefined;
    return record === undefined || record.matched !== false ? undefined : { number: n, record };
  }

  /** The state root of the committed head (the empty root for an empty database). */
  stateRoot(): Uint8Array {
    return this.headRecord?.stateRoot ?? KECCAK256_RLP;
  }

  /** Every committed account and its storage (for post-state checks on small states; walks the flat records). */
  async *accounts(): AsyncGenerator<{ address: Uint8Array; account: Account }> {
    await this.lastWrite;
    for await (const [k, v] of this.db.iterator(accountRange())) {
      yield { address: k.subarray(1), account: createAccountFromRLP(v) };
    }
  }

  async *storageOf(address: Uint8Array): AsyncGenerator<{ slot: Uint8Array; value: Uint8Array }> {
    await this.lastWrite;
    for await (const [k, v] of this.db.iterator(storageRange(address))) yield { slot: k.subarray(21), value: v };
  }

  // ---- writes ---------------------------------------------------------------------------------------------------

  /**
   * Let other threads update the state trie's subtrees (the parallel engine's workers, which open this database
   * themselves: see `sharedLocation`); undefined computes every root on this thread.
   */
  shareTrie(sharder: TrieSharder | undefined): void {
    this.trie.sharder = sharder;
  }

  /**
   * Let another thread write each block's batch while the next block runs (the parallel engine's workers); undefined
   * writes them on this thread. Only a database on disk with a node file, without `sync`, hands its batches over:
   * with `sync` a commit returns once its block is durable.
   */
  writeOn(writer: BlockWriter | undefined): void {
    this.writer = writer;
  }

  /** Once the last batch handed to the writer is in LevelDB; rejects if neither the writer nor this thread wrote it. */
  async flushed(): Promise<void> {
    await this.lastWrite;
    if (this.writeFailure !== undefined) throw this.writeFailure;
  }

  /** Compute the state root of head + diff (nothing written). */
  async computeTrie(diff: StateDiff): Promise<TrieUpdate> {
    const update = this.trie.update(this.stateRoot(), diff, (a) => this.storageRootOf(a));
    // The update's shares are on other threads now (see StateTrie.update): room for its nodes is made in the node
    // file's index meanwhile, not during the commit's append.
    const nodeFile = this.nodeFile;
    if (nodeFile !== undefined) {
      let leaves = 0;
      for (const d of diff.accounts.values()) leaves += 1 + d.storage.size;
      try {
        nodeFile.reserve(NODES_PER_LEAF * leaves);
      } catch (e) {
        update.catch(() => {});
        throw e;
      }
    }
    return update;
  }

  /**
   * Commit a block atomically. `record.stateRoot` must come from `prepared.trie` on the current head. Resolves once the
   * block is the store's head, its batch written, or handed to the writer (see `writeOn`): the store's own reads see
   * it either way, `flushed` waits for LevelDB. Returns the block's flat records as the workers' caches take them.
   */
  async commit(prepared: PreparedCommit): Promise<CommitPack> {
    const run = this.writing.then(() => this.commitNow(prepared));
    this.writing = run.catch(() => {});
    return run;
  }

  private async commitNow({ record, diff, trie, receipts, verification, trace }: PreparedCommit): Promise<CommitPack> {
    // The previous block's batch is in LevelDB before this one's is built (a wiped storage is read from there) and
    // handed on (batches land in order).
    await this.flushed();
    const head = this.headRecord;
    if (head !== undefined && record.number !== head.number + 1n) {
      throw new ParallaxError('HEAD_MISMATCH', `block ${record.number} does not follow the executed head ${head.number}`, {
        block: record.number,
        head: head.number,
      });
    }
    if (head !== undefined && !bytesEqual(record.parentHash, head.hash)) {
      throw new ParallaxError('HEAD_MISMATCH', `block ${record.number}'s parent ${hex(record.parentHash)} is not the executed head ${hex(head.hash)}`, {
        block: record.number,
      });
    }
    const accountUpdates: [string, Uint8Array | null][] = [];
    const storageUpdates: [string, Uint8Array][] = [];
    const writer = this.writer;
    const location = this.db.sharedLocation;
    const handOver = writer !== undefined && location !== undefined && this.nodeFile !== undefined && !this.opts.sync && writer.takes();
    const state = new CommitPacker();
    // What the block's records replace, for its undo journal: from the caches here; a writer has them from its own
    // replicated cache or LevelDB.
    const prev = handOver ? undefined : new CommitPacker();
    for (const [addr, d] of diff.accounts) {
      const next = trie.accounts.get(addr);
      if (next === undefined) throw new Error(`trie update misses account ${addr}`);
      prev?.account(addr, this.accountRLP(addr));
      state.account(addr, next);
      accountUpdates.push([addr, next]);
      // The slots a wiped storage had: each deleted, or (written again by the block) its previous value for below.
      const wiped = d.storageCleared ? new Map<string, Uint8Array>() : undefined;
      if (wiped !== undefined) {
        for await (const [k, v] of this.db.iterator(storageRange(d.address))) {
          const slot = hex(k.subarray(21));
          if (d.storage.has(slot)) {
            wiped.set(slot, v);
            continue;
          }
          prev?.slot(addr, slot, v);
          state.slot(addr, slot, EMPTY);
          storageUpdates.push([addr + slot, EMPTY]);
        }
      }
      for (const [slot, value] of d.storage) {
        prev?.slot(addr, slot, wiped !== undefined ? (wiped.get(slot) ?? EMPTY) : this.storageNow(addr, slot));
        state.slot(addr, slot, value);
        storageUpdates.push([addr + slot, value]);
      }
    }
    const nodeFile = this.nodeFile;
    let nodeFileLengths: BlockWrite['nodeFile'];
    const nodes: Uint8Array[] = [];
    if (nodeFile !== undefined) {
      // The nodes go to the file first; the batch then records the file's length with the block (see node-file.ts),
      // and the block's undo journal the length before it. With `sync` the file is flushed before the batch is
      // written; without, a file that lost blocks' nodes to a power loss makes the next open unwind those blocks.
      const before = nodeFile.length;
      const end = nodeFile.append([packNodes(trie.nodes), ...trie.packed]);
      if (this.opts.sync) await nodeFile.sync();
      nodeFileLengths = { before, end };
    } else nodes.push(packNodes(trie.nodes), ...trie.packed);
    const write: BlockWrite = {
      number: record.number,
      state: state.finish(),
      prev: prev?.finish(),
      codes: [...diff.codes],
      nodeFile: nodeFileLengths,
      nodes,
      record: encodeRecord(record),
      receipts,
      verification,
      trace,
      traceBlocks: this.opts.traceBlocks,
      undoDepth: this.opts.undoDepth,
      hasParent: head !== undefined,
      writeSchema: this.schema !== SCHEMA_VERSION,
      sync: this.opts.sync,
    };
    for (const [addr, next] of accountUpdates) if (next !== null) this.noteAccount(addr);
    if (!handOver) {
      // Written here, and the caches change only once the batch is in LevelDB.
      await writeBlock(this.db, write);
    } else {
      // Written by another thread while the caller goes on: until the batch is in LevelDB, reads that miss the caches
      // are answered from the block's writes (`pending`), not from LevelDB. A writer that fails leaves the batch to
      // this thread; one this thread cannot write either fails every later commit.
      const pending = { accounts: new Map(accountUpdates), slots: new Map(storageUpdates), codes: new Map(diff.codes) };
      this.pending = pending;
      this.lastWrite = writer!.write(write, location!)
        .catch(async (e: unknown) => {
          this.opts.onWriterFailed(record.number, e);
          await writeBlock(this.db, write);
        })
        .catch((e: unknown) => {
          this.writeFailure = new ParallaxError('DB_WRITE_FAILED', `block ${record.number}'s batch could not be written: ${errorMessage(e)}`, { block: record.number }, { cause: e });
        })
        .finally(() => {
          if (this.pending === pending) this.pending = undefined;
        });
    }
    for (const [k, v] of accountUpdates) this.accountCache.set(k, v);
    for (const [k, v] of storageUpdates) this.storageCache.set(k, v);
    for (const [h, code] of diff.codes) this.codeCache.set(h, code);
    // New trie nodes are not cached raw: the trie keeps them decoded (see StateTrie), and only misses read LevelDB.
    this.headRecord = record;
    this.schema = SCHEMA_VERSION;
    this.growFilter();
    return write.state;
  }

  /** How many blocks can be unwound from the current head. */
  async unwindableDepth(): Promise<number> {
    await this.lastWrite;
    const head = this.headRecord;
    if (head === undefined) return 0;
    let depth = 0;
    for (let n = head.number; n > 0n && depth < this.opts.undoDepth; n--) {
      if ((await this.db.get(numberKey(P_UNDO, n))) === undefined) break;
      depth++;
    }
    return depth;
  }

  /** Unwind the last `count` blocks, one atomic batch per block. Returns the new head. */
  async unwind(count: number): Promise<BlockRecord> {
    const run = this.writing.then(() => this.unwindNow(count));
    this.writing = run.catch(() => {});
    return run;
  }

  private async unwindNow(count: number): Promise<BlockRecord> {
    await this.flushed();
    const available = await this.unwindableDepth();
    if (count > available) {
      throw new ParallaxError(
        'UNWIND_TOO_DEEP',
        `cannot unwind ${count} blocks: the undo journal covers the last ${available} (undoDepth ${this.opts.undoDepth}); re-sync from a snapshot or genesis`,
        { requested: count, available },
      );
    }
    for (let i = 0; i < count; i++) {
      const head = this.headRecord!;
      const undoBytes = await this.db.get(numberKey(P_UNDO, head.number));
      if (undoBytes === undefined) throw new ParallaxError('DB_CORRUPT', `undo journal of block ${head.number} is missing`);
      const parent = await this.blockRecord(head.number - 1n);
      if (parent === undefined) throw new ParallaxError('DB_CORRUPT', `block record ${head.number - 1n} is missing`);
      let entries: Uint8Array[][];
      try {
        entries = RLP.decode(undoBytes) as Uint8Array[][];
      } catch (e) {
        throw new ParallaxError('DB_CORRUPT', `undo journal of block ${head.number} does not decode: ${errorMessage(e)}`);
      }
      const ops: KVOp[] = [];
      // Apply in reverse so that a key changed twice ends at its oldest value.
      for (let j = entries.length - 1; j >= 0; j--) {
        const [key, prev] = entries[j];
        ops.push(prev === undefined ? { type: 'del', key } : { type: 'put', key, value: prev });
        if (prev !== undefined && key.length === 21 && key[0] === P_ACCOUNT) this.noteAccount(hex(key.subarray(1)));
      }
      ops.push({ type: 'del', key: numberKey(P_UNDO, head.number) });
      ops.push({ type: 'del', key: numberKey(P_BLOCK, head.number) });
      ops.push({ type: 'del', key: numberKey(P_RECEIPTS, head.number) });
      ops.push({ type: 'del', key: numberKey(P_VERIFY, head.number) });
      ops.push({ type: 'del', key: numberKey(P_TRACE, head.number) });
      ops.push({ type: 'put', key: META_HEAD, value: encodeRecord(parent) });
      await this.db.batch(ops, { sync: this.opts.sync });
      this.accountCache.clear();
      this.storageCache.clear();
      this.headRecord = parent;
    }
    return this.headRecord!;
  }
}
