import { InvalidArgumentError, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import { runBench, type BenchReport, type BenchWorkload, type EngineFigures } from '../bench/run.ts';
import { WORKLOADS } from '../bench/workloads.ts';
import { writeFile } from 'node:fs/promises';
import { scalingSvg } from '../insight/plot.ts';
import { out, pad, warn, writeJson } from './output.ts';
import { parseWorkers } from './replay.ts';

const ALL: BenchWorkload[] = ['mainnet', ...WORKLOADS];

function parseWorkload(v: string, prev: BenchWorkload[] = []): BenchWorkload[] {
  if (!(ALL as string[]).includes(v)) throw new InvalidArgumentError(`unknown workload "${v}" (allowed: ${ALL.join(', ')})`);
  return [...prev, v as BenchWorkload];
}

const f1 = (x: number | undefined, d = 1) => (x === undefined ? '-' : x.toFixed(d));
const pct = (x: number | undefined) => (x === undefined ? '-' : (x * 100).toFixed(1) + '%');

export function printReport(r: BenchReport): void {
  printMain(r);
  if (r.scaling === undefined) return;
  out('scaling (Parallax at 1..N workers; bound = total gas / critical-path gas of the measured blocks)');
  out(`${'workload'.padEnd(10)} ${pad('bound', 7)}  ${'workers: Mgas/s (speedup over 1 worker)'}`);
  for (const s of r.scaling) {
    out(`${s.name.padEnd(10)} ${pad(s.bound.toFixed(2) + 'x', 7)}  ${s.points.map((p) => `${p.workers}: ${p.mgasPerSec.toFixed(2)} (${p.speedup.toFixed(2)}x)`).join('  ')}`);
  }
}

function printMain(r: BenchReport): void {
  out(`machine: ${r.machine.cpus} cores (${r.machine.model}), ${r.machine.memoryGb} GiB, Node ${r.machine.node}${r.machine.nodeFlags.length > 0 ? ` (${r.machine.nodeFlags.join(' ')})` : ''}, senders recovered with the ${r.machine.recovery === 'system' ? "system's libsecp256k1" : "secp256k1 npm package's libsecp256k1"}; Parallax-N = ${r.workers} workers`);
  out(
    `${'workload'.padEnd(10)} ${'engine'.padEnd(10)} ${pad('Mgas/s', 8)} ${pad('tx/s', 8)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('root ms', 8)} ${pad('commit', 8)} ${pad('rollback', 9)} ${pad('parallel', 9)} ${pad('sched ms', 9)} ${pad('max', 6)} ${pad('ahead ms', 9)} ${pad('RSS MB', 7)}`,
  );
  for (const w of r.workloads) {
    for (const [name, e] of Object.entries(w.engines) as [string, EngineFigures][]) {
      out(
        `${w.name.padEnd(10)} ${name.padEnd(10)} ${pad(f1(e.mgasPerSec, 2), 8)} ${pad(f1(e.tps, 0), 8)} ${pad(f1(e.p50BlockMs), 8)} ${pad(f1(e.p99BlockMs), 8)} ${pad(f1(e.stateRootMs), 8)} ${pad(f1(e.commitMs), 8)} ${pad(pct(e.rollbackRate), 9)} ${pad(pct(e.parallelFraction), 9)} ${pad(f1(e.schedulingMsPerBlock, 2), 9)} ${pad(f1(e.schedulingMaxMs, 2), 6)} ${pad(f1(e.scheduledAheadMsPerBlock, 2), 9)} ${pad(f1(e.peakRssMb, 0), 7)}`,
      );
    }
    const runs = (['parallax1', 'parallaxN'] as const).flatMap((k) => (w.engines[k].runs === undefined ? [] : [`${k} ${w.engines[k].runs!.map((x) => x.toFixed(0)).join(' / ')}`]));
    if (runs.length > 0) out(`${w.name.padEnd(10)} runs (tx/s, in run order; the table has each engine's median): ${runs.join('; ')}`);
    out(`${w.name.padEnd(10)} ratios: Parallax-N / reference ${w.ratios.parallaxNOverReference.toFixed(2)}x, Parallax-N / Parallax-1 ${w.ratios.parallaxNOverParallax1.toFixed(2)}x  (${w.blocks} blocks after ${w.warmupBlocks} warm-up, ${w.txs} txs)`);
  }
  printCpu(r);
  printLevelDb(r);
}

/** LevelDB's flushes and compactions over the measured blocks, for the Parallax engines. */
function printLevelDb(r: BenchReport): void {
  if (!r.workloads.some((w) => Object.values(w.engines).some((e) => e.leveldb !== undefined))) return;
  out('LevelDB over the measured blocks (Parallax engines): flushes and compactions, their time and the MB they read and wrote; the database at the end (whole MB and seconds per level)');
  out(`${'workload'.padEnd(10)} ${'engine'.padEnd(10)} ${pad('comp s', 8)} ${pad('read MB', 8)} ${pad('wrote MB', 9)} ${pad('size MB', 8)} ${pad('tables', 7)}`);
  for (const w of r.workloads) {
    for (const [name, e] of Object.entries(w.engines) as [string, EngineFigures][]) {
      const l = e.leveldb;
      if (l === undefined) continue;
      out(`${w.name.padEnd(10)} ${name.padEnd(10)} ${pad(String(l.compactionSec), 8)} ${pad(String(l.readMb), 8)} ${pad(String(l.writtenMb), 9)} ${pad(String(l.sizeMb), 8)} ${pad(String(l.files), 7)}`);
    }
  }
}

/** CPU per transaction by kind of thread over the measured blocks (where the platform reports it). */
function printCpu(r: BenchReport): void {
  if (!r.workloads.some((w) => Object.values(w.engines).some((e) => e.cpu !== undefined))) return;
  out('CPU per transaction over the measured blocks, us (threads: main, execution workers, V8 helpers = GC and compiler, libuv = LevelDB I/O, other); cores = CPU time / wall time');
  out(`${'workload'.padEnd(10)} ${'engine'.padEnd(10)} ${pad('total', 8)} ${pad('main', 8)} ${pad('workers', 8)} ${pad('v8', 8)} ${pad('libuv', 8)} ${pad('other', 8)} ${pad('cores', 6)}`);
  for (const w of r.workloads) {
    for (const [name, e] of Object.entries(w.engines) as [string, EngineFigures][]) {
      const c = e.cpu;
      if (c === undefined || w.txs === 0) continue;
      const us = (ms: number) => pad(((ms * 1000) / w.txs).toFixed(0), 8);
      out(`${w.name.padEnd(10)} ${name.padEnd(10)} ${us(c.total)} ${us(c.main)} ${us(c.workers)} ${us(c.v8)} ${us(c.libuv)} ${us(c.other)} ${pad(e.ms > 0 ? (c.total / e.ms).toFixed(2) : '-', 6)}`);
    }
  }
}

/** An option's parser: a whole number from 1 to `max` (`what`: the kind of count, for the error). */
function countUpTo(what: string, max: number): (v: string) => number {
  return (v) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new InvalidArgumentError(`expected a ${what} count from 1 to ${max}, got "${v}"`);
    return Number(v);
  };
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('measure the reference engine, Parallax with 1 worker and with N workers on the same blocks, same run')
    .option('--workload <name>', `workload to run, repeatable (${ALL.join(', ')}); default: all`, parseWorkload)
    .option('--workers <n>', 'workers of Parallax-N (default: all cores)', (v) => parseWorkers(v), availableParallelism())
    .option('--quick', 'short run: fewer and smaller blocks')
    .option(
      '--blocks <n>',
      'measured blocks per generated workload, up to 100 (default 4; 2 with --quick); mainnet is always its 30 fixture blocks',
      // Every block is generated and held before the engines run, and the reference keeps its whole state in memory
      // (5.6 GB of RSS over 40 transfers blocks on this project's machine).
      countUpTo('block', 100),
    )
    .option('--warmup <n>', 'unmeasured blocks of each generated workload\'s kind that every engine runs first, up to 20 (default 3; 1 with --quick)', countUpTo('block', 20))
    .option('--seed <n>', 'seed of the generated workloads', (v) => Number(v), 1)
    .option('--scale <max>', 'also run Parallax at every worker count 1..max on each workload (max may exceed the cores)', countUpTo('worker', 256))
    .option('--repeat <k>', 'run each Parallax engine k times, alternating, and report its median run (the reference runs once)', countUpTo('repeat', 25), 1)
    .option('--plot <file.svg>', 'draw throughput against workers and each speedup beside its bound (uses --scale, default: 1..workers)')
    .option('--json <file>', 'write the report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ parallax bench --quick                        # every workload, small
  $ parallax bench --workload erc20 --workers 2   # one workload, full size
  $ parallax bench --json bench.json
  $ parallax bench --workload transfers --repeat 5   # median of 5 runs per Parallax engine
  $ parallax bench --workload transfers --blocks 40  # a longer run: the database grows, LevelDB compacts
  $ parallax bench --workload transfers --warmup 1   # measure from the second block of the kind (more JIT compiling)
  $ parallax bench --quick --scale 4 --plot scaling.svg   # workers 1..4, plotted`,
    )
    .action(async (opts: { workload?: BenchWorkload[]; workers: number; quick?: boolean; blocks?: number; warmup?: number; seed: number; json?: string; scale?: number; plot?: string; repeat: number }) => {
      const report = await runBench({
        workloads: opts.workload ?? ALL,
        workers: opts.workers,
        quick: opts.quick === true,
        blocks: opts.blocks,
        warmup: opts.warmup,
        seed: opts.seed,
        repeat: opts.repeat,
        scaleTo: opts.scale ?? (opts.plot !== undefined ? opts.workers : undefined),
        onProgress: (l) => warn(`[bench] ${l}`),
      });
      report.command = `parallax ${process.argv.slice(2).join(' ')}`;
      if (opts.json !== undefined) await writeJson(opts.json, report);
      if (opts.plot !== undefined && report.scaling !== undefined) {
        const m = report.machine;
        await writeFile(opts.plot, scalingSvg(report.scaling, `${report.command} · ${m.cpus} cores, Node ${m.node}`));
      }
      printReport(report);
    });
}
