/**
 * The benchmark: the same blocks through three engines in one run.
 *   reference  @ethereumjs/vm runBlock, serial, library defaults (MerkleStateManager, pure-JS crypto), in a process
 *              that loads none of Parallax's patches to the library (reference-jobs.ts)
 *   parallax1  Parallax's serial path (one worker: the main thread)
 *   parallaxN  Parallax with N worker threads
 * Every measured block's state root, receipts root and gas are checked equal across the three engines.
 *
 * Each engine run is a process of its own (see `inChild` and engine-process.ts), given the workload's blocks as bytes:
 * its peak RSS is its own, and no engine runs on a heap, a JIT state or caches another one left behind.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createCommon } from '../chain/profile.ts';
import { nativeCrypto, recoveryBackend } from '../crypto/index.ts';
import type { RecoveryBackend } from '../crypto/backend.ts';
import { BlockExecutor } from '../exec/executor.ts';
import { ParallelExecutor, type BlockStats } from '../exec/parallel.ts';
import { sharedTxCommon } from '../exec/tx-common.ts';
import { ParallaxError, type ErrorCode } from '../errors.ts';
import { createDatabase } from '../state/db.ts';
import { commitGenesis, type Alloc } from '../state/genesis.ts';
import { StateStore } from '../state/store.ts';
import { hex } from '../util/bytes.ts';
import type { BlockTrace } from '../insight/trace.ts';
import { forgetInternedCode } from '../state/overlay.ts';
import { levelDbDelta } from '../state/leveldb-stats.ts';
import { FixtureReplayer } from '../replay/run.ts';
import { CpuMeter } from './cpu.ts';
import { blockDone, isProgressNote, progressLine, PROGRESS_EVERY_MS, type ProgressNote } from './progress.ts';
import { figuresOf, mainnetFiles, mainnetFixtures, runReferenceJob, type EngineFigures, type Fingerprint, type Fixture, type GeneratedInput, type ReferenceJob } from './reference-jobs.ts';
import { TRAFFIC_CHAIN, TrafficGenerator } from './traffic.ts';
import { trafficOptionsFor, workloadBlocks, type WorkloadName } from './workloads.ts';

export { mainnetFiles, type EngineFigures, type GeneratedInput };

export interface WorkloadResult {
  name: string;
  blocks: number;
  /**
   * Blocks every engine ran unmeasured just before the measured ones, all of the same kind (the mainnet workload: its
   * whole warm-up pass over the fixture blocks).
   */
  warmupBlocks: number;
  txs: number;
  gas: string;
  engines: { reference: EngineFigures; parallax1: EngineFigures; parallaxN: EngineFigures };
  ratios: { parallaxNOverReference: number; parallaxNOverParallax1: number };
}

/** One workload's throughput at each worker count, beside the speedup bound of its blocks. */
export interface ScalingResult {
  name: string;
  /** Total gas over the critical paths' gas, summed over the measured blocks: no worker count can beat it. */
  bound: number;
  points: { workers: number; mgasPerSec: number; speedup: number; rollbackRate: number }[];
}

export interface BenchReport {
  /**
   * `nodeFlags`: the Node/V8 flags every engine process ran with (the same for all: see cli/relaunch.ts);
   * `recovery`: the libsecp256k1 Parallax's engines recovered senders with (crypto/backend.ts).
   */
  machine: { cpus: number; model: string; memoryGb: number; node: string; nodeFlags: string[]; recovery: RecoveryBackend['name'] };
  workers: number;
  command: string;
  workloads: WorkloadResult[];
  /** Present with --scale: Parallax at 1..max workers per workload. */
  scaling?: ScalingResult[];
}

export type BenchWorkload = WorkloadName | 'mainnet';

