/**
 * Rollback manager: commits speculative results in block order, exactly as serial execution would have produced them.
 *
 * A speculative run of transaction i is a deterministic function of the values it read. Before i commits, every
 * value in its read set is compared with the value the committed state (pre-state plus transactions 0..i-1) holds
 * now. All equal: the run is what serial execution gives, and its write set is applied. Any different: the run is
 * discarded and i is re-executed on the committed state. Validation by value (not by version) makes the result
 * independent of which worker ran what and when, and lets the coinbase fee credit be a delta instead of a read.
 */
import { HintBook } from '../conflict/index.ts';
import type { BlockExecutor, BlockRun, TxOutcome } from '../exec/executor.ts';
import type { TxAccess } from '../state/overlay.ts';
import { NOT_NOW } from '../state/types.ts';
import { DependencyTracker } from '../insight/graph.ts';

export interface SpeculativeResult {
  index: number;
  outcome: TxOutcome | null;
  error: string | null;
  access: TxAccess;
  /** Worker that ran it, start (main thread's performance.now() scale) and duration, for the trace. */
  worker?: number;
  start?: number;
  ms?: number;
}

/** How a transaction was committed. */
export interface CommitInfo {
  /** Committed from its speculative run. */
  firstRun: boolean;
  /** Keys whose committed values differed from what the speculative run read (empty when it committed). */
  stale: string[];
  /** The re-execution on this thread (performance.now() scale), when there was one. */
  start?: number;
  end?: number;
  /** The transaction's direct dependencies (see `DependencyTracker`), when the block is traced. */
  deps?: number[];
}

/** Stale keys named per discarded run, at most. */
const STALE_SHOWN = 16;

export interface CommitCounts {
  /** Transactions committed from their first speculative run. */
  firstRun: number;
  /** Transactions re-executed because their run read stale state. */
  reexecuted: number;
  /** The keys that invalidated runs, with how many runs each invalidated. */
  conflictKeys: Map<string, number>;
}

export class RollbackManager {
  private executor: BlockExecutor;
  private readonly hints: HintBook;
  /** What the committed transactions of the current block changed, and who depends on whom. */
  readonly dependencies = new DependencyTracker();
  /** Whether commits report each transaction's dependencies (the block is traced). */
  private tracing = false;
  /** The block's coinbase (hex), for the fee credit's lazy tracking. */
  private coinbase = '';
  counts: CommitCounts = { firstRun: 0, reexecuted: 0, conflictKeys: new Map() };

  /** Recovered senders (hex) of the block's transactions, for learning hints. */
  private blockSenders: string[] = [];
  private senderKeys = new Set<string>();

  get senders(): string[] {
    return this.blockSenders;
  }

  set senders(list: string[]) {
    this.blockSenders = list;
    this.senderKeys = new Set(list.flatMap((s) => ['a' + s, 'b' + s]));
  }

  constructor(executor: BlockExecutor, hints: HintBook) {
    this.executor = executor;
    this.hints = hints;
  }

  attach(executor: BlockExecutor): void {
    this.executor = executor;
  }

  /** Start a block (its coinbase in hex); `tracing`: report each transaction's dependencies. */
  reset(coinbase: string, tracing: boolean): void {
    this.coinbase = coinbase;
    this.dependencies.reset(coinbase);
    this.tracing = tracing;
    this.counts = { firstRun: 0, reexecuted: 0, conflictKeys: new Map() };
  }

  /**
   * The keys whose committed values differ from what the run saw (none: the run is valid). Each value is read on this
   * call where the state can answer so (every read of the main thread's store can: see `StateReader.accountNow`),
   * without a promise per key; otherwise asynchronously.
   */
  private async staleKeys(access: TxAccess): Promise<string[]> {
    const state = this.executor.state;
    const stale: string[] = [];
    for (const [key, seen] of access.reads) {
      let now = state.valueNow(key);
      if (now === NOT_NOW) now = await state.valueOf(key);
      if (now !== seen) {
        stale.push(key);
        if (stale.length === STALE_SHOWN) break;
      }
    }
    return stale;
  }

