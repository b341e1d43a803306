/**
 * The parallel execution engine: one block at a time, on a pool of worker threads.
 *
 *   1. the main thread starts the block (fork, system operations) and sends workers the header and pre-writes;
 *   2. workers recover the senders' public keys, each a share of the block;
 *   3. the conflict detector partitions the transactions as their senders come in (see plan.ts); each worker runs its
 *      partition speculatively, in order;
 *   4. the rollback manager commits results in block order, re-executing on the main thread any run that read
 *      stale state; the result is what serial execution gives, whatever the timing;
 *   5. after the block commits, its diff goes to every worker's cache.
 *
 * Blocks too small to gain, and pre-Byzantium blocks (whose receipts need the state root after every transaction),
 * run serially. A worker that crashes or does not answer within `txTimeoutMs` is replaced and the block re-executed
 * serially: slower, never wrong.
 */
import { availableParallelism } from 'node:os';
import { Hardfork } from '@ethereumjs/common';
import type { Block, JSONHeader } from '@ethereumjs/block';
import type { ChainProfile } from '../chain/profile.ts';
import { HintBook } from '../conflict/index.ts';
import { ParallaxError, errorMessage } from '../errors.ts';
import { RollbackManager, type CommitInfo, type SpeculativeResult } from '../rollback/index.ts';
import { forgetInternedCode, type TxAccess } from '../state/overlay.ts';
import type { StateDiff } from '../state/types.ts';
import type { BlockRecord, BlockWriter, PreparedCommit } from '../state/store.ts';
import type { BlockWrite } from '../state/block-write.ts';
import type { ShardJob, ShardResult, StorageJob, StorageResult, TrieSharder } from '../state/trie.ts';
import { fromHex, hex } from '../util/bytes.ts';
import { MAIN_THREAD, buildTrace, nameKey, type Attempt, type BlockTrace, type TxRecord } from '../insight/trace.ts';
import type { BlockExecutor, BlockResult, BlockRun, ReceiptsSink } from './executor.ts';
import { ReceiptsPacker, type ReceiptsResult } from './receipts-job.ts';
import { WorkerPool } from './pool.ts';
import { PlanBuilder, jobDone, rawsOf, recoverBesideMain, watchJob, type Plan } from './plan.ts';
import { recoverJob, recoveredByWorker, unpackRuns, type BlockStart, type RecoverJob, type ToMain, type WorkerFaults } from './protocol.ts';

/**
 * The workers' threads run at a lower CPU priority than the main thread. On two cores the main thread, the workers and
 * V8's helper threads are often three or more runnable threads, and the main thread's work (the block it runs alone,
 * dispatch, validation, the commit) is each block's path, while the workers' ahead recovery has until the next block.
 * At the same priority the main thread waited on the run queue for 1.22-1.28 s of a 3.2 s window of 20 transfers
 * blocks and 67-126 ms of 1.1 s on the ERC-20 blocks (`/proc/thread-self/schedstat`); at nice 10, 0.36-0.59 s and
 * 36-80 ms. Lab (2 workers, alternating, 2026-12-07): transfers faster in 7 of 10 rounds (median 13,401 tx/s against
 * 12,751), ERC-20 in 12 of 14 (median 8,038 against 7,744), the mainnet passes in 6 of 6 (2,532-2,730 ms against
 * 2,661-2,850, scheduling 0.13-0.19 ms per block against 0.19-0.49). Nice 5 and 19 were within the same
 * spread; V8's helper threads lowered too were not faster (docs/performance.md, twentieth session).
 */
export const DEFAULT_WORKER_NICE = 10;

export interface ParallelOptions {
  /** Worker threads; 1 = the serial path on the main thread (no workers). */
  workers: number;
  /** Blocks with fewer transactions run serially. */
  minParallelTxs: number;
  /** A worker silent this long on the transaction the commit loop waits for is replaced (block re-run serially). */
  txTimeoutMs: number;
  /** Chain profile for the workers' EVMs (the same rules as the executor's). */
  profile: ChainProfile;
  kzg: boolean;
  /**
   * Blocks changing at least this many accounts have their state root split among the workers (default 2,000).
   * Measured on 2 cores: a 1,000-account mainnet block took as long split as on the main thread even with the workers'
   * trie nodes cached, and longer with them cold; 4,000-account transfer blocks gained (see docs/performance.md).
   */
  minShardedAccounts?: number;
  /**
   * A block not split that way whose hottest contract changes at least this many slots has that contract's storage
   * trie updated on the workers while the main thread updates the rest (default `MIN_OFFLOADED_SLOTS`).
   */
  minOffloadedSlots?: number;
  /** A block of at least this many transactions has its receipts made on a worker (default `MIN_OFFLOADED_RECEIPTS`). */
  minOffloadedReceipts?: number;
  /**
   * Cores the engine's threads share (default: the machine's, `os.availableParallelism()`). While the main thread runs
   * a block alone, the next block's senders go to at most `cores - 1` workers, so that the main thread keeps a core.
   */
  cores?: number;
  /**
   * A block whose transactions use less gas than this on average (by its header's gas used where the header has it,
   * else as expected: see `PlanBuilder.expectedGasPerTx`) runs on the main thread, its successor's senders recovered
   * by the workers (default `MIN_SPECULATIVE_GAS`, 50,000; 0 speculates on any block):
   * speculating costs about as much per transaction as a cheap transaction's execution.
   */
  minSpeculativeGas?: number;
  /**
   * The nice value of the workers' threads (Linux; default `DEFAULT_WORKER_NICE`; 0 leaves them at the main thread's
   * priority). See `DEFAULT_WORKER_NICE`.
   */
  workerNice?: number;
  /** Test hook: each transaction in a worker waits a random 0..delayMs ms first. */
  delayMs?: number;
  /**
   * Record an execution trace per block (attempts, invalidating keys, dependency graph, critical path). Default on:
   * the parallel path has the read and write sets anyway; serial paths track them for it.
   */
  trace?: boolean;
}