export interface BenchOptions {
  workloads: BenchWorkload[];
  workers: number;
  quick: boolean;
  seed: number;
  /** Also run Parallax at every worker count from 1 to this (beyond the core count if asked). */
  scaleTo?: number;
  /**
   * Run each Parallax engine this many times (default 1), parallax1 and parallaxN alternating, and report each one's
   * median run: this machine's run-to-run spread is wide, and alternation spreads slow phases over both engines.
   */
  repeat?: number;
  /** Measured blocks of each generated workload, instead of the default size's (4, or 2 with `quick`). */
  blocks?: number;
  /** Unmeasured blocks of each generated workload's kind before its measured ones (default 3, or 1 with `quick`). */
  warmup?: number;
  /** Override the generated workloads' size (measured blocks, transactions per block, holders). */
  size?: { blocks: number; txs: number; holders: number };
  onProgress?: (line: string) => void;
}

/** Dependency-graph totals of measured blocks, for the workload's speedup bound. */
interface GraphTotals {
  gas: bigint;
  critical: bigint;
}

function addTrace(t: GraphTotals, trace: BlockTrace | undefined): void {
  if (trace === undefined) return;
  t.gas += BigInt(trace.totalGas);
  t.critical += BigInt(trace.critical.gas.gas);
}

function boundOf(t: GraphTotals): number {
  return t.critical > 0n ? Number(t.gas) / Number(t.critical) : 1;
}

/**
 * A block decoded as the daemon's sources decode it, for Parallax: on a Common of its own that its transactions share
 * (`sharedTxCommon`). The library's way copies the Common, with its parameter tables, into every transaction: ~3 KB
 * of heap each, and a benchmark holding tens of thousands of decoded transactions made every full collection of the
 * main thread mark them (a heap snapshot after the transfers workload: 33,048 transactions, 33,068 Commons, 54 MB of
 * property tables out of 219 MB).
 */
function decodeAsDaemon(encoded: Uint8Array, common: Common): Block {
  return createBlockFromRLP(encoded, { common: sharedTxCommon(common) });
}

/**
 * Parallax-1 and Parallax-N, `repeat` times each, alternating (1, N, 1, N, ...); each engine's median run by total
 * time (of an even count, the faster of the middle two), with every run's tx/s in `runs` when there was more than
 * one. `run` must check each run's results itself.
 */
async function alternate<T extends { figures: EngineFigures }>(name: string, repeat: number, workers: number, progress: (l: string) => void, run: (workers: number, onProgress: (line: string) => void) => Promise<T>): Promise<{ p1: T; pN: T }> {
  const one: T[] = [];
  const many: T[] = [];
  const start = (w: number, k: number) => {
    const label = `${name}: parallax, ${w} worker${w === 1 ? '' : 's'}${repeat > 1 ? ` (run ${k + 1} of ${repeat})` : ''}`;
    progress(label);
    return run(w, (l) => progress(`${label}, ${l}`));
  };
  for (let k = 0; k < repeat; k++) {
    one.push(await start(1, k));
    many.push(await start(workers, k));
  }
  return { p1: medianOf(one), pN: medianOf(many) };
}

function medianOf<T extends { figures: EngineFigures }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.figures.ms - b.figures.ms);
  const median = sorted[(sorted.length - 1) >> 1];
  if (runs.length > 1) median.figures.runs = runs.map((r) => r.figures.tps);
  return median;
}

/**
 * Parallax on a fresh LevelDB: setup blocks unmeasured, then the measured blocks (execute + state root + commit).
 * As in a daemon catching up, with the next blocks fetched, every block is executed knowing its two successors: the
 * workers recover the next block's senders and the main thread prepares its schedule while the block finishes, and
 * if that schedule runs the next block on the main thread, the one after it is sent to the workers during the
 * block's commit. Setup blocks know theirs too (the last ones know the first measured blocks), so the first measured
 * block follows a block prepared like every other, and the last measured blocks know `tails` (generated, never
 * executed; two of them). So each measured block carries the ahead work of exactly one block.
 */
