import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { ReferenceRun } from '../bench/reference.ts';
import { inChild } from '../bench/run.ts';
import { readFixture } from '../replay/fixture.ts';
import { FixtureReplayer } from '../replay/run.ts';
import { loadConfig } from '../config/index.ts';
import { fixturesDir } from '../util/paths.ts';
import { EXIT, out, pad, writeJson } from './output.ts';

async function defaultFixtures(): Promise<string[]> {
  const dir = join(fixturesDir(), 'mainnet-blocks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz') || f.endsWith('.json'));
  return files.sort((a, b) => parseInt(a) - parseInt(b)).map((f) => join(dir, f));
}

export function parseWorkers(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`--workers must be an integer from 1 to 256, got "${v}"`);
  return n;
}

const mgas = (gas: bigint, ms: number) => (ms > 0 ? Number(gas) / ms / 1000 : 0);

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-execute block + pre-state fixtures and check receiptsRoot, gasUsed and logsBloom')
    .argument('[fixtures...]', 'fixture files (.json or .json.gz); default: every block in $PARALLAX_FIXTURES/mainnet-blocks')
    .option('--reference', 'also run serial @ethereumjs/vm runBlock (library defaults) on the same blocks and compare speed')
    .option('--workers <n>', 'worker threads (1 = serial path on the main thread; default: engine.workers of the configuration)', (v) => parseWorkers(v))
    .option('--json <file>', 'write per-block results as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ parallax replay                                   # the 30 mainnet fixture blocks
  $ parallax replay ../shared/fixtures/mainnet-blocks/19934116.json.gz
  $ parallax replay --reference --json replay.json   # with the library baseline, same run`,
    )
    .action(async (files: string[], options: { reference?: boolean; json?: string; workers?: number }, cmd: Command) => {
      const cfg = await loadConfig({ file: cmd.optsWithGlobals().config });
      const opts = { ...options, workers: options.workers ?? cfg.engine.workers };
      const paths = files.length > 0 ? files : await defaultFixtures();
      const replayer = new FixtureReplayer({ workers: opts.workers, minParallelTxs: cfg.engine.minParallelTxs, txTimeoutMs: cfg.engine.txTimeoutMs });
      let matched = 0;
      let mismatched = 0;
      let gas = 0n;
      let ms = 0;
      let refGas = 0n;
      let refMs = 0;
      const rows: unknown[] = [];
      // The reference runs first, every block once, in a process of its own: this one has loaded Parallax's patches to
      // the library (see bench/reference-jobs.ts).
      if (opts.reference === true) out(`reference @ethereumjs/vm runBlock: ${paths.length} block${paths.length === 1 ? '' : 's'} in a process of its own, first`);
      const refs = opts.reference === true ? await inChild<ReferenceRun[]>({ t: 'reference-blocks', files: paths }) : undefined;
      // Each fixture is read two blocks early, as the daemon fetches: the engine recovers the next block's senders while
      // this one finishes, and those of the block after that during this block's commit when the next one runs on the
      // main thread.
      const read = (k: number) => (k < paths.length ? readFixture(paths[k]) : undefined);
      let upcoming = await read(0);
      let after = await read(1);
      for (let k = 0; k < paths.length; k++) {
        const raw = upcoming!;
        upcoming = after;
        after = await read(k + 2);
        const r = await replayer.replay(raw, upcoming, undefined, after);
        gas += r.gas;
        ms += r.ms;
        const ok = r.mismatches.length === 0;
        if (ok) matched++;
        else mismatched++;
        let refText = '';
        const ref = refs?.[k];
        if (ref !== undefined) {
          refGas += ref.gas;
          refMs += ref.ms;
          refText = `  ref ms ${pad(ref.ms.toFixed(1), 8)}  ref Mgas/s ${pad(mgas(ref.gas, ref.ms).toFixed(2), 6)}${ref.matched ? '' : ' (ref MISMATCH)'}`;
        }
        const par = r.stats.mode === 'parallel' ? `  re-exec ${pad(r.stats.reexecuted, 4)}` : `  ${r.stats.mode}`;
        out(
          `block ${pad(r.number, 9)}  txs ${pad(r.txs, 5)}  gas ${pad(r.gas, 9)}  ms ${pad(r.ms.toFixed(1), 7)}  Mgas/s ${pad(mgas(r.gas, r.ms).toFixed(2), 6)}  sched ms ${pad(r.stats.schedulingMs.toFixed(2), 6)}${par}  ${ok ? 'matched' : 'MISMATCH: ' + r.mismatches.join('; ')}${refText}`,
        );
        rows.push({ ...r, reference: ref });
      }
      await replayer.close();
      out(`parallax (${opts.workers} worker${opts.workers === 1 ? '' : 's'}): ${mgas(gas, ms).toFixed(2)} Mgas/s over ${paths.length} blocks (${(ms / 1000).toFixed(2)} s, execution + state root + commit)`);
      if (opts.reference === true) {
        out(`reference @ethereumjs/vm runBlock: ${mgas(refGas, refMs).toFixed(2)} Mgas/s over ${paths.length} blocks (${(refMs / 1000).toFixed(2)} s)`);
        out(`speedup: ${(mgas(gas, ms) / mgas(refGas, refMs)).toFixed(2)}x`);
      }
      if (opts.json !== undefined) await writeJson(opts.json, { blocks: rows, matched, mismatched });
      out(`${matched} matched, ${mismatched} mismatched`);
      process.exitCode = mismatched > 0 ? EXIT.MISMATCH : EXIT.OK;
    });
}