export interface BlockStats {
  mode: 'serial' | 'parallel' | 'fallback';
  fallbackReason?: string;
  /** Transactions run serially on the main thread after speculation was abandoned as unprofitable. */
  serialTail: number;
  txs: number;
  reexecuted: number;
  rollbackRate: number;
  /** Share of transactions committed from their first speculative run. */
  parallelFraction: number;
  groups: number;
  largestGroup: number;
  /** Groups run by a worker other than the one the partition gave them to, which had run out of work first. */
  takenGroups: number;
  predictedParallelFraction: number;
  /** Busy time of each worker in this block (signature recovery and execution). */
  workerBusyMs: number[];
  /**
   * Senders of this block each worker recovered (ahead, or at the block's start): workers claim them in chunks, so
   * one busy with the previous block's transactions leaves them to one that is idle.
   */
  recoveredBy: number[];
  /**
   * Part of the state root was computed on the workers (see `TrieSharder`: shares of the state trie, or the hottest
   * contract's storage trie), not all of it on the main thread.
   */
  rootSharded: boolean;
  /** The block's receipts (blooms, encodings, receipts root) were made on a worker (see receipts-job.ts). */
  receiptsOffloaded: boolean;
  /**
   * Main-thread time spent preparing and dispatching this block's work (partitioning, messages) on its critical path:
   * from the block's start (or, when the workers were still recovering its senders then, from the moment the last of
   * them came in) until the last worker has its work.
   */
  schedulingMs: number;
  /**
   * Main-thread time spent on this block's schedule off its critical path: its transactions serialized while the main
   * thread waited for the previous block's first results, its senders and partition built while the previous block's
   * LevelDB batch was being written, and what of its partition was built while it waited for the rest of its senders.
   * Not in `schedulingMs`.
   */
  scheduledAheadMs: number;
  /**
   * The block's senders and partition were prepared before it started (between the previous block and this one); for
   * a block that runs on the main thread whatever its senders, which needs no partition, its senders.
   */
  preparedAhead: boolean;
  /**
   * Transactions partitioned before the last of the block's senders came in from the workers (their chunks are
   * partitioned as they come): what was off the block's path even when its senders were late.
   */
  partitionedEarly: number;
  /**
   * Transactions of a block run on the main thread as its senders came in (too cheap to speculate on) that started
   * before the last of them was in: what ran while the rest were still being recovered.
   */
  ranEarly: number;
  /**
   * Transactions of the next block serialized for the workers on this block's path (in `schedulingMs`): a block run
   * on the main thread has no wait to hide that in, unless the previous block's commit already sent them.
   */
  aheadOnPath: number;
  wallMs: number;
  /** Keys that invalidated speculative runs (account 'a'+addr or slot 's'+addr+slot), with counts. */
  conflictKeys: [string, number][];
}

/** Re-executions after which, if they outnumber first-run commits, the rest of the block runs serially. */
const ABANDON_AFTER = 8;

/**
 * Senders pinned at a time by a block that runs on the main thread as they come in (see `PlanBuilder.pin`): enough
 * to start on without making its start wait for the pinning of every sender already in.
 */
const PIN_RUN = 256;

/**
 * Slots one contract must change for its storage trie to go to a worker (see `minOffloadedSlots`): on the main thread
 * a slot costs some 15 us there (an ERC-20 block's token, ~1,480 slots, 17-28 ms), a round trip to a worker some 0.1-0.3 ms.
 */
export const MIN_OFFLOADED_SLOTS = 256;

/**
 * A block of at least this many transactions has its receipts made on a worker (see receipts-job.ts), sent in batches
 * of `RECEIPTS_BATCH` as they are recorded; a smaller one's cost less than the messages.
 */
export const MIN_OFFLOADED_RECEIPTS = 64;
const RECEIPTS_BATCH = 256;

export interface ExecutedBlock {
  result: BlockResult;
  stats: BlockStats;
  trace?: BlockTrace;
}

/** The next block's senders, recovered by the workers while the current block finishes. */
interface Ahead {
  block: Block;
  /** The 'recover' requests' sequence number (from the same counter as blocks'). */
  seq: number;
  /** The block's plan, built as its senders come in (between blocks, or at its start). */
  builder: PlanBuilder;
  /** The shared job (none when every sender was known). */
  job?: RecoverJob;
  /** Each worker's time on it, as reported so far (who recovered which sender is in the job: `RecoverJob.by`). */
  busy: number[];
  /**
   * Main-thread time spent sending these transactions off the path of any block (while a block waited for its first
   * results, or for its commit's write); 0 when that was on a block's path and counted as its scheduling.
   */
  ms: number;
}

function diffToAccess(diff: StateDiff): TxAccess {
  const access: TxAccess = { reads: new Map(), accounts: new Map(), cleared: [], slots: new Map(), codes: diff.codes, coinbaseDelta: 0n, destroyed: 0n };
  for (const [addr, d] of diff.accounts) {
    access.accounts.set(addr, d.account === null ? null : { nonce: d.account.nonce, balance: d.account.balance, codeHash: d.account.codeHash });
    if (d.storageCleared) access.cleared.push(addr);
    for (const [slot, v] of d.storage) access.slots.set(addr + slot, v);
  }
  return access;
}

export class ParallelExecutor {
  executor: BlockExecutor;
  readonly hints = new HintBook();
  private readonly opts: ParallelOptions;
  private pool: WorkerPool | undefined;
  private readonly rollback: RollbackManager;
  private seq = 0;
  private onMessage: ((w: number, m: ToMain) => void) | undefined;
  private onFailure: ((w: number, e: Error) => void) | undefined;
  /** Senders of the next block, being recovered by the workers while this one finishes (see `execute`'s `next`). */
  private ahead: Ahead | undefined;
  /** Stops building the next block's plan between blocks as its senders come in (see `commitWith`). */
  private unwatch: (() => void) | undefined;
  /** The next block's schedule, prepared while this block's commit was being written (see `prepareNext`). */
  private prepared: Plan | undefined;
  /**
   * Senders of the block after the next one, sent to the workers while this block's commit was being written because
   * the next block was planned to run on the main thread (see `prepareNext`): it becomes `ahead` when the next block
   * starts.
   */
  private later: Ahead | undefined;
  /** The blocks the caller said follow the block being executed (`execute`'s `next` and `after`). */
  private upcoming: { next?: Block; after?: Block } = {};
  /** Transactions serialized for ahead recovery on the current block's path (its `aheadOnPath`). */
  private aheadOnPath = 0;
  /** A block is being executed (`prepareNext` is for the time between blocks). */
  private executing = false;

  /** Headers as the workers get them (see `headerOf`). */
  private readonly headers = new WeakMap<Block, JSONHeader>();

  /** A block's header as its start message carries it, made once (ahead, where `prepareNext` planned the block). */
  private headerOf(block: Block): JSONHeader {
    let h = this.headers.get(block);
    if (h === undefined) this.headers.set(block, (h = block.header.toJSON()));
    return h;
  }

  /** Chain rules of the current executor (workers keep one EVM per profile). */
  private profile: ChainProfile;
  /** `ParallelOptions.cores`, resolved once. */
  private readonly cores: number;

  private constructor(executor: BlockExecutor, opts: ParallelOptions) {
    this.executor = executor;
    this.opts = opts;
    this.profile = opts.profile;
    this.cores = opts.cores ?? availableParallelism();
    this.rollback = new RollbackManager(executor, this.hints);
    this.sharder = {
      shards: opts.workers,
      minAccounts: opts.minShardedAccounts ?? 2000,
      run: (jobs) => this.trieJobs<ShardResult>(jobs),
      minStorageSlots: opts.minOffloadedSlots ?? MIN_OFFLOADED_SLOTS,
      storage: (jobs) => this.trieJobs<StorageResult>(jobs),
      // Shares computed and then dropped: the root is the main thread's after all (until another job succeeds).
      discarded: () => (this.trieSharded = false),
    };
  }

