/**
 * Messages between the main thread and execution workers. Only plain data crosses (structured clone of bigints,
 * strings, Maps and Uint8Arrays); no object from @ethereumjs does.
 */
import type { JSONHeader } from '@ethereumjs/block';
import type { ChainProfile } from '../chain/profile.ts';
import type { AccountValue, TxAccess } from '../state/overlay.ts';
import type { TxOutcome } from './executor.ts';
import type { ShardJob, ShardResult, StorageJob, StorageResult } from '../state/trie.ts';
import type { NodeFileView } from '../state/node-file.ts';
import type { CommitPack } from '../state/commit-pack.ts';
import type { BlockWrite } from '../state/block-write.ts';
import type { ReceiptsResult } from './receipts-job.ts';

export interface WorkerFaults {
  /** Throw (crash the worker) when asked to run this transaction index. */
  crashAtTx?: number;
  /** Never answer for this transaction index. */
  hangAtTx?: number;
  /** Stall `ms` before running this transaction index (a slow transaction the partition did not foresee). */
  stallAtTx?: { index: number; ms: number };
  /** Throw (crash the worker) when asked for its share of a state root. */
  crashInTrie?: boolean;
  /** Throw (crash the worker) at the last batch of a block's receipts. */
  crashInReceipts?: boolean;
  /** Throw (crash the worker) when handed a block's batch to write, before writing it. */
  crashInWrite?: boolean;
  /** Sleep `ms` before writing a block's batch (a write still under way while the next block runs). */
  writeDelayMs?: number;
  /** Sleep `ms` after each chunk of senders recovered (a recovery still under way when its block starts). */
  recoverChunkMs?: number;
}

export interface WorkerInit {
  profile: ChainProfile;
  kzg: boolean;
  /** Test hook: each transaction waits a random 0..delayMs ms before running, to shake timing. */
  delayMs?: number;
  /** The nice value the worker gives its own thread as it starts (see `ParallelOptions.workerNice`); 0: none. */
  nice: number;
  /** This worker's index in the pool (a replacement gets the index of the worker it replaces). */
  index: number;
  /**
   * Int32 shared with the main thread: the highest block sequence number it gave up on. Read between transactions
   * without waiting for a message: a worker whose state reads all hit its cache runs on microtasks only and would
   * not see an 'abort' message until its partition is done.
   */
  abortFlag: SharedArrayBuffer;
}

/**
 * What a worker needs to start a block: its header and rules, the writes made before its first transaction (`pre`).
 * `db`: the LevelDB to read committed state from directly (absent: ask the main thread for every miss). `ahead`: the
 * `seq` of the 'recover' request that sent this block's transactions ahead, if one did. `accounts`: the store's
 * account filter over that database (see state/account-filter.ts), when it has one.
 */
export interface BlockStart {
  seq: number;
  profile: ChainProfile;
  header: JSONHeader;
  coinbase: string;
  pre: TxAccess;
  db?: string;
  accounts?: SharedArrayBuffer;
  ahead?: number;
}

export type ToWorker =
  | ({ t: 'block' } & BlockStart)
  /**
   * `ahead`: transactions of the block after the current one; the worker keeps them decoded for that block's run
   * (its 'block' message names this request's `seq` as `ahead`). `hardfork`: that block's rules, under which they
   * decode (a transaction type the current block's rules lack, at a fork boundary, would not).
   */
  | { t: 'recover'; seq: number; job: RecoverJob; ahead?: boolean; hardfork?: string }
  | {
      t: 'run';
      seq: number;
      /** This worker's index (its claim mark is `worker + 1`). */
      worker: number;
      /** The block's run table, shared by all workers (see `RunTable`). */
      table: RunTable;
      /** The transactions the partition gave this worker, in block order. */
      home: Int32Array;
      /** Committed values of the home transactions' predicted keys, so the worker need not ask for them. */
      accounts: [string, Uint8Array | null][];
      slots: [string, Uint8Array][];
      /**
       * The block's start, when no 'block' message went before: one message per worker at the dispatch, which ends
       * when the last worker has its work (see `executeParallel`).
       */
      block?: BlockStart;
    }
  | {
      t: 'commit';
      /**
       * The block's final account records and slot values, the slots a wiped storage had as deleted (see `CommitPack`):
       * the same memory for every worker.
       */
      state: CommitPack;
      /** Accounts whose storage the block wiped (their cached slots go before `state`'s are applied). */
      cleared: string[];
      codes: [string, Uint8Array][];
    }
  /** Drop the replicated cache; `code`: also the code table, and with it the interpreter's code analyses. */
  | { t: 'clear'; code?: boolean }
  /**
   * Update the state-trie subtrees of one shard (see `updateShard`) or one account's storage trie (`updateStorage`),
   * reading nodes from the LevelDB at `db`.
   */
  | { t: 'trie'; id: number; db: string; nodes?: NodeFileView; job: ShardJob | StorageJob }
  /**
   * A batch of block `id`'s receipt inputs (see receipts-job.ts), in order; after the `last` one the worker answers
   * with the block's receipts.
   */
  | { t: 'receipts'; id: number; batch: Uint8Array; last: boolean }
  /** Write a committed block's batch to the LevelDB at `db` (see block-write.ts); answered with 'written'. */
  | { t: 'write'; id: number; db: string; write: BlockWrite }
  /** Test hook: make this worker fail on a transaction index of the next block. */
  | { t: 'faults'; faults: WorkerFaults }
  /** End the worker between two tasks (see `WorkerPool.close`), without waiting for its queue. */
  | { t: 'stop' }
  | { t: 'value'; id: number; value: Uint8Array | null };

