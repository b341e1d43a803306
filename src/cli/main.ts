#!/usr/bin/env node
/** The `parallax` command line: a thin layer over the library; each command lives in its own file. */
import { Command, CommanderError } from 'commander';
import { isParallaxError, errorMessage } from '../errors.ts';
import { EXIT, warn } from './output.ts';
import { registerReplay } from './replay.ts';
import { registerBench } from './bench.ts';
import { registerSpec } from './spec.ts';
import { registerRun } from './run.ts';
import { registerVerify } from './verify.ts';
import { registerDb } from './db.ts';
import { registerDev } from './dev.ts';
import { registerTrace } from './trace.ts';
import { relaunchWithHeapSettings } from './relaunch.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('parallax')
    .description('Parallax: a standalone parallel EVM execution node that verifies a chain\'s EVM results')
    .option('-c, --config <file|preset>', 'configuration file (JSON) or preset (selendra-mainnet, selendra-testnet, anvil-dev) overlaid on config/default.json')
    .showHelpAfterError()
    .exitOverride();
  registerRun(program);
  registerDev(program);
  registerVerify(program);
  registerDb(program);
  registerTrace(program);
  registerReplay(program);
  registerBench(program);
  registerSpec(program);
  return program;
}

export async function main(): Promise<void> {
  // `parallax ... | head` closes the pipe early: that is the reader's choice, not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.BAD_INPUT;
      return;
    }
    if (isParallaxError(e)) {
      warn(`error [${e.code}]: ${e.message}`);
      process.exitCode = e.code === 'BLOCK_INVALID' || e.code === 'HEAD_MISMATCH' ? EXIT.MISMATCH : e.code === 'SOURCE_FAILED' || e.code === 'WORKER_FAILED' ? EXIT.INTERNAL : EXIT.BAD_INPUT;
      return;
    }
    warn(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : errorMessage(e)}`);
    process.exitCode = EXIT.INTERNAL;
  }
}

// Run directly (`node src/cli/main.ts`): the whole program is loaded by now, so a relaunch for the heap settings loads
// it twice; bin/parallax.js, which the npm scripts use, settles them before loading anything.
if (import.meta.main) {
  relaunchWithHeapSettings(import.meta.filename);
  await main();
}