  static async create(executor: BlockExecutor, opts: ParallelOptions): Promise<ParallelExecutor> {
    const self = new ParallelExecutor(executor, opts);
    if (opts.workers > 1) {
      self.pool = new WorkerPool(
        opts.workers,
        { profile: opts.profile, kzg: opts.kzg, delayMs: opts.delayMs, nice: opts.workerNice ?? DEFAULT_WORKER_NICE },
        async (kind, key) => {
          const store = self.executor.store;
          if (kind === 'a') return store.getAccountRLP(fromHex(key));
          if (kind === 's') return store.getStorage(fromHex(key.slice(0, 40)), fromHex(key.slice(40)));
          if (kind === 'c') return store.getCode(fromHex(key));
          return (await self.executor.blockHash(BigInt(key))) ?? null;
        },
      );
      self.pool.onMessage((w, m) => {
        if (m.t === 'trie') {
          if (self.trieJob?.id === m.id) self.trieJob.answer(w, m.result);
          return;
        }
        if (m.t === 'receipts') {
          if (self.receiptsJob?.id === m.id) self.receiptsJob.answer(m.result);
          return;
        }
        if (m.t === 'written') {
          const job = self.writeJob;
          if (job?.id === m.id) m.error === undefined ? job.done() : job.fail(new Error(m.error), false);
          return;
        }
        // What a worker reports on an ahead recovery counts as the block's whose senders it recovered.
        const ahead = m.t === 'recovered' ? [self.ahead, self.later].find((a) => a?.seq === m.seq) : undefined;
        if (m.t === 'recovered' && ahead !== undefined) {
          ahead.busy[w] += m.busyMs;
        } else self.onMessage?.(w, m);
      });
      self.pool.onFailure((w, e) => {
        self.trieJob?.fail(w, e);
        if (self.receiptsJob?.worker === w) self.receiptsJob.fail(e);
        if (self.writeJob?.worker === w) self.writeJob.fail(e, true);
        self.onFailure?.(w, e);
      });
      await self.pool.start();
      executor.store.shareTrie(self.sharder);
      executor.store.writeOn(self.writer);
      executor.receiptsSink = (block) => self.receiptsFor(block);
    }
    return self;
  }

  /** The block batch being written by a worker (see `writer`): one at a time, the store hands the next one on after. */
  private writeJob: { id: number; worker: number; done(): void; fail(e: Error, crashed: boolean): void } | undefined;
  private writeSeq = 0;

  /**
   * Writes a committed block's batch on the last worker (the one a block run on the main thread leaves idle, see
   * `recoverBesideMain`) while the main thread goes on with the next block (see `StateStore.writeOn`). A worker that
   * fails on it is replaced, and the store writes the batch itself. No timer: LevelDB may stall a write for seconds
   * while it compacts, and a batch written late by a worker given up on would land after the next one.
   */
  private readonly writer: BlockWriter = { takes: () => this.writeAway, write: (write, location) => this.writeOnWorker(write, location) };

  /**
   * The last block ran on the main thread beside a worker left idle (see `recoverBesideMain`), which writes its batch.
   * Beside a block of plain transfers every worker recovers the next block's senders and both cores are busy: a batch
   * written on a worker there only adds to their work (lab, the transfers blocks: 12,241 tx/s against 12,673).
   */
  private writeAway = false;

  private async writeOnWorker(write: BlockWrite, location: string): Promise<void> {
    const pool = this.pool!;
    const worker = pool.size - 1;
    const id = ++this.writeSeq;
    let crashed = false;
    // Workers keep the process alive only while someone waits on them (see WorkerPool): the commit that handed the
    // batch over has returned, so nothing else would, and a process could end with a block's batch unwritten.
    const alive = setInterval(() => {}, 60_000);
    try {
      await new Promise<void>((resolve, reject) => {
        this.writeJob = {
          id,
          worker,
          done: resolve,
          fail: (e, c) => {
            crashed = c;
            reject(e);
          },
        };
        if (!pool.alive(worker)) this.writeJob.fail(new Error(`worker ${worker} has exited`), true);
        else pool.send(worker, { t: 'write', id, db: location, write });
      });
    } catch (e) {
      if (crashed) await pool.replace(worker);
      throw e;
    } finally {
      clearInterval(alive);
      if (this.writeJob?.id === id) this.writeJob = undefined;
    }
  }

  /**
   * The block's receipts being made on a worker (see `receiptsFor`): the answer, or the worker's failure, which may come
   * before the last batch is sent.
   */
  private receiptsJob: { id: number; worker: number; failed?: Error; answer(r: ReceiptsResult): void; fail(e: Error): void } | undefined;
  private receiptsSeq = 0;
  /** Why the block's receipts were made on the main thread after all (a worker failed on them). */
  private receiptsFailure: string | undefined;
  /** The block's receipts came from a worker. */
  private receiptsMade = false;

  /**
   * Where `block`'s receipts are made: on the last worker (the one a block run on the main thread leaves idle when one
   * component dominates it; see `recoverBesideMain`), batch by batch as the transactions are recorded, for a block of at
   * least `MIN_OFFLOADED_RECEIPTS` transactions, most of them calls; undefined (made on the main thread) otherwise.
   */
  private receiptsFor(block: Block): ReceiptsSink | undefined {
    const pool = this.pool;
    const txs = block.transactions;
    if (pool === undefined || txs.length < (this.opts.minOffloadedReceipts ?? MIN_OFFLOADED_RECEIPTS)) return undefined;
    // A block of mostly plain transfers (no calldata) keeps its receipts here: they have no logs, so no blooms to hash,
    // and every worker is recovering the next block's senders beside it (see EVERY_WORKER_RECOVERS_BELOW_GAS), whose
    // recovery the batches would hold up (run Q's transfers blocks: 1.15 ms of scheduling per block against 0.06).
    let calls = 0;
    for (const tx of txs) if (tx.data.length > 0) calls++;
    if (2 * calls < txs.length) return undefined;
    const id = ++this.receiptsSeq;
    const worker = pool.size - 1;
    const packer = new ReceiptsPacker();
    const job: NonNullable<ParallelExecutor['receiptsJob']> = {
      id,
      worker,
      answer: () => {},
      fail: (e) => (job.failed = e),
    };
    this.receiptsJob = job;
    const send = (last: boolean) => {
      const batch = packer.take();
      pool.send(worker, { t: 'receipts', id, batch, last }, [batch.buffer as ArrayBuffer]);
    };
    return {
      add: (o, gasField) => {
        packer.add(o, gasField);
        if (packer.count >= RECEIPTS_BATCH && job.failed === undefined) send(false);
      },
      finish: async () => {
        try {
          return await new Promise<ReceiptsResult>((resolve, reject) => {
            if (job.failed !== undefined) return reject(job.failed);
            const timer = setTimeout(() => reject(new Error(`no receipts from worker ${worker} within ${this.opts.txTimeoutMs} ms`)), this.opts.txTimeoutMs);
            job.answer = (r) => {
              clearTimeout(timer);
              this.receiptsMade = true;
              resolve(r);
            };
            job.fail = (e) => {
              clearTimeout(timer);
              reject(e);
            };
            send(true);
          });
        } catch (e) {
          // Made on the main thread instead (the executor does so on undefined); the worker is replaced.
          this.receiptsFailure = errorMessage(e);
          await pool.replace(worker);
          return undefined;
        } finally {
          if (this.receiptsJob === job) this.receiptsJob = undefined;
        }
      },
    };
  }

  /** The state-root shares under way: answers by worker, or the failure that ends them. */
  private trieJob: { id: number; answer(w: number, r: ShardResult | StorageResult): void; fail(w: number, e: Error): void } | undefined;
  private trieSeq = 0;
  /** Why the last block's state root was computed on the main thread after all (a worker failed on its share). */
  private trieFailure: string | undefined;
  /** The last state root was split among the workers. */
  private trieSharded = false;
  /** Test faults were sent to the workers and are not in effect yet (see `injectFaults`). */
  private faultsArmed = false;

