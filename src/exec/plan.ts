/**
 * A block's schedule, built on the main thread as the block's senders come in from the workers.
 *
 * The partition needs every transaction's sender. The workers recover them (usually ahead, while the previous block
 * finishes); the main thread used to wait for all of them and then partition the whole block, 3.5-6 ms for 2,000
 * transfers, on the block's path whenever the recovery was not done when the previous block's commit ended. Here the
 * main thread takes the transactions in block order as soon as their senders are written (a worker counts each chunk
 * it finishes in the job's shared memory and wakes the main thread), so by the time the last chunk comes in only that
 * chunk and the grouping are left.
 */
import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { HintBook, Partitioner, type Partition } from '../conflict/index.ts';
import { addressHex } from '../util/bytes.ts';
import { serializeTx } from '../util/rlp.ts';
import { RECOVERED, recoveredAt, runKeys, runTable, setRunKey, type RecoverJob, type RunKeys, type RunTable } from './protocol.ts';
import { pinSender } from './tx-common.ts';

/**
 * A block whose most loaded worker would get this share of its expected gas or more runs serially on the main thread
 * (the workers recover its senders and the next block's): speculation could gain at most 1 / share, 1.25x at 0.8,
 * and costs more CPU than that on two cores (every run sent back and validated, three threads compiling and
 * collecting garbage). Lab, 2026-12-05, 2 workers, alternating with the rule before (groups capped at a worker's
 * share, serial at 90% of the transactions in one group): the generated ERC-20 blocks (share 0.90-0.91) 4,695 /
 * 4,712 / 4,426 tx/s against 3,913 / 4,515 / 4,227 (CPU 297-310 us per transaction against 387-444), Uniswap
 * (0.94-0.95) 1,103 / 1,131 against 1,035 / 816, the mix (0.82-0.83) 2,359 / 2,149 / 2,280 against 2,098 / 2,133 /
 * 2,260 (CPU 560-610 against 694-748). The mainnet fixtures' blocks that speculate have shares of 0.50-0.64.
 */
const SERIAL_LOAD_SHARE = 0.8;

/**
 * Expected gas per transaction below which a block runs on the main thread, its successor's senders recovered by every
 * worker (see `ParallelOptions.minSpeculativeGas`, whose default this is). A speculative run costs about as much
 * again around it as a cheap transaction's execution (the run's read and write sets tracked and sent, validated,
 * applied and recorded on the main thread; three threads' garbage and compiling): on two cores, lab runs of the 4
 * transfers blocks (21,000 gas each) after 3 warm-up blocks, alternating (ABBA, twice): 9,602 / 9,926 / 9,383 / 9,871
 * tx/s on the main thread against 8,720 / 9,140 / 8,531 / 9,078 speculating, 173-190 us of CPU per transfer against
 * 206-218. On the mainnet fixtures every block on the main thread took 3,239 ms per pass against 3,491 (means of six,
 * ABBA), speculation winning only on blocks of heavier transactions (block 16,257,471, 207,000 gas used per
 * transaction: 240 ms against 425), and losing on every block below about 55,000 gas used per transaction; but a call
 * not learned yet is expected to use its gas limit, so this rule leaves most of those blocks speculating (lab, with
 * the rule: 3,685 ms per pass against 3,719, medians by block; docs/performance.md, fourteenth session).
 */
export const MIN_SPECULATIVE_GAS = 50_000;

/**
 * Expected gas per transaction below which every worker recovers the next block's senders beside a block the main
 * thread runs; above it one worker fewer than the cores does (see `ParallelOptions.cores`). The main thread runs a
 * plain transfer (21,000 gas) in about 46 us, faster than one worker recovers a sender (about 50-55 us with
 * libsecp256k1 on the benchmark's machine), so one worker would fall behind it; a token transfer (34,303 expected per
 * transaction on the generated ERC-20 blocks) takes it about 185 us, and a second worker recovering beside it would
 * only take the main thread's core in turns. Any call that writes a slot uses well over 25,000.
 */
export const EVERY_WORKER_RECOVERS_BELOW_GAS = 25_000;

/** Whether the next block's senders go to one worker fewer than the cores beside a block of this expected gas per transaction run on the main thread. */
export function recoverBesideMain(expectedGasPerTx: number): boolean {
  return expectedGasPerTx >= EVERY_WORKER_RECOVERS_BELOW_GAS;
}

/** Recovered slots copied out of a job's shared memory at a time (see `PlanBuilder.copy`). */
const COPY_RUN = 64;

/** How long the main thread sleeps on a job's progress before looking again anyway (a worker that died wakes nobody). */
const WATCH_MS = 1000;

