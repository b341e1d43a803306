/**
 * The benchmark's reference engine: @ethereumjs/vm `runBlock`, serial, on the library's defaults (MerkleStateManager,
 * pure-JS crypto, the interpreter as published). Kept apart from run.ts so that the reference's process loads none
 * of Parallax's executor: the executor patches library prototypes (the interpreter in src/exec/evm-patches.ts, the
 * logs bloom in src/exec/bloom.ts), and a patch applies to every user of the library in the process. Before
 * 2026-12-05 the reference ran in a process that had loaded them, so it ran faster than the library as published.
 * Every reference job checks that no patch is loaded (`loadedPatches`) and fails if one is. The one line
 * scripts/patch-deps.ts edits in the installed runTx asks bloom.ts's hook first, which only that module installs: in a
 * reference process runTx makes its blooms as published.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import { Common } from '@ethereumjs/common';
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { createVM, runBlock, type VM } from '@ethereumjs/vm';
import { chainConfig, createCommon } from '../chain/profile.ts';
import { nativeCrypto } from '../crypto/index.ts';
import { ParallaxError } from '../errors.ts';
import type { Alloc } from '../state/genesis.ts';
import { fromHex, hex } from '../util/bytes.ts';
import { fixturesDir } from '../util/paths.ts';
import { loadedPatches } from '../util/patches.ts';
import { readFixture } from '../replay/fixture.ts';
import { CpuMeter, type CpuByThread } from './cpu.ts';
import { blockDone } from './progress.ts';
import type { LevelDbStats } from '../state/leveldb-stats.ts';
import { loadAlloc, runReferenceBlock, type ReferenceRun } from './reference.ts';
import { TRAFFIC_CHAIN, type TrafficGenerator } from './traffic.ts';

export interface EngineFigures {
  mgasPerSec: number;
  tps: number;
  ms: number;
  p50BlockMs: number;
  p99BlockMs: number;
  /** State root computation and LevelDB commit, inside `ms` and shown apart (Parallax only). */
  stateRootMs?: number;
  commitMs?: number;
  rollbackRate?: number;
  parallelFraction?: number;
  schedulingMsPerBlock?: number;
  /**
   * The largest scheduling time of one measured block (the target is per block: a mean over few blocks hides whether
   * one block or all of them missed it).
   */
  schedulingMaxMs?: number;
  /** Main-thread scheduling done ahead, overlapped with the previous block (not in `schedulingMsPerBlock`). */
  scheduledAheadMsPerBlock?: number;
  peakRssMb: number;
  /**
   * CPU time by kind of thread over the measured blocks, in ms (see `CpuMeter`); absent where the platform does not
   * report per-thread CPU time.
   */
  cpu?: CpuByThread;
  /**
   * Parallax engines on LevelDB: its flushes and compactions during the measured blocks (seconds, MB read and
   * written) and the database's tables at their end (see state/leveldb-stats.ts; whole MB and seconds per level).
   */
  leveldb?: LevelDbStats;
  /**
   * With --repeat K (Parallax engines only): the transactions per second of each of the K runs, in run order. The
   * other figures are those of the median run (by total time).
   */
  runs?: number[];
}

export interface Fingerprint {
  stateRoot: string;
  receiptsRoot: string;
  gasUsed: bigint;
}

/**
 * A generated workload as an engine's process receives it: the genesis (state and header) and the blocks' encodings.
 * `setup` blocks run unmeasured (the last one warms the engine up), then `measured`; `tails` are only ever the last
 * measured blocks' successors (see `runParallax` in run.ts).
 */
export interface GeneratedInput {
  alloc: Alloc;
  genesis: TrafficGenerator['genesis'];
  setup: Uint8Array[];
  measured: Uint8Array[];
  tails: Uint8Array[];
}

/**
 * The reference's jobs (see `EngineJob` in run.ts): a generated workload, the mainnet fixture blocks (warm-up pass and
 * measured pass), or given fixture files once each, with a result per block (`parallax replay --reference`).
 */
export type ReferenceJob = { t: 'reference'; input: GeneratedInput } | { t: 'mainnet-reference'; quick: boolean } | { t: 'reference-blocks'; files: string[] };

export function isReferenceJob(job: { t: string }): job is ReferenceJob {
  return job.t === 'reference' || job.t === 'mainnet-reference' || job.t === 'reference-blocks';
}

/** Run a reference job in this process, which must have loaded no patch of Parallax's. */
export async function runReferenceJob(job: ReferenceJob): Promise<unknown> {
  const patches = loadedPatches();
  if (patches.length > 0) {
    throw new ParallaxError('CONFIG_INVALID', `the benchmark's reference engine must run @ethereumjs as published, but its process has loaded: ${patches.join('; ')}`, { patches });
  }
  switch (job.t) {
    case 'reference':
      return runReference(job.input);
    case 'mainnet-reference':
      return mainnetReference(await mainnetFixtures(job.quick));
    case 'reference-blocks':
      return referenceBlocks(job.files);
  }
}

/** Each fixture file's block through the reference once, in order: its gas, transactions, time and verdict. */
async function referenceBlocks(files: string[]): Promise<ReferenceRun[]> {
  const runs: ReferenceRun[] = [];
  for (const file of files) {
    const raw = await readFixture(file);
    runs.push(await runReferenceBlock(raw.block, raw.preState, blockHashesOf(raw)));
  }
  return runs;
}