export type ToMain =
  | { t: 'get'; id: number; kind: 'a' | 's' | 'c' | 'h'; key: string }
  /**
   * This worker found no more of the request's transactions to claim, having spent `busyMs` on those it took (which
   * they were is in the job: `RecoverJob.by`).
   */
  | { t: 'recovered'; seq: number; busyMs: number }
  /**
   * Speculative runs, in the order the worker ran them, packed by `packRuns` (sent in batches: one message per run cost
   * more than the run).
   */
  | { t: 'results'; seq: number; runs: WireRuns }
  | { t: 'trie'; id: number; result: ShardResult | StorageResult }
  | { t: 'receipts'; id: number; result: ReceiptsResult }
  /** Block write `id` is in LevelDB; `error`: LevelDB refused it (nothing of it was written). */
  | { t: 'written'; id: number; error?: string }
  /** `nice`: the worker's thread runs at this nice value; undefined if it could not be set (not Linux, refused). */
  | { t: 'ready'; nice: number | undefined };

export interface RunResult {
  index: number;
  outcome: TxOutcome | null;
  error: string | null;
  access: TxAccess;
  /** When the run started (performance.timeOrigin + performance.now(): comparable across threads) and took. */
  start: number;
  ms: number;
}

/**
 * Runs as they cross to the main thread: one flat array per batch (`packRuns`), read back by `unpackRuns`. Structured
 * clone writes every object's property names and rebuilds each object property by property; a result is about ten
 * objects and maps (the run, its outcome, its access and the access's maps and account values), and reading them
 * back was a tenth of the main thread's instructions over the transfers blocks (callgrind, 2026-12-05). In a flat
 * array only the values cross; the objects are rebuilt here from literals. Lab, 2,316-2,372 real runs per sample (a
 * worker's results from the generated workloads, dumped), each batch through `v8.serialize` and back, best of five
 * rounds: read back in 3.90-4.01 us a run against 6.32-6.36 as objects, written in 6.69-7.88 against 7.08-8.21.
 */
export type WireRuns = unknown[];

/** `runs` as one flat array (see `WireRuns`); the values themselves are not copied. */
export function packRuns(runs: readonly RunResult[]): WireRuns {
  const w: unknown[] = [runs.length];
  for (const r of runs) {
    w.push(r.index, r.error, r.start, r.ms);
    const o = r.outcome;
    if (o === null) w.push(0);
    else w.push(1, o.type, o.status, o.stateRoot, o.gasUsed, o.blockGasSpent, o.logs, o.bloom, o.createdAddress);
    const a = r.access;
    w.push(a.reads.size);
    for (const [k, v] of a.reads) w.push(k, v);
    w.push(a.accounts.size);
    for (const [k, v] of a.accounts) {
      if (v === null) w.push(k, null, null, null, false);
      else w.push(k, v.nonce, v.balance, v.codeHash, v.keepBalance === true);
    }
    w.push(a.cleared, a.slots.size);
    for (const [k, v] of a.slots) w.push(k, v);
    w.push(a.codes.size);
    for (const [k, v] of a.codes) w.push(k, v);
    w.push(a.coinbaseDelta, a.destroyed);
  }
  return w;
}