  /** Commit transaction `r.index` (the next in block order) from its speculative run, or re-execute it. */
  async commit(run: BlockRun, r: SpeculativeResult): Promise<CommitInfo> {
    const i = r.index;
    const tx = run.block.transactions[i];
    const call = HintBook.callKey(tx);
    const staleKeys = await this.staleKeys(r.access);
    if (staleKeys.length === 0) {
      if (r.outcome === null) {
        // It saw exactly the committed state and still failed. Re-run it here: an invalid transaction fails again
        // with BLOCK_INVALID, while a failure of the worker's side (a state read it could not decode) shows as
        // what it is (DB_CORRUPT) instead of being blamed on the transaction.
        this.counts.reexecuted++;
        const start = performance.now();
        const { deps } = await this.runHere(run, i);
        return { firstRun: false, stale: [], start, end: performance.now(), deps };
      }
      this.executor.checkGas(run, i);
      await this.executor.state.apply(r.access, run.block.header.coinbase);
      await this.executor.record(run, i, r.outcome);
      this.counts.firstRun++;
      const deps = this.tracing ? this.dependencies.depsOf(r.access.reads.keys()) : undefined;
      this.dependencies.noteWrites(i, r.access);
      this.hints.learnGas(call, r.outcome.gasUsed);
      return { firstRun: true, stale: staleKeys, deps };
    }
    const stale = staleKeys[0];
    this.counts.reexecuted++;
    this.counts.conflictKeys.set(stale, (this.counts.conflictKeys.get(stale) ?? 0) + 1);
    // A sender's account is predicted for its own transactions already; filed as a hint under a call signature it
    // would tie every later call of that function to one account holder (seen: one swapper's account predicted for
    // half of all swaps, which merged the whole block into one group).
    if (!this.senderKeys.has(stale)) {
      this.hints.learnConflict(tx, this.senders[i] ?? '', stale);
      const writer = this.dependencies.writerOf(stale);
      if (writer !== undefined) this.hints.learnConflict(run.block.transactions[writer], this.senders[writer] ?? '', stale);
    }
    const start = performance.now();
    const { deps } = await this.runHere(run, i);
    return { firstRun: false, stale: staleKeys, start, end: performance.now(), deps };
  }

  /**
   * Run transaction `i` on this thread, tracked for its dependencies only (what it read and changed; nothing of it
   * is validated or sent anywhere), and note what it changed: a re-execution (see `runAllHere`).
   */
  async runHere(run: BlockRun, i: number): Promise<{ deps?: number[] }> {
    let deps: number[] | undefined;
    await this.runAllHere(run, i, i + 1, (_, d) => (deps = d));
    return { deps };
  }

  /**
   * Run transactions `from` to `to - 1` on this thread in block order, each tracked for its dependencies only, and
   * tell `done` of each (its dependencies when tracing, its start and end): a re-execution, or a block or a block's
   * tail run here in full (one promise for the whole run, not one per transaction).
   */
  async runAllHere(run: BlockRun, from: number, to: number, done: (i: number, deps: number[] | undefined, start: number, end: number) => void): Promise<void> {
    const state = this.executor.state;
    const executor = this.executor;
    for (let i = from; i < to; i++) {
      const start = performance.now();
      state.beginTx(this.coinbase, true);
      let deps: number[] | undefined;
      try {
        await executor.runSerial(run, i);
      } finally {
        deps = this.noteLocal(i);
      }
      done(i, deps, start, performance.now());
    }
  }

  /** End the tracking of transaction `i` run here: note what it changed; its dependencies when tracing. */
  private noteLocal(i: number): number[] | undefined {
    const local = this.executor.state.endTxHere();
    const deps = this.tracing ? this.dependencies.depsOfLocal(local) : undefined;
    this.dependencies.noteChanged(i, local);
    return deps;
  }
}