export async function runParallax(input: GeneratedInput, workers: number) {
  forgetInternedCode();
  const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  const decoding = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  const all = [...input.measured, ...input.tails].map((e) => decodeAsDaemon(e, decoding));
  const blocks = all.slice(0, input.measured.length);
  // Setup blocks are decoded as they come, each kept only while it is one of the next two (see below), as a daemon
  // holds only the blocks it fetched ahead.
  const S = input.setup.length;
  const ahead = new Map<number, Block>();
  const chainAt = (i: number): Block | undefined => {
    if (i >= S) return all[i - S];
    let b = ahead.get(i);
    if (b === undefined) ahead.set(i, (b = decodeAsDaemon(input.setup[i], decoding)));
    return b;
  };
  const dir = await mkdtemp(join(tmpdir(), 'parallax-bench-'));
  const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 16 });
  try {
    await commitGenesis(store, input.alloc, input.genesis, 'bench genesis');
    const executor = await BlockExecutor.create({ common, store });
    const engine = await ParallelExecutor.create(executor, { workers, minParallelTxs: 8, txTimeoutMs: 60_000, profile: TRAFFIC_CHAIN, kzg: false });
    try {
      for (let i = 0; i < S; i++) {
        const b = chainAt(i)!;
        await engine.commit((await engine.execute(b, { next: chainAt(i + 1), after: chainAt(i + 2) })).result);
        ahead.delete(i);
        blockDone('setup', i + 1, S);
      }
      const lat: number[] = [];
      const stats: BlockStats[] = [];
      const prints: Fingerprint[] = [];
      let gas = 0n;
      let txs = 0;
      let stateRootMs = 0;
      let commitMs = 0;
      const graph: GraphTotals = { gas: 0n, critical: 0n };
      // Read before the workers stop: a thread that has ended takes its CPU time with it.
      const cpu = new CpuMeter();
      const ldbBefore = store.levelDbStats();
      for (const [i, b] of blocks.entries()) {
        cpu.start();
        const t0 = performance.now();
        const { result, stats: s, trace } = await engine.execute(b, { next: all[i + 1], after: all[i + 2] });
        addTrace(graph, trace);
        const t1 = performance.now();
        await engine.commit(result);
        // A worker may still be writing a block's batch as the next block runs; the last block's counts until it is in
        // LevelDB.
        if (i === blocks.length - 1) await store.flushed();
        const t2 = performance.now();
        cpu.stop();
        blockDone('measured', i + 1, blocks.length);
        lat.push(t2 - t0);
        stats.push(s);
        stateRootMs += result.timings.stateRootMs;
        commitMs += t2 - t1;
        gas += result.gasUsed;
        txs += b.transactions.length;
        prints.push({ stateRoot: hex(result.stateRoot), receiptsRoot: hex(result.receiptsRoot), gasUsed: result.gasUsed });
      }
      const f = figuresOf(gas, txs, lat, cpu);
      const ldbAfter = store.levelDbStats();
      if (ldbBefore !== undefined && ldbAfter !== undefined) f.leveldb = levelDbDelta(ldbBefore, ldbAfter);
      const reexec = stats.reduce((a, s) => a + s.reexecuted, 0);
      const firstRun = stats.reduce((a, s) => a + s.parallelFraction * s.txs, 0);
      f.stateRootMs = stateRootMs;
      f.commitMs = commitMs;
      if (workers > 1) {
        f.rollbackRate = txs === 0 ? 0 : reexec / txs;
        f.parallelFraction = txs === 0 ? 0 : firstRun / txs;
        f.schedulingMsPerBlock = stats.reduce((a, s) => a + s.schedulingMs, 0) / Math.max(1, stats.length);
        f.schedulingMaxMs = Math.max(0, ...stats.map((s) => s.schedulingMs));
        f.scheduledAheadMsPerBlock = stats.reduce((a, s) => a + s.scheduledAheadMs, 0) / Math.max(1, stats.length);
      }
      return { figures: f, prints, bound: boundOf(graph) };
    } finally {
      await engine.close();
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The 30 mainnet fixture blocks (each on its own pre-state): reference, Parallax-1 and Parallax-N. */
async function mainnetWorkload(opts: BenchOptions, progress: (l: string) => void): Promise<WorkloadResult> {
  const blocks = (await mainnetFiles(opts.quick)).length;
  progress(`mainnet: reference (@ethereumjs/vm runBlock) over ${blocks} blocks, once to warm up and once measured`);
  const ref = await inChild<{ figures: EngineFigures; gas: bigint; txs: number }>({ t: 'mainnet-reference', quick: opts.quick }, (l) => progress(`mainnet: reference, ${l}`));
  const { p1, pN } = await alternate('mainnet', opts.repeat ?? 1, opts.workers, progress, (workers, onProgress) =>
    inChild<{ figures: EngineFigures; bound: number }>({ t: 'mainnet-parallax', quick: opts.quick, workers, txs: ref.txs }, onProgress),
  );
  return workloadResult('mainnet', blocks, blocks, ref.txs, ref.gas, { reference: ref.figures, parallax1: p1.figures, parallaxN: pN.figures });
}

/** The fixture blocks through Parallax with `workers` workers (each block on its own pre-state), after a warm-up pass. */
async function mainnetParallax(raws: Fixture[], workers: number, txs: number): Promise<{ figures: EngineFigures; bound: number }> {
  forgetInternedCode();
  const replayer = new FixtureReplayer({ workers });
  const lat: number[] = [];
  let g = 0n;
  let reexec = 0;
  let firstRun = 0;
  let sched = 0;
  let schedMax = 0;
  let stateRootMs = 0;
  let commitMs = 0;
  const graph: GraphTotals = { gas: 0n, critical: 0n };
  const cpu = new CpuMeter();
  try {
    for (const [i, raw] of raws.entries()) {
      const r = await replayer.replay(raw, raws[i + 1] ?? raws[0], undefined, raws[(i + 2) % raws.length]);
      if (r.mismatches.length > 0) throw new ParallaxError('HEAD_MISMATCH', `${raw.file} (warm-up): ${r.mismatches.join('; ')}`);
      blockDone('warm-up', i + 1, raws.length);
    }
    replayer.forgetLearned();
    for (const [i, raw] of raws.entries()) {
      const r = await replayer.replay(raw, raws[i + 1], cpu, raws[i + 2]);
      if (r.mismatches.length > 0) throw new ParallaxError('HEAD_MISMATCH', `${raw.file}: ${r.mismatches.join('; ')}`);
      blockDone('measured', i + 1, raws.length);
      lat.push(r.ms);
      g += r.gas;
      reexec += r.stats.reexecuted;
      firstRun += r.stats.parallelFraction * r.stats.txs;
      sched += r.stats.schedulingMs;
      schedMax = Math.max(schedMax, r.stats.schedulingMs);
      stateRootMs += r.stateRootMs;
      commitMs += r.commitMs;
      addTrace(graph, r.trace);
    }
  } finally {
    await replayer.close();
  }
  const f = figuresOf(g, txs, lat, cpu);
  f.stateRootMs = stateRootMs;
  f.commitMs = commitMs;
  f.rollbackRate = reexec / Math.max(1, txs);
  if (workers > 1) {
    f.parallelFraction = firstRun / Math.max(1, txs);
    f.schedulingMsPerBlock = sched / raws.length;
    f.schedulingMaxMs = schedMax;
  }
  return { figures: f, bound: boundOf(graph) };
}

function workloadResult(name: string, blocks: number, warmupBlocks: number, txs: number, gas: bigint, engines: WorkloadResult['engines']): WorkloadResult {
  return {
    name,
    blocks,
    warmupBlocks,
    txs,
    gas: gas.toString(),
    engines,
    ratios: {
      parallaxNOverReference: engines.parallaxN.mgasPerSec / engines.reference.mgasPerSec,
      parallaxNOverParallax1: engines.parallaxN.mgasPerSec / engines.parallax1.mgasPerSec,
    },
  };
}

/**
 * A generated workload as the engines get it: the setup blocks and the first `warm` blocks of `all` unmeasured, the
 * next `measured` blocks measured, and the rest (two) only ever passed as those blocks' successors.
 */
export function generatedInput(gen: TrafficGenerator, setup: Block[], all: Block[], warm: number, measured: number): GeneratedInput {
  if (all.length < warm + measured) throw new RangeError(`${all.length} blocks generated for ${warm} warm-up and ${measured} measured`);
  const bytes = (bs: Block[]) => bs.map((b) => b.serialize());
  return { alloc: gen.alloc(), genesis: gen.genesis, setup: bytes([...setup, ...all.slice(0, warm)]), measured: bytes(all.slice(warm, warm + measured)), tails: bytes(all.slice(warm + measured)) };
}

function sizes(quick: boolean) {
  return quick ? { blocks: 2, txs: 500, holders: 2000 } : { blocks: 4, txs: 2000, holders: 10_000 };
}

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const progress = opts.onProgress ?? (() => {});
  const size = opts.size ?? sizes(opts.quick);
  const { txs: perBlock, holders } = size;
  const nBlocks = opts.blocks ?? size.blocks;
  // Three by default: V8 compiles the hot paths over the first blocks of a kind (`--trace-opt` on the transfers
  // blocks after one warm-up block: 37-122 ms of compile jobs in each of the next ten), a cost a daemon pays once
  // after it starts and the measured blocks should carry as little of as a short run allows.
  const warm = opts.warmup ?? (opts.quick ? 1 : 3);
  const workloads: WorkloadResult[] = [];
  const scaling: ScalingResult[] = [];
  const scaleTo = opts.scaleTo ?? 0;
  for (const name of opts.workloads) {
    if (name === 'mainnet') {
      const w = await mainnetWorkload(opts, progress);
      workloads.push(w);
      if (scaleTo > 0) {
        const points: ScalingResult['points'] = [];
        let bound = 1;
        for (let k = 1; k <= scaleTo; k++) {
          progress(`mainnet: scaling, ${k} worker${k === 1 ? '' : 's'}`);
          const r = await inChild<{ figures: EngineFigures; bound: number }>({ t: 'mainnet-parallax', quick: opts.quick, workers: k, txs: w.txs });
          if (k === 1) bound = r.bound;
          const base = points[0]?.mgasPerSec ?? r.figures.mgasPerSec;
          points.push({ workers: k, mgasPerSec: r.figures.mgasPerSec, speedup: r.figures.mgasPerSec / base, rollbackRate: r.figures.rollbackRate ?? 0 });
        }
        scaling.push({ name: 'mainnet', bound, points });
      }
      continue;
    }
    const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
    // Blocks of the workload's kind ahead of the measured ones warm the engines up (JIT, caches, learned hints).
    const gen = new TrafficGenerator(common, trafficOptionsFor(opts.seed, perBlock, warm + nBlocks, holders));
    progress(`${name}: generating ${warm + nBlocks + 2} blocks of ${perBlock} transactions (and the setup)`);
    const setupBlocks = gen.setup(2000);
    // The last two are only ever the measured blocks' successors (see runParallax).
    const all = workloadBlocks(gen, name, warm + nBlocks + 2, perBlock);
    const input = generatedInput(gen, setupBlocks, all, warm, nBlocks);
    const measured = all.slice(warm, warm + nBlocks);
    type Run = { figures: EngineFigures; prints: Fingerprint[]; bound: number };
    const parallax = (workers: number, onProgress?: (line: string) => void) => inChild<Run>({ t: 'parallax', input, workers }, onProgress);
    progress(`${name}: reference (@ethereumjs/vm runBlock)`);
    const ref = await inChild<{ figures: EngineFigures; prints: Fingerprint[] }>({ t: 'reference', input }, (l) => progress(`${name}: reference, ${l}`));
    const { p1, pN } = await alternate(name, opts.repeat ?? 1, opts.workers, progress, async (workers, onProgress) => {
      const p = await parallax(workers, onProgress);
      // Every run's blocks against the reference's, not only the reported one.
      for (let i = 0; i < measured.length; i++) {
        const [q, r] = [p.prints[i], ref.prints[i]];
        if (q.stateRoot !== r.stateRoot || q.receiptsRoot !== r.receiptsRoot || q.gasUsed !== r.gasUsed) {
          throw new ParallaxError('HEAD_MISMATCH', `${name} block ${i + 1}: parallax with ${workers} worker${workers === 1 ? '' : 's'} differs from the reference (state root ${q.stateRoot} vs ${r.stateRoot})`);
        }
      }
      return p;
    });
    const txs = measured.reduce((a, b) => a + b.transactions.length, 0);
    const gas = ref.prints.reduce((a, p) => a + p.gasUsed, 0n);
    if (scaleTo > 0) {
      const points: ScalingResult['points'] = [];
      for (let k = 1; k <= scaleTo; k++) {
        const figures = k === 1 ? p1.figures : k === opts.workers ? pN.figures : (progress(`${name}: scaling, ${k} workers`), (await parallax(k)).figures);
        points.push({ workers: k, mgasPerSec: figures.mgasPerSec, speedup: figures.mgasPerSec / p1.figures.mgasPerSec, rollbackRate: figures.rollbackRate ?? 0 });
      }
      scaling.push({ name, bound: p1.bound, points });
    }
    workloads.push(workloadResult(name, measured.length, warm, txs, gas, { reference: ref.figures, parallax1: p1.figures, parallaxN: pN.figures }));
  }
  const cpu = cpus();
  return {
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, nodeFlags: engineFlags(), recovery: recoveryBackend },
    workers: opts.workers,
    command: '',
    workloads,
    scaling: scaleTo > 0 ? scaling : undefined,
  };
}