type TxCache = { cache: { hash?: Uint8Array; senderPubKey?: Uint8Array } };

/** The transactions' encodings, for the workers. */
export function rawsOf(txs: readonly TypedTransaction[]): Uint8Array[] {
  return txs.map((t) => serializeTx(t));
}

/** A sender already recovered (by the source, or an earlier pass). */
export function senderPubKeyOf(tx: TypedTransaction): Uint8Array | undefined {
  return (tx as unknown as TxCache).cache.senderPubKey;
}

/**
 * A block's schedule: senders, partition, and the workers' run table with each one's home (absent when the block
 * will run serially: one worker would get `SERIAL_LOAD_SHARE` or more of its expected gas).
 */
export interface Plan {
  block: Block;
  /** The hints' version the partition was computed at (a later conflict may have taught more). */
  hintsVersion: number;
  senders: string[];
  part: Partition;
  runs?: { table: RunTable; homes: Int32Array[] };
  /**
   * Why a block without `runs` runs on the main thread: one worker would get `SERIAL_LOAD_SHARE` or more of its
   * expected gas ('dominant'), or its transactions are too cheap to speculate on ('cheap': `MIN_SPECULATIVE_GAS`).
   */
  serialBecause?: 'dominant' | 'cheap';
  /** The block's gas per transaction the plan went by (see `PlanBuilder.expectedGasPerTx`). */
  gasPerTx: number;
  /** Transactions partitioned before the last of the senders came in (see `PlanBuilder.early`). */
  early: number;
}

/** Where a transaction's sender comes from: a recovery job, and whether a signature it could not recover is final. */
interface Source {
  job: RecoverJob;
  /** A failure in this job makes the sender invalid; otherwise (an ahead job, decoded under the previous block's
   * rules) the transaction is recovered again at the block's start. */
  final: boolean;
}

/**
 * Builds a block's plan from its senders as they become known: from the transaction objects (recovered by the
 * source), or from recovery jobs the workers fill (`expect`). `advance` takes the transactions in block order as far
 * as their senders are written; `finish` groups them once all are.
 */
export class PlanBuilder {
  readonly block: Block;
  readonly raws: Uint8Array[];
  /** Main-thread time spent in `advance` and `finish` (making the builder is its maker's). */
  ms = 0;
  /**
   * Transactions partitioned before the call of `advance` that found the last sender: what was built while the rest
   * were still being recovered.
   */
  early = 0;
  private readonly hints: HintBook;
  private readonly workers: number;
  private readonly minSpeculativeGas: number;
  private hintsVersion: number;
  private part: Partitioner;
  private readonly senders: string[];
  /** Made at the first `advance` (off the path of a block whose successor's senders go out on it). */
  private table: RunKeys | undefined;
  private readonly sources: Source[] = [];
  /** Per transaction, its source's index in `sources` (-1: the sender was known when the builder was made) and slot. */
  private readonly sourceOf: Int32Array;
  private readonly slotOf: Int32Array;
  /**
   * A copy of a run of written slots of one job (`copy.job`, slots `from` .. `to` - 1): the keys are pinned on the
   * transaction objects, which outlive the job's shared memory, and one copy of a run costs a fraction of one per
   * transaction (each a backing store of its own: 1.1-1.8 ms per 2,000 against 0.2-0.3 copied 64 at a time).
   */
  private copy: { job: RecoverJob; from: number; to: number; keys: Uint8Array } | undefined;

  /** `minSpeculativeGas`: see `MIN_SPECULATIVE_GAS`. */
  constructor(block: Block, raws: Uint8Array[], hints: HintBook, workers: number, minSpeculativeGas = MIN_SPECULATIVE_GAS) {
    const n = block.transactions.length;
    this.block = block;
    this.raws = raws;
    this.hints = hints;
    this.workers = workers;
    this.minSpeculativeGas = minSpeculativeGas;
    this.hintsVersion = hints.version;
    this.part = new Partitioner(block.transactions, hints, workers);
    this.senders = new Array(n);
    this.sourceOf = new Int32Array(n).fill(-1);
    this.slotOf = new Int32Array(n);
  }

  /** The transactions whose senders are not known on their objects (to recover). */
  unknown(): number[] {
    const txs = this.block.transactions;
    const out: number[] = [];
    for (let i = 0; i < txs.length; i++) if (senderPubKeyOf(txs[i]) === undefined) out.push(i);
    return out;
  }

  /** The senders of transactions `job.txs.index` come from `job` (see `Source.final`). */
  expect(job: RecoverJob, final: boolean): void {
    const s = this.sources.push({ job, final }) - 1;
    const { index } = job.txs;
    for (let j = 0; j < index.length; j++) {
      this.sourceOf[index[j]] = s;
      this.slotOf[index[j]] = j;
    }
  }