/** The runs `packRuns` packed, as they were (an account value's `keepBalance` only where it was true). */
export function unpackRuns(w: WireRuns): RunResult[] {
  let p = 0;
  const n = w[p++] as number;
  const runs: RunResult[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const index = w[p++] as number;
    const error = w[p++] as string | null;
    const start = w[p++] as number;
    const ms = w[p++] as number;
    let outcome: TxOutcome | null = null;
    if (w[p++] === 1) {
      outcome = {
        type: w[p] as number,
        status: w[p + 1] as 0 | 1,
        stateRoot: w[p + 2] as Uint8Array | undefined,
        gasUsed: w[p + 3] as bigint,
        blockGasSpent: w[p + 4] as bigint,
        logs: w[p + 5] as TxOutcome['logs'],
        bloom: w[p + 6] as Uint8Array,
        createdAddress: w[p + 7] as Uint8Array | undefined,
      };
      p += 8;
    }
    const reads = new Map<string, string>();
    for (let i = w[p++] as number; i > 0; i--, p += 2) reads.set(w[p] as string, w[p + 1] as string);
    const accounts = new Map<string, AccountValue | null>();
    for (let i = w[p++] as number; i > 0; i--, p += 5) {
      const nonce = w[p + 1] as bigint | null;
      if (nonce === null) accounts.set(w[p] as string, null);
      else if (w[p + 4] === true) accounts.set(w[p] as string, { nonce, balance: w[p + 2] as bigint, codeHash: w[p + 3] as Uint8Array, keepBalance: true });
      else accounts.set(w[p] as string, { nonce, balance: w[p + 2] as bigint, codeHash: w[p + 3] as Uint8Array });
    }
    const cleared = w[p++] as string[];
    const slots = new Map<string, Uint8Array>();
    for (let i = w[p++] as number; i > 0; i--, p += 2) slots.set(w[p] as string, w[p + 1] as Uint8Array);
    const codes = new Map<string, Uint8Array>();
    for (let i = w[p++] as number; i > 0; i--, p += 2) codes.set(w[p] as string, w[p + 1] as Uint8Array);
    const access: TxAccess = { reads, accounts, cleared, slots, codes, coinbaseDelta: w[p] as bigint, destroyed: w[p + 1] as bigint };
    p += 2;
    runs[k] = { index, outcome, error, access, start, ms };
  }
  if (p !== w.length) throw new Error(`worker results: ${w.length - p} values left after ${n} runs`);
  return runs;
}

/**
 * Transactions packed for the workers: their encodings back to back in one buffer, in shared memory (a run table's or
 * a recovery job's), so that every worker reads the same copy and no object is built per transaction.
 */
export interface TxPack {
  index: Int32Array;
  /** End offset of each encoding in `bytes`; each starts where the previous one ends. */
  end: Int32Array;
  bytes: Uint8Array;
}

/** `n` elements of `T` over shared memory (a SharedArrayBuffer crosses postMessage without a copy). */
function shared<T>(make: new (b: SharedArrayBuffer) => T, bytesPer: number, n: number): T {
  return new make(new SharedArrayBuffer(Math.max(1, n) * bytesPer));
}

function packTxs(indices: readonly number[], raws: readonly Uint8Array[]): TxPack {
  const index = shared(Int32Array, 4, indices.length);
  index.set(indices);
  const end = shared(Int32Array, 4, indices.length);
  let size = 0;
  for (let j = 0; j < indices.length; j++) end[j] = size += raws[indices[j]].length;
  const bytes = shared(Uint8Array, 1, size);
  for (let j = 0; j < indices.length; j++) bytes.set(raws[indices[j]], j === 0 ? 0 : end[j - 1]);
  return { index, end, bytes };
}

/** The j-th encoding of a pack (a view, not a copy). */
export function packedTx(p: TxPack, j: number): Uint8Array {
  return p.bytes.subarray(j === 0 ? 0 : p.end[j - 1], p.end[j]);
}

/**
 * A block's transactions and groups in shared memory, one copy for all workers (a SharedArrayBuffer crosses
 * postMessage without a copy). Each worker runs the transactions the partition gave it (its home) in block order;
 * a worker whose home is done takes whole groups no worker has started, from the block's end backwards. Who runs a
 * group is decided by claiming it: `claims[g]` goes from 0 to the claimer's index + 1 by compare-and-exchange, by its
 * home worker when it reaches the group's first transaction, or by a worker taking it. A taken group runs on the
 * block's pre-state (plus its own writes), as the partition predicted it could; every run is validated anyway.
 */
export interface RunTable {
  /** Every transaction of the block, by index. */
  txs: TxPack;
  /** Senders' public keys, 64 bytes at `i * 64`; `hasKey[i]` 0 = unknown (the worker recovers it). */
  keys: Uint8Array;
  hasKey: Uint8Array;
  /** Group of each transaction; groups are numbered in the order of their first transactions. */
  groupOf: Int32Array;
  /** Group g's transactions, in block order, are `members[start[g]] .. members[start[g + 1] - 1]`. */
  start: Int32Array;
  members: Int32Array;
  /** 0: unclaimed; w + 1: run by worker w. */
  claims: Int32Array;
}

