/**
 * Soak: follow a generated chain (Hardhat Network driven by the traffic generator, as `parallax dev`) at full speed
 * for a while, and report blocks, transactions, Mgas/s, heap and RSS over time, with the heap's growth trend
 * (least-squares slope over the second half of the run, after warm-up).
 *
 *   node scripts/soak.ts --minutes 30 [--workers 2] [--txs 60] [--json soak.json]
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../src/config/index.ts';
import { runDev } from '../src/dev/index.ts';
import { createLogger } from '../src/log/index.ts';

export interface SoakSample {
  minute: number;
  blocks: number;
  txs: number;
  mgasPerSec: number;
  heapMb: number;
  rssMb: number;
}

export interface SoakReport {
  minutes: number;
  workers: number;
  blocks: number;
  txs: number;
  gas: string;
  matched: number;
  mismatched: number;
  mgasPerSec: number;
  samples: SoakSample[];
  heapSlopeMbPerMin: number;
  rssSlopeMbPerMin: number;
}

function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export async function soak(opts: { minutes: number; workers: number; txs: number; sampleSeconds?: number; onSample?: (s: SoakSample) => void }): Promise<SoakReport> {
  const config = await loadConfig({ env: {}, flags: { 'engine.workers': opts.workers, 'http.enabled': false, 'log.level': 'warn', 'source.pollMs': 20 } });
  const stop = new AbortController();
  const samples: SoakSample[] = [];
  let blocks = 0;
  let txs = 0;
  let gas = 0n;
  let execMs = 0;
  let matched = 0;
  let mismatched = 0;
  const t0 = performance.now();
  let last = { blocks: 0, gas: 0n, ms: 0 };
  const every = (opts.sampleSeconds ?? 10) * 1000;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const dGas = gas - last.gas;
    const dMs = execMs - last.ms;
    const s: SoakSample = {
      minute: (performance.now() - t0) / 60_000,
      blocks,
      txs,
      mgasPerSec: dMs > 0 ? Number(dGas) / dMs / 1000 : 0,
      heapMb: m.heapUsed / 2 ** 20,
      rssMb: m.rss / 2 ** 20,
    };
    last = { blocks, gas, ms: execMs };
    samples.push(s);
    opts.onSample?.(s);
  }, every);
  const end = setTimeout(() => stop.abort(), opts.minutes * 60_000);
  try {
    await runDev({
      config,
      log: createLogger({ level: 'warn', format: 'pretty', stream: process.stderr }),
      signal: stop.signal,
      txsPerBlock: opts.txs,
      intervalMs: 0,
      seed: 1,
      onBlock: (b) => {
        blocks++;
        txs += b.txs;
        gas += b.gas;
        execMs += b.ms;
        if (b.verification.matched) matched++;
        else mismatched++;
      },
    });
  } finally {
    clearInterval(timer);
    clearTimeout(end);
  }
  const late = samples.filter((s) => s.minute >= opts.minutes / 2);
  return {
    minutes: opts.minutes,
    workers: opts.workers,
    blocks,
    txs,
    gas: gas.toString(),
    matched,
    mismatched,
    mgasPerSec: execMs > 0 ? Number(gas) / execMs / 1000 : 0,
    samples,
    heapSlopeMbPerMin: slope(late.map((s) => s.minute), late.map((s) => s.heapMb)),
    rssSlopeMbPerMin: slope(late.map((s) => s.minute), late.map((s) => s.rssMb)),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, workers: { type: 'string', default: '2' }, txs: { type: 'string', default: '60' }, json: { type: 'string' } } });
  const minutes = Number(values.minutes);
  const workers = Number(values.workers);
  const txs = Number(values.txs);
  if (!(minutes > 0) || !Number.isInteger(workers) || workers < 1 || !Number.isInteger(txs) || txs < 1) {
    process.stderr.write('usage: node scripts/soak.ts --minutes N [--workers N] [--txs N] [--json FILE]\n');
    process.exit(2);
  }
  process.stdout.write(`${'minute'.padStart(7)} ${'blocks'.padStart(7)} ${'txs'.padStart(8)} ${'Mgas/s'.padStart(7)} ${'heap MB'.padStart(8)} ${'RSS MB'.padStart(7)}\n`);
  const r = await soak({
    minutes,
    workers,
    txs,
    sampleSeconds: minutes >= 10 ? 60 : 10,
    onSample: (s) =>
      process.stdout.write(`${s.minute.toFixed(1).padStart(7)} ${String(s.blocks).padStart(7)} ${String(s.txs).padStart(8)} ${s.mgasPerSec.toFixed(2).padStart(7)} ${s.heapMb.toFixed(0).padStart(8)} ${s.rssMb.toFixed(0).padStart(7)}\n`),
  });
  process.stdout.write(
    `${r.blocks} blocks, ${r.txs} txs, ${r.mgasPerSec.toFixed(2)} Mgas/s (Parallax execution, state root and commit), ${r.matched} matched, ${r.mismatched} mismatched; ` +
      `heap trend over the second half ${r.heapSlopeMbPerMin.toFixed(2)} MB/min, RSS ${r.rssSlopeMbPerMin.toFixed(2)} MB/min\n`,
  );
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify(r, null, 2) + '\n');
  if (r.mismatched > 0) process.exitCode = 1;
}