  /**
   * The store's trie updates on the workers, which read trie nodes from LevelDB themselves: either each updates the
   * subtrees under its share of the root's children while the main thread waits (it hashes only the root), or they
   * update the storage trie of the block's hottest contract (each its share of that trie's root's children) while the
   * main thread updates the rest. A worker that fails or does not answer is replaced and its part computed on the main
   * thread instead, never left wrong.
   */
  private readonly sharder: TrieSharder;

  /** `jobs[w]` on worker w, all at once; the results in the same order, or undefined if one failed. */
  private async trieJobs<R extends ShardResult | StorageResult>(jobs: (ShardJob | StorageJob)[]): Promise<R[] | undefined> {
    const pool = this.pool;
    const location = this.executor.store.db.sharedLocation;
    if (pool === undefined || location === undefined || jobs.length > pool.size) return undefined;
    const id = ++this.trieSeq;
    const results: (R | undefined)[] = new Array(jobs.length).fill(undefined);
    let left = jobs.length;
    const silent = () => results.flatMap((r, w) => (r === undefined ? [w] : []));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const failed = silent();
          reject(new Error(`no state-root share from worker${failed.length > 1 ? 's' : ''} ${failed.join(', ')} within ${this.opts.txTimeoutMs} ms`));
        }, this.opts.txTimeoutMs);
        this.trieJob = {
          id,
          answer: (w, r) => {
            if (w >= jobs.length || results[w] !== undefined) return;
            results[w] = r as R;
            if (--left === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
          fail: (w, e) => {
            clearTimeout(timer);
            reject(new Error(`worker ${w} failed on its state-root share: ${e.message}`));
          },
        };
        const nodes = this.executor.store.nodeFileView();
        jobs.forEach((job, w) => pool.send(w, { t: 'trie', id, db: location, nodes, job }, [job.data.buffer as ArrayBuffer]));
      });
      this.trieSharded = true;
      return results as R[];
    } catch (e) {
      this.trieFailure = errorMessage(e);
      // Every worker without an answer is replaced: the others may have failed the same way (a healthy one still at
      // work only loses its caches).
      for (const w of silent()) await pool.replace(w);
      return undefined;
    } finally {
      this.trieJob = undefined;
    }
  }

  get workers(): number {
    return this.opts.workers;
  }

  /** The nice value each worker's thread runs at (undefined: it could not be set); empty without workers. */
  get workerNice(): (number | undefined)[] {
    return [...(this.pool?.nice ?? [])];
  }

  get replacements(): number {
    return this.pool?.replacements ?? 0;
  }

  /** Workers that had to be terminated from outside, not having stopped when asked (on close or replacement). */
  get terminatedWorkers(): number {
    return this.pool?.terminated ?? 0;
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.pool !== undefined) {
      const store = this.executor.store;
      store.shareTrie(undefined);
      store.writeOn(undefined);
      this.executor.receiptsSink = undefined;
      // A batch handed to a worker is written before the workers stop (a failure is the store's to report).
      await store.flushed().catch(() => {});
    }
    await this.pool?.close();
  }

  /** Test hook: the current workers fail as told on the next block (replacements start clean). */
  injectFaults(faults: WorkerFaults): void {
    this.pool?.broadcast({ t: 'faults', faults });
    // Faults take effect at the workers' next 'block' message: the next block sends one whatever it needs.
    this.faultsArmed = true;
  }

  /**
   * Execute a block on the store's head state; the result equals serial execution's. `serial` keeps it on the main
   * thread (transactions the workers cannot run, e.g. feeless ones). `next`, the block the caller will execute after
   * this one, lets idle workers recover its senders while this block's last results, state root and commit are
   * still on the main thread: signature recovery needs no state. `after`, the block after `next`, when known: if
   * `next` is planned to run on the main thread, `after`'s transactions go to the workers during this block's commit
   * (the main thread waits for LevelDB's write then), so that `next`'s path has none of that work.
   */
  async execute(block: Block, opts: { serial?: boolean; next?: Block; after?: Block } = {}): Promise<ExecutedBlock> {
    // The block takes over its plan from here (see `executeParallel`).
    this.unwatch?.();
    this.unwatch = undefined;
    this.upcoming = { next: opts.next, after: opts.next === undefined ? undefined : opts.after };
    this.aheadOnPath = 0;
    this.trieFailure = undefined;
    this.trieSharded = false;
    this.receiptsFailure = undefined;
    this.receiptsMade = false;
    this.executing = true;
    let done: ExecutedBlock;
    try {
      done = await this.executeOn(block, opts);
    } finally {
      this.executing = false;
    }
    done.stats.rootSharded = this.trieSharded;
    done.stats.aheadOnPath = this.aheadOnPath;
    if (this.trieFailure !== undefined) {
      done.stats.fallbackReason ??= `${this.trieFailure}; the state root was computed on the main thread`;
      this.trieFailure = undefined;
    }
    done.stats.receiptsOffloaded = this.receiptsMade;
    if (this.receiptsFailure !== undefined) {
      done.stats.fallbackReason ??= `${this.receiptsFailure}; the receipts were made on the main thread`;
      this.receiptsFailure = undefined;
    }
    return done;
  }

  /** Too few transactions for the workers (`minParallelTxs`): the block runs here, nothing is recovered for it ahead. */
  private tooSmall(block: Block): boolean {
    return block.transactions.length < this.opts.minParallelTxs;
  }

  private async executeOn(block: Block, opts: { serial?: boolean; next?: Block }): Promise<ExecutedBlock> {
    this.writeAway = false;
    const t0 = performance.now();
    const common = this.executor.vm.common;
    common.setHardforkBy({ blockNumber: block.header.number, timestamp: block.header.timestamp });
    if (opts.serial === true || this.pool === undefined || this.tooSmall(block) || !common.gteHardfork(Hardfork.Byzantium)) {
      // The workers would idle through this block: give them the next one's senders first (main-thread time on this
      // block's path, counted as its scheduling).
      const ms = this.recoverAhead(opts.next, true, 'ahead', true);
      const done = await this.executeSerial(block, t0, 'serial');
      done.stats.schedulingMs = ms;
      return done;
    }
    try {
      return await this.executeParallel(block, t0, opts.next);
    } catch (e) {
      this.ahead = undefined;
      this.later = undefined;
      this.prepared = undefined;
      // An invalid block stays invalid serially; a conservation violation means a wrong write: never paper over it.
      if (e instanceof ParallaxError && (e.code === 'BLOCK_INVALID' || e.code === 'CONSERVATION_VIOLATED')) throw e;
      // A worker crashed, hung or misbehaved: replace what failed and fall back to the serial path.
      const reason = errorMessage(e);
      const failed = (e as { worker?: number }).worker;
      this.pool.abort(this.seq);
      if (failed !== undefined) await this.pool.replace(failed);
      const done = await this.executeSerial(block, t0, 'fallback');
      done.stats.fallbackReason = reason;
      return done;
    }
  }

  private get tracing(): boolean {
    return this.opts.trace ?? true;
  }

  /** Run the whole block on the main thread (tracked for the trace when tracing). */
  private async executeSerial(block: Block, t0: number, mode: BlockStats['mode']): Promise<ExecutedBlock> {
    const n = block.transactions.length;
    if (!this.tracing) {
      const result = await this.executor.execute(block);
      return { result, stats: this.serialStats(n, t0, mode) };
    }
    const run = await this.executor.begin(block);
    const origin = performance.now();
    const records: TxRecord[] = new Array(n);
    this.rollback.reset(hex(block.header.coinbase.bytes), true);
    await this.runTraced(run, 0, n, origin, records);
    const result = await this.executor.finish(run);
    const stats = this.serialStats(n, t0, mode);
    return { result, stats, trace: this.trace(result, mode, origin, 0, records) };
  }

  /**
   * Run transactions `from` to `to - 1` on the main thread, tracked for the trace, into `records`: each one's times
   * and dependencies are kept as numbers while they run and their records made after the last (no objects per
   * transaction to carry through the run).
   */
  private async runTraced(run: BlockRun, from: number, to: number, origin: number, records: TxRecord[]): Promise<void> {
    const times = new Float64Array(2 * (to - from));
    const deps: number[][] = new Array(to - from);
    await this.rollback.runAllHere(run, from, to, (i, d, start, end) => {
      const k = i - from;
      times[2 * k] = start;
      times[2 * k + 1] = end;
      deps[k] = d!;
    });
    for (let i = from; i < to; i++) {
      const k = i - from;
      const start = times[2 * k];
      const end = times[2 * k + 1];
      records[i] = {
        attempts: [{ worker: MAIN_THREAD, kind: 'serial', start: start - origin, end: end - origin, committed: true }],
        committedAt: end - origin,
        node: { deps: deps[k], gas: run.txs[i].gasUsed, ms: end - start },
      };
    }
  }

  private trace(result: BlockResult, mode: BlockStats['mode'], origin: number, schedulingMs: number, records: TxRecord[]): BlockTrace {
    const { block } = result;
    return buildTrace({
      number: block.header.number,
      hash: block.hash(),
      txHashes: block.transactions.map((t) => t.hash()),
      mode,
      workers: this.opts.workers,
      startedAt: performance.timeOrigin + origin,
      schedulingMs,
      records,
      conservation: result.conservation,
    });
  }

  private serialStats(n: number, t0: number, mode: BlockStats['mode']): BlockStats {
    return {
      mode,
      serialTail: 0,
      txs: n,
      reexecuted: 0,
      rollbackRate: 0,
      parallelFraction: 0,
      groups: n > 0 ? 1 : 0,
      takenGroups: 0,
      rootSharded: false,
      receiptsOffloaded: false,
      largestGroup: n,
      predictedParallelFraction: 0,
      workerBusyMs: [],
      recoveredBy: [],
      schedulingMs: 0,
      scheduledAheadMs: 0,
      preparedAhead: false,
      partitionedEarly: 0,
      ranEarly: 0,
      aheadOnPath: 0,
      wallMs: performance.now() - t0,
      conflictKeys: [],
    };
  }

  /**
   * Send the workers `next`'s signatures to recover, between this block's work and the next block's: as `ahead`, the
   * next block's, or as `later`, the block after it. Returns the main-thread time it took (serializing the
   * transactions). `onPath`: that time was on the current block's path, counted as its scheduling by the caller
   * (and `next`'s transactions in `aheadOnPath`); otherwise it becomes `next`'s own `scheduledAheadMs`.
   * `besideMain`: the main thread runs a block alone meanwhile (see `ParallelOptions.cores`).
   */
  private recoverAhead(next: Block | undefined, onPath: boolean, slot: 'ahead' | 'later' = 'ahead', besideMain = false): number {
    const pool = this.pool;
    if (pool === undefined || next === undefined || this.tooSmall(next)) return 0;
    if (this.ahead?.block === next) return 0;
    if (this.later?.block === next) {
      // Sent during the previous block's commit.
      if (slot === 'ahead') {
        this.prepared = undefined;
        this.ahead = this.later;
        this.later = undefined;
      }
      return 0;
    }
    const t0 = performance.now();
    const W = pool.size;
    const txs = next.transactions;
    const hardfork = this.executor.vm.common.getHardforkBy({ blockNumber: next.header.number, timestamp: next.header.timestamp });
    const builder = new PlanBuilder(next, rawsOf(txs), this.hints, W, this.opts.minSpeculativeGas);
    const ahead: Ahead = { block: next, seq: ++this.seq, builder, busy: new Array<number>(W).fill(0), ms: 0 };
    const unknown = builder.unknown();
    if (unknown.length > 0) {
      // Every worker gets the job and claims chunks of it when it comes to it: one still running this block's
      // transactions finds them taken by one that was idle.
      const job = (ahead.job = recoverJob(unknown, builder.raws));
      builder.expect(job, false);
      // Beside a block the main thread runs alone, a worker more than the cores left would take the main thread's
      // core in turns (lab, 2 cores, 4 blocks after 3 warm-up, alternating with every worker recovering: ERC-20
      // 5,552-6,147 tx/s against 5,054-5,905, the contended block 1,198-1,378 against 1,027-1,332). Not beside a block
      // of plain transfers (see EVERY_WORKER_RECOVERS_BELOW_GAS in plan.ts), which the main thread runs faster than
      // one worker recovers the next block's senders: on the transfers blocks one worker's recovery of the block after next,
      // sent during a commit, was not done when that block started every other block (scheduling 1.3-8.5 ms per block
      // on average, the next block's transactions serialized on the path); every worker: 0.03-0.06.
      const k = besideMain ? Math.max(1, Math.min(W, this.cores - 1)) : W;
      for (let w = 0; w < k; w++) pool.send(w, { t: 'recover', seq: ahead.seq, job, ahead: true, hardfork });
    }
    if (slot === 'ahead') {
      this.prepared = undefined;
      this.ahead = ahead;
      this.later = undefined;
    } else this.later = ahead;
    const ms = performance.now() - t0;
    if (onPath) this.aheadOnPath += txs.length;
    else ahead.ms = ms;
    return ms;
  }

  private async executeParallel(block: Block, t0: number, next: Block | undefined): Promise<ExecutedBlock> {
    const pool = this.pool!;
    const W = pool.size;
    const seq = ++this.seq;
    const txs = block.transactions;
    const n = txs.length;
    const busy = new Array<number>(W).fill(0);
    /** The recoveries of this block's senders (ahead, and on its path): who recovered how many is read from them. */
    const jobs: RecoverJob[] = [];
    const recoveredBy = () => recoveredByWorker(jobs, W);
    let scheduling = 0;

    // Results and failures of this block arrive through these.
    const results = new Map<number, SpeculativeResult>();
    let waiting: { index: number; resolve: (r: SpeculativeResult) => void } | undefined;
    let failure: (Error & { worker?: number }) | undefined;
    let wake: (() => void) | undefined;
    /** The 'recover' request of this block's senders recovered ahead (its answers may still come in). */
    let aheadSeq: number | undefined;
    this.onFailure = (w, e) => {
      failure = Object.assign(new Error(`worker ${w}: ${e.message}`), { worker: w });
      wake?.();
    };
    this.onMessage = (w, m) => {
      if (m.t === 'recovered' && (m.seq === seq || m.seq === aheadSeq)) {
        busy[w] += m.busyMs;
      } else if (m.t === 'results' && m.seq === seq) {
        for (const x of unpackRuns(m.runs)) {
          busy[w] += x.ms;
          const r: SpeculativeResult = { index: x.index, outcome: x.outcome, error: x.error, access: x.access, worker: w, start: x.start - performance.timeOrigin, ms: x.ms };
          if (waiting?.index === x.index) {
            const wt = waiting;
            waiting = undefined;
            wt.resolve(r);
          } else results.set(x.index, r);
        }
      }
    };
    const until = (cond: () => boolean, what: string, worker?: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (failure !== undefined) {
            clearTimeout(timer);
            reject(failure);
          } else if (cond()) {
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          wake = undefined;
          reject(Object.assign(new Error(`no answer from workers for ${this.opts.txTimeoutMs} ms while ${what}`), { worker }));
        }, this.opts.txTimeoutMs);
        wake = check;
        check();
      });

    const run = await this.executor.begin(block);
    const ts0 = performance.now();
    const origin = ts0;
    const tracing = this.tracing;
    const records: TxRecord[] = new Array(n);
    const coinbase = hex(block.header.coinbase.bytes);
    this.rollback.reset(coinbase, tracing);
    const pre = diffToAccess(this.executor.state.diff());
    const store = this.executor.store;
    const ahead = this.ahead?.block === block ? this.ahead : undefined;
    const prepared = this.prepared?.block === block && this.prepared.hintsVersion === this.hints.version ? this.prepared : undefined;
    // A block that may speculate waits until the previous block's batch, written by a worker while this one was
    // prepared, is in LevelDB, where the workers read committed state. One that runs here needs nothing of them.
    const onMain = prepared !== undefined ? prepared.runs === undefined : ahead?.builder.serialWhateverSenders() === true;
    if (!onMain) await store.flushed();
    // Workers read committed state from LevelDB themselves where they can; otherwise the predicted keys are sent along.
    const shared = store.sharedReads();
    // A prepared plan is the ahead builder's, finished: its time so far was spent between blocks.
    let scheduledAhead = (ahead?.ms ?? 0) + (ahead?.builder.ms ?? 0);
    this.prepared = undefined;
    let blockSent = false;
    /**
     * The workers start the block (header, pre-writes): before a recovery of its senders, or with their runs. The
     * block's start if they have not had it yet, for the message that will carry it.
     */
    const startOnce = (): BlockStart | undefined => {
      const start: BlockStart | undefined = blockSent ? undefined : { seq, profile: this.profile, header: this.headerOf(block), coinbase, pre, db: shared, accounts: shared === undefined ? undefined : store.accountFilter(), ahead: ahead?.seq };
      blockSent = true;
      this.faultsArmed = false;
      return start;
    };
    const sendBlock = () => {
      const start = startOnce();
      if (start !== undefined) pool.broadcast({ t: 'block', ...start });
    };
    if (ahead !== undefined) {
      // The ahead recovery's work counts as this block's (it recovered this block's senders): what was reported so
      // far, and (through this block's handler) what is still to come.
      this.ahead = undefined;
      aheadSeq = ahead.seq;
      for (let w = 0; w < W; w++) busy[w] += ahead.busy[w];
      if (ahead.job !== undefined) jobs.push(ahead.job);
    }
    if (prepared === undefined && ahead !== undefined && ahead.builder.serialWhateverSenders()) {
      // It runs on the main thread whatever its senders turn out to be (its transactions are too cheap to speculate
      // on): it needs no partition, only its senders, which the workers recover in block order and `prepareNext`
      // pinned as far as they came in during the previous block's commit. It starts at once and runs each
      // transaction as soon as its sender is in, waiting only where it catches up with the recovery. (Partitioned
      // first, a block of 2,000 transfers whose last senders were still being recovered when it started waited for
      // all of them, then partitioned the last chunks and grouped the block on its path, on a core the recovering
      // workers competed for: 1.84 ms of scheduling per block, 7.25 at worst, in run M; 0.06 and 0.12 in run N.)
      const { builder, job } = ahead;
      if (this.faultsArmed) sendBlock();
      const allIn = builder.pinned === n;
      // Until its first transaction starts, pinning the first senders and sending the next block's to the workers
      // are its scheduling; the senders pinned as they come in while it runs are part of its run.
      let ready = builder.pin(PIN_RUN);
      let ranEarly = 0;
      this.writeAway = recoverBesideMain(builder.expectedGasPerTx());
      this.recoverAhead(next, true, 'ahead', this.writeAway);
      scheduling += performance.now() - ts0;
      for (let i = 0; i < n; ) {
        if (ready === i) ready = builder.pin(PIN_RUN);
        if (ready === i) {
          if (job === undefined) throw new Error(`block ${block.header.number}: transaction ${i}'s sender is unknown and not being recovered`);
          const unwatch = watchJob(job, () => wake?.());
          try {
            await until(() => (ready = builder.pin(PIN_RUN)) > i, `recovering the sender of transaction ${i}`);
          } finally {
            unwatch();
          }
        }
        const to = ready;
        if (job !== undefined && !jobDone(job)) ranEarly += to - i;
        if (tracing) await this.runTraced(run, i, to, origin, records);
        else for (let j = i; j < to; j++) await this.executor.runSerial(run, j);
        i = to;
      }
      const result = await this.executor.finish(run);
      this.onMessage = undefined;
      this.onFailure = undefined;
      const stats = this.serialStats(n, t0, 'serial');
      Object.assign(stats, { workerBusyMs: busy, recoveredBy: recoveredBy(), schedulingMs: scheduling, scheduledAheadMs: scheduledAhead, preparedAhead: allIn, ranEarly, serialTail: n });
      return { result, stats, trace: tracing ? this.trace(result, 'serial', origin, scheduling, records) : undefined };
    }
    let plan: Plan;
    if (prepared !== undefined) {
      // Senders and partition were prepared while the previous block's commit was being written.
      plan = prepared;
    } else {
      // The plan is built here as the senders come in: each chunk a worker finishes is partitioned while the rest is
      // still being recovered, so the wait for the last one leaves only that chunk and the grouping to do.
      const builder = ahead?.builder ?? new PlanBuilder(block, rawsOf(txs), this.hints, W, this.opts.minSpeculativeGas);
      /**
       * Main-thread time off the block's critical path: waiting for senders, and partitioning those that came in
       * while the rest were still being recovered (the block could not have started sooner). Only what follows the
       * last of them is the block's scheduling.
       */
      let idle = 0;
      sendBlock();
      const collect = async (job: RecoverJob, what: string, done: () => boolean) => {
        const tw = performance.now();
        const built = builder.ms;
        let last = tw;
        let builtBefore = built;
        const unwatch = watchJob(job, () => wake?.());
        try {
          await until(() => {
            last = performance.now();
            builtBefore = builder.ms;
            return builder.advance() || done();
          }, what);
        } finally {
          unwatch();
        }
        idle += last - tw;
        scheduledAhead += builtBefore - built;
      };
      /** Signature recovery, claimed in chunks by every worker. */
      const recover = async (unknown: number[]) => {
        const job = recoverJob(unknown, builder.raws);
        jobs.push(job);
        builder.expect(job, true);
        for (let w = 0; w < W; w++) pool.send(w, { t: 'recover', seq, job });
        await collect(job, 'recovering senders', () => false);
      };
      const aheadJob = ahead?.job;
      if (aheadJob !== undefined) {
        // Recovered ahead, during the previous block: take what is done, wait for the rest (queued before this block).
        // A transaction the ahead pass could not recover (it decoded under the previous block's rules) is tried again.
        await collect(aheadJob, 'recovering senders ahead', () => jobDone(aheadJob));
        const retries = builder.retries();
        if (retries.length > 0) await recover(retries);
      } else if (ahead === undefined) {
        // Skipped for senders already known (recovered by the source).
        const unknown = builder.unknown();
        if (unknown.length > 0) await recover(unknown);
      }
      if (!builder.advance()) throw new Error(`block ${block.header.number}: ${builder.added} of ${n} senders known after their recovery`);
      plan = builder.finish();
      scheduling += performance.now() - ts0 - idle;
    }
    const ts1 = performance.now();
    const dispatchFrom = prepared !== undefined ? ts0 : ts1;
    const { senders, part, runs } = plan;
    if (runs === undefined) {
      // One predicted dependency component holds (nearly) all of the block's expected gas, or its transactions are
      // too cheap to speculate on: speculation cannot gain what it costs, run it here directly (see
      // SERIAL_LOAD_SHARE and MIN_SPECULATIVE_GAS in plan.ts). With its senders known before it started, the workers
      // need nothing of it: the message would only wake them to compete for this thread's core at its dispatch (lab
      // runs on a 250 Hz kernel saw whole clock ticks, 4.1-4.3 or 8.1-8.4 ms of scheduling, lost there; fewer without
      // the message, not none). They get the next block's senders and state-root jobs as those come; after a block
      // of plain transfers, recovering the next one's senders is most of the work, and every worker takes part.
      if (prepared === undefined || this.faultsArmed) sendBlock();
      this.writeAway = recoverBesideMain(plan.gasPerTx);
      this.recoverAhead(next, true, 'ahead', this.writeAway);
      scheduling += performance.now() - dispatchFrom;
      if (tracing) await this.runTraced(run, 0, n, origin, records);
      else for (let i = 0; i < n; i++) await this.executor.runSerial(run, i);
      const result = await this.executor.finish(run);
      const stats = this.serialStats(n, t0, 'serial');
      Object.assign(stats, { groups: part.stats.groups, largestGroup: part.stats.largestGroup, predictedParallelFraction: part.stats.predictedParallelFraction });
      Object.assign(stats, { workerBusyMs: busy, recoveredBy: recoveredBy(), schedulingMs: scheduling, scheduledAheadMs: scheduledAhead, preparedAhead: prepared !== undefined, partitionedEarly: plan.early, serialTail: n });
      this.onMessage = undefined;
      this.onFailure = undefined;
      return { result, stats, trace: tracing ? this.trace(result, 'serial', origin, scheduling, records) : undefined };
    }
    const { groupOf, claims } = runs.table;
    const homeOf = new Int32Array(part.groups.length);
    part.assignment.forEach((list, w) => list.forEach((i) => (homeOf[groupOf[i]] = w)));
    /** The worker running transaction i's group (its home worker while nobody has claimed it). */
    const owner = (i: number) => {
      const c = Atomics.load(claims, groupOf[i]);
      return c === 0 ? homeOf[groupOf[i]] : c - 1;
    };
    // The last worker to get its work ends the block's scheduling: nothing else is done between the sends (a worker
    // woken by the first may take the main thread's core). Each worker gets the block's start with its runs, unless a
    // 'block' message went before: one message per worker (a 'block' broadcast and then the runs took 0.07 and 0.04 ms
    // of the mainnet blocks' dispatch, the header's JSON 0.04 more where it was not made ahead).
    const start = startOnce();
    for (let w = 0; w < W; w++) {
      const accounts = new Map<string, Uint8Array | null>();
      const slots = new Map<string, Uint8Array>();
      for (const i of shared === undefined ? part.assignment[w] : []) {
        const to = txs[i].to;
        const keys = to === undefined ? part.predicted[i] : [...part.predicted[i], 'a' + hex(to.bytes)];
        for (const k of keys) {
          if (k[0] === 'a') {
            const a = k.slice(1);
            if (!accounts.has(a)) accounts.set(a, await store.getAccountRLP(fromHex(a)));
          } else if (!slots.has(k.slice(1))) {
            slots.set(k.slice(1), await store.getStorage(fromHex(k.slice(1, 41)), fromHex(k.slice(41))));
          }
        }
      }
      const home = runs.homes[w];
      pool.send(w, { t: 'run', seq, worker: w, table: runs.table, home, accounts: [...accounts], slots: [...slots], block: start }, [home.buffer as ArrayBuffer]);
    }
    scheduling += performance.now() - dispatchFrom;
    // The next block's transactions are serialized for the workers at the first wait for a result below.
    let aheadPending = next !== undefined;

    this.rollback.senders = senders;
    let serialFrom = n;
    for (let i = 0; i < n; i++) {
      const c = this.rollback.counts;
      if (c.reexecuted >= ABANDON_AFTER && c.reexecuted * 2 > c.reexecuted + c.firstRun) {
        // Speculation is mostly wasted on this block (contention nobody predicted): stop the workers and finish the
        // block serially here. What the conflicts taught is in the hints, so later blocks group these transactions.
        pool.abort(seq);
        serialFrom = i;
        if (tracing) await this.runTraced(run, i, n, origin, records);
        else for (let j = i; j < n; j++) await this.executor.runSerial(run, j);
        break;
      }
      let r = results.get(i);
      if (r === undefined && aheadPending) {
        // The main thread would wait here anyway: send the workers the next block's signatures now (time the next
        // block's schedule took ahead, off this block's path).
        aheadPending = false;
        this.recoverAhead(next, false);
        r = results.get(i);
      }
      if (r === undefined) {
        let got: SpeculativeResult | undefined;
        waiting = { index: i, resolve: (x) => ((got = x), wake?.()) };
        await until(() => got !== undefined, `waiting for transaction ${i}`, owner(i));
        r = got!;
      } else results.delete(i);
      const info = await this.rollback.commit(run, r);
      if (tracing) records[i] = this.record(run, r, info, origin);
    }
    if (aheadPending) scheduling += this.recoverAhead(next, true);
    this.onMessage = undefined;
    this.onFailure = undefined;
    const result = await this.executor.finish(run);
    const { firstRun, reexecuted, conflictKeys } = this.rollback.counts;
    return {
      result,
      stats: {
        mode: 'parallel',
        serialTail: n - serialFrom,
        txs: n,
        reexecuted,
        rollbackRate: n === 0 ? 0 : reexecuted / n,
        parallelFraction: n === 0 ? 0 : firstRun / n,
        groups: part.stats.groups,
        largestGroup: part.stats.largestGroup,
        takenGroups: claims.reduce((k, c, g) => (c !== 0 && c - 1 !== homeOf[g] ? k + 1 : k), 0),
        predictedParallelFraction: part.stats.predictedParallelFraction,
        rootSharded: false,
        receiptsOffloaded: false,
        workerBusyMs: busy,
        recoveredBy: recoveredBy(),
        schedulingMs: scheduling,
        scheduledAheadMs: scheduledAhead,
        preparedAhead: prepared !== undefined,
        partitionedEarly: plan.early,
        ranEarly: 0,
        aheadOnPath: 0,
        wallMs: performance.now() - t0,
        conflictKeys: [...conflictKeys],
      },
      trace: tracing ? this.trace(result, 'parallel', origin, scheduling, records) : undefined,
    };
  }

  /**
   * The next block's plan, built between blocks as far as its senders are known, and finished here when they all
   * are before the block starts (otherwise the block finishes it). The partition uses the hints learned so far,
   * including the current block's conflicts; a conflict learned after this (none is, before the next block starts:
   * blocks commit in order) would make the block partition again.
   */
  private prepareNext(): void {
    const ahead = this.ahead;
    if (this.executing || ahead === undefined || this.pool === undefined || this.prepared?.block === ahead.block) return;
    const { builder } = ahead;
    if (builder.serialWhateverSenders()) {
      // It will run on the main thread whatever its senders are: it needs no partition, only its senders, pinned on
      // their objects here as they come in (each chunk the workers finish calls back here); it starts with those that
      // are in (see `executeParallel`). Its successor's go to the workers now, behind its own, not on its path when it
      // starts (2,000 transactions serialized: 2-3 ms). Lab, 2026-12-07, the generated ERC-20 blocks (partitioned here
      // before only to be run serially): 7,913 tx/s against 7,683 (medians of five alternating runs), main-thread CPU
      // 890-920 ms over the window against 910-960.
      if (this.upcoming.next === ahead.block) this.recoverAhead(this.upcoming.after, false, 'later', recoverBesideMain(builder.expectedGasPerTx()));
      const t0 = performance.now();
      builder.pin(Infinity);
      builder.ms += performance.now() - t0;
      return;
    }
    // Its senders are still coming in (the workers were not done with them when this block's commit began).
    if (!builder.advance()) return;
    this.unwatch?.();
    this.unwatch = undefined;
    this.prepared = builder.finish();
    if (this.prepared.runs !== undefined) {
      // Its workers will get its header: made now, between blocks, not at its dispatch.
      const t0 = performance.now();
      this.headerOf(ahead.block);
      builder.ms += performance.now() - t0;
    }
    // The next block will run on the main thread, with no wait in which to send its successor's transactions to the
    // workers: send them now, while this block's write is under way.
    if (this.prepared.runs === undefined && this.upcoming.next === ahead.block) {
      this.recoverAhead(this.upcoming.after, false, 'later', recoverBesideMain(this.prepared.gasPerTx));
    }
  }

  /** Trace record of a transaction committed by the rollback manager. */
  private record(run: BlockRun, r: SpeculativeResult, info: CommitInfo, origin: number): TxRecord {
    const attempts: Attempt[] = [];
    const start = (r.start ?? origin) - origin;
    attempts.push({
      worker: r.worker ?? MAIN_THREAD,
      kind: 'speculative',
      start,
      end: start + (r.ms ?? 0),
      committed: info.firstRun,
      invalidatedBy: info.firstRun ? undefined : info.stale.map(nameKey),
    });
    let ms = r.ms ?? 0;
    if (!info.firstRun) {
      attempts.push({ worker: MAIN_THREAD, kind: 'reexecution', start: info.start! - origin, end: info.end! - origin, committed: true });
      ms = info.end! - info.start!;
    }
    return { attempts, committedAt: performance.now() - origin, node: { deps: info.deps!, gas: run.txs[r.index].gasUsed, ms } };
  }

  /** Commit an executed block, then refresh the workers' caches with its diff. */
  async commit(result: BlockResult): Promise<void> {
    await this.commitWith(result);
  }

  /** Commit with the block's verification record and trace in the same atomic batch; returns the committed record. */
  async commitWith(result: BlockResult, verification?: PreparedCommit['verification'], trace?: string): Promise<BlockRecord> {
    const committing = this.executor.commit(result, verification, trace);
    // LevelDB writes the batch on a thread of its own: meanwhile the next block's schedule is built here, from the
    // senders recovered so far and from each chunk the workers finish.
    const job = this.ahead?.job;
    if (this.ahead !== undefined) setImmediate(() => this.prepareNext());
    if (job !== undefined && !jobDone(job)) {
      this.unwatch?.();
      this.unwatch = watchJob(job, () => this.prepareNext());
    }
    // A next block too small for the workers gets no recovery ahead, and would send its successor's transactions to
    // them on its own path (a block of one transaction followed by one of 823: 2.6-3.3 ms of scheduling): they go now.
    const upcoming = this.upcoming;
    const small = upcoming.next !== undefined && this.tooSmall(upcoming.next);
    const sendAfter = () => {
      if (small && this.upcoming === upcoming && !this.executing) this.recoverAhead(upcoming.after, false, 'later', true);
    };
    if (small) setImmediate(sendAfter);
    const { record, state } = await committing;
    // A write that finished before the immediate ran (an in-memory database): prepare now, still between blocks. Its
    // time is the next block's `scheduledAheadMs` either way.
    if (this.ahead !== undefined) this.prepareNext();
    sendAfter();
    if (this.pool === undefined) return record;
    const cleared: string[] = [];
    for (const [addr, d] of result.diff.accounts) if (d.storageCleared) cleared.push(addr);
    this.pool.broadcast({ t: 'commit', state, cleared, codes: [...result.diff.codes] });
    return record;
  }

  /** Continue on another executor (another store, possibly other chain rules): the workers' caches start over. */
  attach(executor: BlockExecutor, profile?: ChainProfile): void {
    if (this.pool !== undefined) {
      this.executor.store.shareTrie(undefined);
      this.executor.store.writeOn(undefined);
      executor.store.shareTrie(this.sharder);
      executor.store.writeOn(this.writer);
      this.executor.receiptsSink = undefined;
      executor.receiptsSink = (block) => this.receiptsFor(block);
    }
    this.executor = executor;
    if (profile !== undefined) this.profile = profile;
    this.rollback.attach(executor);
    this.invalidateCaches();
  }

  /** After an unwind the workers' caches no longer match the head. */
  invalidateCaches(): void {
    this.pool?.broadcast({ t: 'clear' });
  }

  /**
   * Forget what earlier blocks taught, keeping only the threads (and their compiled code): conflict hints and gas
   * estimates, the workers' caches, and every thread's code table with its code analyses. The benchmark does so after
   * its warm-up, so that the measured blocks learn nothing from having been seen before.
   */
  forgetLearned(): void {
    this.hints.clear();
    forgetInternedCode();
    this.pool?.broadcast({ t: 'clear', code: true });
    // The next block's plan, prepared during the last commit, was partitioned by the hints just forgotten: prepared
    // again now, between blocks, not on that block's path when it starts. (Left stale, the benchmark's first measured
    // mainnet block was planned again on its path every pass: 0.54-1.05 ms of scheduling, the slowest of the 30.)
    if (!this.executing && this.ahead !== undefined && this.prepared?.block === this.ahead.block) {
      this.prepared = undefined;
      this.prepareNext();
    }
  }
}