/** A run table's encodings and senders' keys, filled before the block's groups are known (see `runTable`). */
export type RunKeys = Pick<RunTable, 'txs' | 'keys' | 'hasKey'>;

/**
 * A block's encodings in a run table, with no sender's key yet (`setRunKey` sets them). `txs`: the block's pack
 * already made (a recovery job's of every transaction, in block order), instead of a second copy.
 */
export function runKeys(raws: readonly Uint8Array[], txs?: TxPack): RunKeys {
  const n = raws.length;
  const pack = txs !== undefined && txs.index.length === n ? txs : packTxs(Array.from({ length: n }, (_, i) => i), raws);
  return { txs: pack, keys: shared(Uint8Array, 64, n), hasKey: shared(Uint8Array, 1, n) };
}

export function setRunKey(t: RunKeys, i: number, pubkey: Uint8Array): void {
  t.keys.set(pubkey, i * 64);
  t.hasKey[i] = 1;
}

/** The run table of a block: its encodings and senders' keys, and its groups (each in block order). */
export function runTable(base: RunKeys, groups: readonly (readonly number[])[]): RunTable {
  const n = base.hasKey.length;
  const groupOf = shared(Int32Array, 4, n);
  const start = shared(Int32Array, 4, groups.length + 1);
  const members = shared(Int32Array, 4, n);
  let k = 0;
  groups.forEach((list, g) => {
    start[g] = k;
    for (const i of list) {
      groupOf[i] = g;
      members[k++] = i;
    }
  });
  start[groups.length] = k;
  return { ...base, groupOf, start, members, claims: shared(Int32Array, 4, groups.length) };
}

/** Bytes per recovered transaction: public key (64), sender address (20), transaction hash (32). */
export const RECOVERED = 116;

/** Transactions a worker claims from a `RecoverJob` at a time (about 1 ms of recovery). */
export const RECOVER_CHUNK = 16;

/**
 * Senders to recover, in shared memory, sent to every worker: each claims chunks of `RECOVER_CHUNK` transactions
 * (`next`, advanced by `Atomics.add`) until none are left, so a worker still busy with a block's runs when the job
 * arrives leaves its share to one that is idle. Per transaction j (transaction `txs.index[j]` of its block):
 * `RECOVERED` bytes at `j * RECOVERED` in `keys` (see `recoveredAt`), and `ok[j]`: 1 recovered, 2 the signature did
 * not recover (0 only while the job is under way). `done` counts the transactions finished; a worker adds each chunk
 * when it has written it, and wakes whoever waits on it (`Atomics.waitAsync`): the main thread partitions a block's
 * transactions as their senders come in. `by[j]`: the index + 1 of the worker that took transaction j (written before
 * its `ok`), so that whoever reads a finished job knows who recovered what without waiting for the workers' reports.
 */
export interface RecoverJob {
  txs: TxPack;
  next: Int32Array;
  keys: Uint8Array;
  ok: Uint8Array;
  done: Int32Array;
  by: Uint16Array;
}

export function recoverJob(indices: readonly number[], raws: readonly Uint8Array[]): RecoverJob {
  const k = indices.length;
  return { txs: packTxs(indices, raws), next: shared(Int32Array, 4, 1), keys: shared(Uint8Array, RECOVERED, k), ok: shared(Uint8Array, 1, k), done: shared(Int32Array, 4, 1), by: shared(Uint16Array, 2, k) };
}

/**
 * How many transactions of finished jobs each of `workers` workers took (see `RecoverJob.by`). Read from the jobs'
 * memory, not from the workers' 'recovered' reports, which may still be on their way when the block is done.
 */
export function recoveredByWorker(jobs: readonly RecoverJob[], workers: number): number[] {
  const counts = new Array<number>(workers).fill(0);
  for (const job of jobs) {
    for (let j = 0; j < job.txs.index.length; j++) {
      const w = job.by[j] - 1;
      if (w >= 0 && w < workers) counts[w]++;
    }
  }
  return counts;
}

/** What a job recovered for its j-th transaction (views into `keys`). */
export function recoveredAt(keys: Uint8Array, j: number): { pubkey: Uint8Array; address: Uint8Array; hash: Uint8Array } {
  const o = j * RECOVERED;
  return { pubkey: keys.subarray(o, o + 64), address: keys.subarray(o + 64, o + 84), hash: keys.subarray(o + 84, o + RECOVERED) };
}