  /** Every transaction is partitioned (`finish` may be called). */
  get complete(): boolean {
    return this.part.added === this.block.transactions.length;
  }

  /** Transactions partitioned so far. */
  get added(): number {
    return this.part.added;
  }

  /**
   * Partition the transactions, in block order, as far as their senders are known; true when all are. Stops at a
   * sender still being recovered, or at one an ahead job could not recover (see `retries`). If the hints learned
   * more since the partition began, it starts over (the senders found stay).
   */
  advance(): boolean {
    const t0 = performance.now();
    if (this.hints.version !== this.hintsVersion) {
      this.hintsVersion = this.hints.version;
      this.part = new Partitioner(this.block.transactions, this.hints, this.workers);
    }
    const txs = this.block.transactions;
    const n = txs.length;
    // A job of every transaction (in block order) lends its pack of their encodings.
    const table = (this.table ??= runKeys(this.raws, this.sources.find((s) => s.job.txs.index.length === n)?.job.txs));
    const { part, senders } = this;
    const before = part.added;
    for (let i = part.added; i < n; i++) {
      let sender = senders[i];
      if (sender === undefined) {
        const tx = txs[i];
        const s = this.sourceOf[i];
        if (s < 0) {
          setRunKey(table, i, senderPubKeyOf(tx)!);
          sender = addressHex(tx.getSenderAddress());
        } else {
          const { job, final } = this.sources[s];
          const j = this.slotOf[i];
          const ok = Atomics.load(job.ok, j);
          if (ok === 0 || (ok === 2 && !final)) break;
          if (ok === 2) sender = `invalid-${i}`;
          else {
            setRunKey(table, i, this.pinRecovered(tx, job, j));
            // Kept on the sender's Address object, which the state's reads and writes key by the same string.
            sender = addressHex(tx.getSenderAddress());
          }
        }
        senders[i] = sender;
      }
      part.add(i, sender);
    }
    if (this.complete && before < n) this.early = before;
    this.ms += performance.now() - t0;
    return this.complete;
  }

  /**
   * Pin the senders on their objects, in block order, as far as they are written and at most `max` more, without
   * partitioning anything (a block that runs on the main thread whatever its senders, started before they were all
   * in: see `serialWhateverSenders`). Returns the first transaction whose sender is not pinned yet (the block's length
   * when none is). A signature a job could not recover is left unpinned: the main thread recovers it when the
   * transaction runs, under the block's own rules, and rejects the block if it is invalid (as a partitioned block's
   * run does).
   */
  pin(max: number): number {
    const txs = this.block.transactions;
    let i = this.pinned;
    const end = Math.min(txs.length, i + max);
    for (; i < end; i++) {
      const s = this.sourceOf[i];
      // Known when the builder was made, or pinned when `advance` partitioned it.
      if (s < 0 || this.senders[i] !== undefined) continue;
      const { job } = this.sources[s];
      const j = this.slotOf[i];
      const ok = Atomics.load(job.ok, j);
      if (ok === 0) break;
      if (ok === 1) this.pinRecovered(txs[i], job, j);
    }
    return (this.pinnedTo = i);
  }

  /**
   * Pin on `tx` the sender `job` recovered in its slot `j` (written), and the hash, which tx.hash() would otherwise
   * compute by serializing the transaction again; returns the sender's public key.
   */
  private pinRecovered(tx: TypedTransaction, job: RecoverJob, j: number): Uint8Array {
    const r = this.recovered(job, j);
    pinSender(tx, r.pubkey, r.address);
    (tx as unknown as TxCache).cache.hash ??= r.hash;
    return r.pubkey;
  }

  /** Transactions whose senders `pin` has handled (see `pinned`). */
  private pinnedTo = 0;

  /** Transactions, from the first, whose senders are pinned on their objects (by `pin` or by `advance`). */
  get pinned(): number {
    return Math.max(this.pinnedTo, this.part.added);
  }

  /** What `job` recovered in its slot `j` (written), from a copy of the run of written slots from there. */
  private recovered(job: RecoverJob, j: number): ReturnType<typeof recoveredAt> {
    let c = this.copy;
    if (c === undefined || c.job !== job || j < c.from || j >= c.to) {
      const k = job.txs.index.length;
      let to = j + 1;
      while (to < k && to < j + COPY_RUN && Atomics.load(job.ok, to) !== 0) to++;
      c = this.copy = { job, from: j, to, keys: job.keys.slice(j * RECOVERED, to * RECOVERED) };
    }
    return recoveredAt(c.keys, j - c.from);
  }