/** One engine run, as `inChild` hands it to a process of its own. */
export type EngineJob = ReferenceJob | ParallaxJob;
type ParallaxJob = { t: 'parallax'; input: GeneratedInput; workers: number } | { t: 'mainnet-parallax'; quick: boolean; workers: number; txs: number };

/**
 * Run a Parallax job in this process (what engine-process.ts does with the job it is sent). Reference jobs run in
 * processes that never load this module (see reference-jobs.ts); here one fails on its check.
 */
export async function runJob(job: EngineJob): Promise<unknown> {
  switch (job.t) {
    case 'reference':
    case 'mainnet-reference':
    case 'reference-blocks':
      return runReferenceJob(job);
    case 'parallax':
      return runParallax(job.input, job.workers);
    case 'mainnet-parallax':
      return mainnetParallax(await mainnetFixtures(job.quick), job.workers, job.txs);
  }
}

/** The Node flags of the engine processes: this process's, but the test runner's. */
function engineFlags(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--test'));
}

const ENGINE_PROCESS = fileURLToPath(new URL('./engine-process.ts', import.meta.url));

/**
 * Run `job` in a child process (the same Node, the same V8 flags but the test runner's) and return its result. The
 * child's output and errors go to this process's; a typed error there is the same typed error here, and a child that
 * dies without answering is a WORKER_FAILED naming the job.
 */
