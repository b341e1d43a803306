import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { runSpecPaths, type SpecResult } from '../spec/runner.ts';
import { EXIT, out, warn, writeJson } from './output.ts';
import { parseWorkers } from './replay.ts';

export function registerSpec(program: Command): void {
  program
    .command('spec')
    .description('run ethereum/tests BlockchainTests (files or folders) through Parallax')
    .argument('<paths...>', 'BlockchainTests .json files or folders')
    .option('--workers <n>', 'worker threads (1 = serial path; default: engine.workers of the configuration)', (v) => parseWorkers(v))
    .option('--filter <text>', 'only tests whose name contains this text')
    .option('--json <file>', 'write every result as JSON')
    .option('--progress', 'print a progress line to stderr every 500 tests')
    .addHelpText(
      'after',
      `
Examples:
  $ parallax spec ../shared/fixtures/ethereum-tests                       # all 6,829 tests
  $ parallax spec ../shared/fixtures/ethereum-tests/BlockchainTests/ValidBlocks --workers 2
  $ parallax spec some/file.json --filter wallet --json results.json`,
    )
    .action(async (paths: string[], options: { workers?: number; filter?: string; json?: string; progress?: boolean }, cmd: Command) => {
      const cfg = await loadConfig({ file: cmd.optsWithGlobals().config });
      const workers = options.workers ?? cfg.engine.workers;
      let n = 0;
      const t0 = performance.now();
      const onResult = (r: SpecResult) => {
        n++;
        if (r.status === 'failed') out(`FAILED ${r.file} :: ${r.name} [${r.network}]: ${r.reason}`);
        if (r.status === 'skipped') out(`skipped ${r.file} :: ${r.name} [${r.network}]: ${r.reason}`);
        if (options.progress === true && n % 500 === 0) warn(`[spec] ${n} tests, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      };
      const summary = await runSpecPaths(paths, { workers, filter: options.filter, onResult });
      if (options.json !== undefined) await writeJson(options.json, summary);
      out(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
      process.exitCode = summary.failed > 0 ? EXIT.MISMATCH : EXIT.OK;
    });
}
