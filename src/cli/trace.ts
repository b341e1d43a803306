/** `parallax trace <n>`: a recent block's execution trace from the database (the daemon must be stopped). */
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { ParallaxError } from '../errors.ts';
import { blockPage, laneName, scheduleSvg } from '../insight/svg.ts';
import { keyLabel, type BlockTrace } from '../insight/trace.ts';
import { addConfigFlags, commandConfig } from './config.ts';
import { openStore } from './db.ts';
import { out, pad, writeJson } from './output.ts';

export function registerTrace(program: Command): void {
  const cmd = program
    .command('trace')
    .description("a recent block's execution trace: attempts per worker, re-executions and their keys, critical path, speedup bound")
    .argument('<block>', 'block number', (v) => {
      if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError(`expected a block number, got "${v}"`);
      return BigInt(v);
    })
    .option('--json <file>', 'write the trace as JSON')
    .option('--svg <file>', 'write the schedule as SVG (one lane per worker)')
    .option('--html <file>', 'write the page /blocks/<n> serves');
  addConfigFlags(cmd, ['dataDir']).addHelpText(
    'after',
    `\nTraces are kept for the last engine.traceBlocks blocks. While the daemon runs, read them at /blocks/<n>/trace.\n\nExamples:\n  $ parallax trace 1200 --data-dir ./data\n  $ parallax trace 1200 --svg block-1200.svg`,
  );
  cmd.action(async (n: bigint, opts: { json?: string; svg?: string; html?: string }, c: Command) => {
    const { config } = await commandConfig(c);
    const store = await openStore(config.dataDir, config.store.undoDepth);
    let t: BlockTrace | undefined;
    try {
      t = (await store.trace(n)) as BlockTrace | undefined;
      if (t === undefined) {
        const head = store.head()!.number;
        throw new ParallaxError('STATE_MISSING', `no trace of block ${n} in ${config.dataDir}: executed head is ${head}, traces are kept for the last ${config.engine.traceBlocks} blocks (engine.traceBlocks)`, { block: n });
      }
    } finally {
      await store.close();
    }
    // Files first: a closed stdout (`| head`) must not lose them.
    if (opts.json !== undefined) await writeJson(opts.json, t);
    if (opts.svg !== undefined) await writeFile(opts.svg, scheduleSvg(t) + '\n');
    if (opts.html !== undefined) await writeFile(opts.html, blockPage(t));
    printTrace(t);
  });
}

export function printTrace(t: BlockTrace): void {
  const reexec = t.txs.filter((x) => x.attempts.some((a) => !a.committed));
  out(`block ${t.number} ${t.hash}`);
  out(`mode ${t.mode}, ${t.workers} worker(s), ${t.txs.length} txs, ${t.totalGas} gas, transaction phase ${t.spanMs.toFixed(2)} ms`);
  out(`speedup achieved ${t.speedup.achieved.toFixed(2)}x; bound ${t.speedup.boundByTime.toFixed(2)}x by time, ${t.speedup.boundByGas.toFixed(2)}x by gas, ${t.speedup.boundWithWorkers.toFixed(2)}x with ${t.workers} worker(s)`);
  out(`critical path (gas) ${t.critical.gas.txs.length} txs, ${t.critical.gas.gas} gas: ${t.critical.gas.txs.slice(0, 30).join(' ')}${t.critical.gas.txs.length > 30 ? ' …' : ''}`);
  if (t.conservation !== undefined) out(`value conserved ${t.conservation.ok ? 'yes' : 'NO'} (minted ${t.conservation.minted}, burned ${t.conservation.burned}, destroyed ${t.conservation.destroyed})`);
  out(`re-executed ${reexec.length}`);
  for (const x of reexec.slice(0, 50)) {
    const keys = x.attempts.flatMap((a) => a.invalidatedBy ?? []).map(keyLabel);
    out(`  tx ${pad(x.index, 5)}  ${keys.join('; ')}`);
  }
  if (reexec.length > 50) out(`  … ${reexec.length - 50} more (--json for all)`);
  out('    tx  attempts (lane start-end ms)');
  for (const x of t.txs.slice(0, 30)) {
    const a = x.attempts.map((y) => `${laneName(y.worker)} ${y.start.toFixed(2)}-${y.end.toFixed(2)}${y.committed ? '' : ' discarded'}`).join(', ');
    out(`  ${pad(x.index, 5)}  ${a}${x.onCriticalPath ? '  [critical]' : ''}`);
  }
  if (t.txs.length > 30) out(`  … ${t.txs.length - 30} more (--json for all)`);
}
