/**
 * `parallax bench --scale/--plot`: the scaling points and the workloads' speedup bounds, drawn. Independent
 * transfers have a bound near the block size; a block of swaps on one pool is one dependency chain (bound 1).
 * No assertion on speed: the figures are measured, only their shape is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBlockFromRLP } from '@ethereumjs/block';
import { generatedInput, inChild, runBench, type GeneratedInput } from '../src/bench/run.ts';
import { TRAFFIC_CHAIN, TrafficGenerator } from '../src/bench/traffic.ts';
import { trafficOptionsFor, workloadBlocks } from '../src/bench/workloads.ts';
import { createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { isParallaxError } from '../src/errors.ts';
import { scalingSvg } from '../src/insight/plot.ts';

test('bench --scale 2 --plot: one line per workload, a point per worker count, bounds from the dependency graphs', async () => {
  const report = await runBench({ workloads: ['transfers', 'contended'], workers: 2, quick: true, seed: 5, scaleTo: 2, size: { blocks: 2, txs: 120, holders: 40 } });
  const scaling = report.scaling!;
  assert.deepEqual(scaling.map((s) => s.name), ['transfers', 'contended']);
  for (const s of scaling) {
    assert.deepEqual(s.points.map((p) => p.workers), [1, 2]);
    assert.equal(s.points[0].speedup, 1);
    for (const p of s.points) assert.ok(p.mgasPerSec > 0);
    // The 1- and 2-worker points are the same measurements as the main table's parallax1 and parallaxN.
    const w = report.workloads.find((x) => x.name === s.name)!;
    assert.equal(s.points[0].mgasPerSec, w.engines.parallax1.mgasPerSec);
    assert.equal(s.points[1].mgasPerSec, w.engines.parallaxN.mgasPerSec);
  }
  const [transfers, contended] = scaling;
  // 120 transfers per block to fresh accounts from distinct payers: the critical path is one transfer per block.
  assert.ok(Math.abs(transfers.bound - 120) < 1e-9, `transfers bound ${transfers.bound}`);
  // Every swap on the same pool reads the reserves the previous one wrote: one chain.
  assert.ok(contended.bound >= 1 && contended.bound < 1.05, `contended bound ${contended.bound}`);

  const svg = scalingSvg(scaling, 'test');
  const groups = [...svg.matchAll(/<g class="workload" data-workload="([a-z]+)">([\s\S]*?)<\/g>/g)];
  assert.deepEqual(groups.map((g) => g[1]), ['transfers', 'contended']);
  for (const g of groups) {
    assert.equal([...g[2].matchAll(/<circle class="point"/g)].length, 4, 'two throughput and two speedup points');
    assert.match(g[2], /class="bound"/);
  }
  assert.match(svg, /^<svg [^>]*class="scaling"/);
});

test('bench --repeat 3 --blocks 3 --warmup 2: each Parallax engine runs three times over three measured blocks, every run checked against the reference, and the table has its median run', async () => {
  const report = await runBench({ workloads: ['transfers'], workers: 2, quick: true, seed: 7, repeat: 3, blocks: 3, warmup: 2, size: { blocks: 2, txs: 60, holders: 30 } });
  const [w] = report.workloads;
  // --blocks sets the measured blocks over the size's; the transactions per block stay the size's.
  assert.equal(w.blocks, 3);
  assert.equal(w.warmupBlocks, 2);
  assert.equal(w.txs, 180);
  for (const k of ['parallax1', 'parallaxN'] as const) {
    const e = w.engines[k];
    assert.equal(e.runs?.length, 3, `${k}: three runs`);
    const sorted = [...e.runs!].sort((a, b) => a - b);
    // Runs over the same transactions: the median by time is the median by throughput.
    assert.equal(e.tps, sorted[1], `${k}: the reported run is the median`);
  }
  assert.equal(w.engines.reference.runs, undefined, 'the reference runs once');
  // The slowest block's scheduling, beside the mean: never below it, and only for the engine that schedules.
  const n = w.engines.parallaxN;
  assert.ok(n.schedulingMaxMs !== undefined && n.schedulingMsPerBlock !== undefined && n.schedulingMaxMs >= n.schedulingMsPerBlock, `max ${n.schedulingMaxMs}, mean ${n.schedulingMsPerBlock}`);
  assert.ok(n.schedulingMaxMs <= n.schedulingMsPerBlock * w.blocks + 1e-9, 'no block above the sum of all');
  assert.equal(w.engines.parallax1.schedulingMaxMs, undefined);
  assert.equal(w.ratios.parallaxNOverParallax1, w.engines.parallaxN.mgasPerSec / w.engines.parallax1.mgasPerSec);
});

test('generated workloads: the warm-up blocks run unmeasured right before the measured ones, the two successors after them', () => {
  const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  const gen = new TrafficGenerator(common, trafficOptionsFor(3, 30, 5, 30));
  const setup = gen.setup(2000);
  const all = workloadBlocks(gen, 'transfers', 7, 30);
  const input = generatedInput(gen, setup, all, 2, 3);
  const numbers = (bs: Uint8Array[]) => bs.map((b) => Number(createBlockFromRLP(b, { common }).header.number));
  const setupNumbers = numbers(input.setup);
  assert.equal(setupNumbers.length, setup.length + 2);
  // The two warm-up blocks are the workload's own (30 transfers each), the last two of the unmeasured run.
  assert.deepEqual(setupNumbers.slice(-2), [Number(all[0].header.number), Number(all[1].header.number)]);
  for (const b of input.setup.slice(-2)) assert.equal(createBlockFromRLP(b, { common }).transactions.length, 30);
  assert.deepEqual(numbers(input.measured), [2, 3, 4].map((i) => Number(all[i].header.number)));
  assert.deepEqual(numbers(input.tails), [5, 6].map((i) => Number(all[i].header.number)));
  // One chain: every block follows the one before it.
  const chain = [...setupNumbers, ...numbers(input.measured), ...numbers(input.tails)];
  chain.forEach((n, i) => i === 0 || assert.equal(n, chain[i - 1] + 1, `block ${i}`));
  assert.throws(() => generatedInput(gen, setup, all, 4, 4), /7 blocks generated for 4 warm-up and 4 measured/);
});

test('bench engine processes report their progress, pass by pass and block by block, at the interval asked', async () => {
  const gen = new TrafficGenerator(createCommon(TRAFFIC_CHAIN, nativeCrypto()), trafficOptionsFor(3, 30, 3, 30));
  const setup = gen.setup(2000);
  const all = workloadBlocks(gen, 'transfers', 6, 30);
  const input = generatedInput(gen, setup, all, 2, 2);
  // The warm-up blocks are setup blocks to the engines: run, not measured.
  const S = setup.length + 2;
  const expected = [...Array.from({ length: S }, (_, i) => `setup block ${i + 1} of ${S}`), 'measured block 1 of 2', 'measured block 2 of 2'];
  for (const job of [{ t: 'reference', input } as const, { t: 'parallax', input, workers: 2 } as const]) {
    const lines: string[] = [];
    await inChild(job, (l) => lines.push(l), 0);
    assert.deepEqual(lines, expected, job.t);
  }
  // At the default interval (10 s) a run of a few seconds says nothing.
  const quiet: string[] = [];
  await inChild({ t: 'parallax', input, workers: 1 }, (l) => quiet.push(l));
  assert.deepEqual(quiet, []);
});

test("bench engine processes: an error in an engine's process is passed on, a typed one with its code, any other with its message and the job's name", async () => {
  const genesis = { number: 0n, hash: new Uint8Array(32), parentHash: new Uint8Array(32), timestamp: 0n };
  const input: GeneratedInput = { alloc: { '0x00000000000000000000000000000000000000aa': { balance: 'ten' } }, genesis, setup: [], measured: [], tails: [] };
  await assert.rejects(inChild({ t: 'parallax', input, workers: 1 }), (e: unknown) => {
    assert.ok(isParallaxError(e, 'FIXTURE_INVALID'), String(e));
    assert.match((e as Error).message, /"ten" is not a number/);
    return true;
  });
  // Bytes that are no block: the library's own error, passed on with its message.
  await assert.rejects(inChild({ t: 'reference', input: { ...input, alloc: {}, measured: [new Uint8Array([0xc0])] } }), (e: unknown) => {
    assert.ok(!isParallaxError(e), 'not one of ours');
    assert.match((e as Error).message, /^the benchmark's reference process: .+/);
    return true;
  });
  // A process that cannot even start its job (a mainnet run with no fixtures where it looks).
  const saved = process.env.PARALLAX_FIXTURES;
  process.env.PARALLAX_FIXTURES = '/nonexistent-parallax-fixtures';
  try {
    await assert.rejects(inChild({ t: 'mainnet-reference', quick: true }), /^Error: the benchmark's mainnet-reference process: .*(ENOENT|no such file)/);
  } finally {
    if (saved === undefined) delete process.env.PARALLAX_FIXTURES;
    else process.env.PARALLAX_FIXTURES = saved;
  }
});

test("bench reference: its process loads none of Parallax's library patches, and a reference job refuses to run where one is loaded", async () => {
  const { execFileSync } = await import('node:child_process');
  // What a fresh process has loaded after importing a module, as engine-process.ts imports them.
  const patchesAfter = (module: string): string[] => {
    const script = `const m = await import(${JSON.stringify(new URL(module, import.meta.url).href)}); const p = await import(${JSON.stringify(new URL('../src/util/patches.ts', import.meta.url).href)}); console.log(JSON.stringify(p.loadedPatches()));`;
    return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n').pop()!) as string[];
  };
  assert.deepEqual(patchesAfter('../src/bench/reference-jobs.ts'), []);
  const withRun = patchesAfter('../src/bench/run.ts');
  assert.ok(withRun.some((p) => p.includes('evm-patches.ts')) && withRun.some((p) => p.includes('bloom.ts')), withRun.join('; '));
  // This test process has loaded run.ts, so a reference job here must refuse.
  const { runReferenceJob } = await import('../src/bench/reference-jobs.ts');
  await assert.rejects(runReferenceJob({ t: 'mainnet-reference', quick: true }), (e: unknown) => {
    assert.ok(isParallaxError(e, 'CONFIG_INVALID'), String(e));
    assert.match((e as Error).message, /reference engine must run @ethereumjs as published.*evm-patches\.ts/);
    return true;
  });
});