  /** Transactions an ahead job (complete) could not recover: to recover again under the block's own rules. */
  retries(): number[] {
    const out: number[] = [];
    for (let i = this.part.added; i < this.block.transactions.length; i++) {
      const s = this.sourceOf[i];
      if (s >= 0 && !this.sources[s].final && Atomics.load(this.sources[s].job.ok, this.slotOf[i]) === 2) out.push(i);
    }
    return out;
  }

  /**
   * Whether the plan will run the block on the main thread whatever its senders turn out to be: its transactions'
   * gas per transaction (`expectedGasPerTx`), which does not depend on them, is below `minSpeculativeGas`, which
   * `finish` makes serial ('cheap', or 'dominant' first).
   */
  serialWhateverSenders(): boolean {
    return this.cheapness().cheap;
  }

  /**
   * The block's gas per transaction: by its header's gas used where the header has it (a block from a chain: the
   * exact average, known before the block runs; the schedule it decides never changes a result), else by the hints'
   * expected gas as they are now (what a call used before, else its gas limit; remembered for their version). Lab,
   * 2026-12-07, the mainnet fixtures, eleven passes alternating with the hints' estimate: faster in ten (medians
   * 2,668 ms per pass against 2,733 in one batch of eight, 2,695 against 2,892 in one of three), 219-226 re-executed
   * transactions against 350-355: four more blocks ran on the main thread, which their gas limits had made look heavy
   * (15,538,827 faster by 40-59 ms, 14,029,313 by 23-65; docs/performance.md, nineteenth session).
   */
  expectedGasPerTx(): number {
    return this.cheapness().perTx;
  }

  /** The header's gas used per transaction, when the header has it (see `expectedGasPerTx`). */
  private headerGasPerTx(): number | undefined {
    const n = this.block.transactions.length;
    const used = this.block.header.gasUsed;
    return used > 0n && n > 0 ? Number(used) / n : undefined;
  }

  private cheapness(): { cheap: boolean; perTx: number } {
    const txs = this.block.transactions;
    const header = this.headerGasPerTx();
    if (header !== undefined) return { cheap: this.cheap(header), perTx: header };
    if (this.cheapAt?.version !== this.hints.version) {
      let total = 0n;
      for (const tx of txs) total += this.hints.expectedGas(tx, HintBook.callKey(tx));
      const perTx = txs.length === 0 ? 0 : Number(total) / txs.length;
      this.cheapAt = { version: this.hints.version, cheap: txs.length === 0 || this.cheap(perTx), perTx };
    }
    return this.cheapAt;
  }

  private cheapAt: { version: number; cheap: boolean; perTx: number } | undefined;

  /** `finish`'s rule for a block too cheap to speculate on (`MIN_SPECULATIVE_GAS`), by its expected gas per transaction. */
  private cheap(expectedGasPerTx: number): boolean {
    return expectedGasPerTx < this.minSpeculativeGas;
  }

  /** The plan (every transaction partitioned). */
  finish(): Plan {
    const t0 = performance.now();
    const part = this.part.finish();
    let runs: Plan['runs'];
    let serialBecause: Plan['serialBecause'];
    const gasPerTx = this.headerGasPerTx() ?? part.stats.expectedGasPerTx;
    if (part.stats.heaviestShare >= SERIAL_LOAD_SHARE) serialBecause = 'dominant';
    else if (this.cheap(gasPerTx)) serialBecause = 'cheap';
    else runs = { table: runTable(this.table ?? runKeys(this.raws), part.groups), homes: part.assignment.map((list) => Int32Array.from(list)) };
    this.ms += performance.now() - t0;
    return { block: this.block, hintsVersion: this.hintsVersion, senders: this.senders, part, runs, serialBecause, gasPerTx, early: this.early };
  }
}

/** All of a job's transactions are finished (recovered or not). */
export function jobDone(job: RecoverJob): boolean {
  return Atomics.load(job.done, 0) >= job.txs.index.length;
}

/**
 * Call `onProgress` each time a worker finishes a chunk of `job` (and at least every `WATCH_MS`), until the job is
 * complete or the returned function is called.
 */
export function watchJob(job: RecoverJob, onProgress: () => void): () => void {
  let stopped = false;
  const arm = () => {
    if (stopped || jobDone(job)) return;
    const w = Atomics.waitAsync(job.done, 0, Atomics.load(job.done, 0), WATCH_MS);
    const next = () => {
      if (stopped) return;
      onProgress();
      arm();
    };
    if (w.async) void w.value.then(next);
    else setImmediate(next);
  };
  arm();
  return () => {
    stopped = true;
  };
}