export function inChild<T>(job: EngineJob, onProgress?: (line: string) => void, progressMs = PROGRESS_EVERY_MS): Promise<T> {
  const what = `the benchmark's ${job.t} process${'workers' in job ? ` (${job.workers} worker${job.workers === 1 ? '' : 's'})` : ''}`;
  return new Promise<T>((resolve, reject) => {
    const child = fork(ENGINE_PROCESS, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: engineFlags(),
    });
    let answer: ChildAnswer | undefined;
    child.on('message', (m: ChildAnswer | ProgressNote) => {
      if (isProgressNote(m)) onProgress?.(progressLine(m));
      else answer = m;
    });
    child.once('error', (e) => reject(new ParallaxError('WORKER_FAILED', `${what} could not start: ${e.message}`, {}, { cause: e })));
    child.once('exit', (code, signal) => {
      if (answer?.ok === true) resolve(answer.result as T);
      else if (answer?.ok === false) reject(answer.code === undefined ? new Error(`${what}: ${answer.message}`) : new ParallaxError(answer.code, answer.message, answer.details));
      else reject(new ParallaxError('WORKER_FAILED', `${what} ended (${signal ?? `exit code ${code}`}) without a result`));
    });
    child.send({ ...job, progressMs } satisfies ChildJob);
  });
}

/** What `inChild` sends its engine process: the job, and how often to report progress (see progress.ts). */
export type ChildJob = EngineJob & { progressMs: number };

/** What an engine process sends back: its result, or the error that ended it. */
export type ChildAnswer = { ok: true; result: unknown } | { ok: false; message: string; code?: ErrorCode; details?: Record<string, unknown> };