function blockHashesOf(raw: Fixture): Map<bigint, Uint8Array> {
  const hashes = new Map<bigint, Uint8Array>();
  for (const [n, h] of Object.entries(raw.blockHashes ?? {})) hashes.set(BigInt(n), fromHex(h));
  return hashes;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** An engine's figures from its measured blocks' gas, transactions and latencies (ms), and its CPU meter. */
export function figuresOf(gas: bigint, txs: number, lat: number[], cpu?: CpuMeter): EngineFigures {
  const ms = lat.reduce((a, b) => a + b, 0);
  return {
    mgasPerSec: ms > 0 ? Number(gas) / ms / 1000 : 0,
    tps: ms > 0 ? (txs * 1000) / ms : 0,
    ms,
    p50BlockMs: percentile(lat, 50),
    p99BlockMs: percentile(lat, 99),
    peakRssMb: rssMb(),
    cpu: cpu?.supported === true ? { ...cpu.used } : undefined,
  };
}

/**
 * Each engine decodes the blocks from their bytes with its own Common, as a node receives them: no engine inherits
 * senders another one recovered (a decoded transaction caches its sender's key), and the reference's transactions
 * recover with the library's default crypto.
 */
function decodeAll(encoded: Uint8Array[], common: Common): Block[] {
  return encoded.map((e) => createBlockFromRLP(e, { common }));
}

/** The reference engine over a MerkleStateManager initialised from the generator's genesis. */
async function runReference(input: GeneratedInput): Promise<{ figures: EngineFigures; prints: Fingerprint[] }> {
  const common = new Common({ chain: chainConfig(TRAFFIC_CHAIN), hardfork: 'cancun' });
  const stateManager = new MerkleStateManager({ common });
  await loadAlloc(stateManager, input.alloc);
  const vm: VM = await createVM({ common, stateManager });
  // The unmeasured setup is decoded with native crypto (its senders recover fast): only the measured blocks matter
  // here, and those recover with the library's default crypto.
  // Decoded one at a time, so that none is still held while the measured blocks run (a node holds only the blocks it
  // fetched ahead).
  const setupCommon = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  for (const [i, e] of input.setup.entries()) {
    await runBlock(vm, { block: createBlockFromRLP(e, { common: setupCommon }), generate: true, skipBlockValidation: true, skipHeaderValidation: true });
    blockDone('setup', i + 1, input.setup.length);
  }
  const blocks = decodeAll(input.measured, common);
  const lat: number[] = [];
  const prints: Fingerprint[] = [];
  let gas = 0n;
  let txs = 0;
  const cpu = new CpuMeter();
  for (const [i, b] of blocks.entries()) {
    cpu.start();
    const t0 = performance.now();
    const r = await runBlock(vm, { block: b, generate: true, skipBlockValidation: true, skipHeaderValidation: true });
    lat.push(performance.now() - t0);
    cpu.stop();
    blockDone('measured', i + 1, blocks.length);
    gas += r.gasUsed;
    txs += b.transactions.length;
    prints.push({ stateRoot: hex(r.stateRoot), receiptsRoot: hex(r.receiptsRoot), gasUsed: r.gasUsed });
  }
  return { figures: figuresOf(gas, txs, lat, cpu), prints };
}

/** The reference engine over the fixture blocks (each on its own pre-state), once to warm up and once measured. */
async function mainnetReference(raws: Fixture[]): Promise<{ figures: EngineFigures; gas: bigint; txs: number }> {
  const lat: number[] = [];
  const cpu = new CpuMeter();
  let gas = 0n;
  let txs = 0;
  for (const [k, raw] of [...raws, ...raws].entries()) {
    const r = await runReferenceBlock(raw.block, raw.preState, blockHashesOf(raw), k < raws.length ? undefined : cpu);
    if (!r.matched) throw new ParallaxError('HEAD_MISMATCH', `reference engine mismatched on ${raw.file}`);
    if (k < raws.length) blockDone('warm-up', k + 1, raws.length);
    else blockDone('measured', k + 1 - raws.length, raws.length);
    if (k < raws.length) continue;
    lat.push(r.ms);
    gas += r.gas;
    txs += r.txs;
  }
  return { figures: figuresOf(gas, txs, lat, cpu), gas, txs };
}

export type Fixture = Awaited<ReturnType<typeof readFixture>>;

/**
 * The mainnet fixture blocks to measure (every fifth with `quick`). Every engine runs the same blocks once first,
 * unmeasured, to warm up, as the generated workloads' engines run a block of their kind first: on this machine a
 * second pass over the 30 blocks was 9-18% faster than the first on Parallax (one or two workers), and a daemon runs
 * warm. What the warm-up could teach Parallax about the blocks themselves is forgotten before the measured pass (see
 * `forgetLearned`): only the threads and their compiled code stay warm.
 */
export async function mainnetFixtures(quick: boolean): Promise<Fixture[]> {
  return Promise.all((await mainnetFiles(quick)).map((f) => readFixture(f)));
}

/** Paths of the mainnet fixture blocks in block order (every fifth with `quick`). */
export async function mainnetFiles(quick: boolean): Promise<string[]> {
  const dir = join(fixturesDir(), 'mainnet-blocks');
  let files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz')).sort((a, b) => parseInt(a) - parseInt(b));
  if (quick) files = files.filter((_, i) => i % 5 === 0);
  return files.map((f) => join(dir, f));
}
