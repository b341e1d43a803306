import { InvalidArgumentError, type Command } from 'commander';
import { runDev } from '../dev/index.ts';
import { createLogger } from '../log/index.ts';
import { addConfigFlags, commandConfig } from './config.ts';
import { EXIT, out, warn } from './output.ts';
import { stopSignal } from './signals.ts';
import { blockLine } from './verify.ts';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ParallaxError } from '../errors.ts';
import { runSelendraDev } from '../dev/selendra-dev.ts';
import { selendraBlockLine } from '../source/selendra/follow.ts';
import { fixturesDir } from '../util/paths.ts';

async function selendraDev(opts: { blocks?: number; txs: number; seed: number; dataDir?: string; chainSpec?: string }, c: Command): Promise<void> {
  const { config } = await commandConfig(c, {});
  const log = createLogger({ ...config.log, stream: process.stderr });
  const stop = stopSignal(log);
  try {
    const r = await runSelendraDev({
      specPath: opts.chainSpec ?? join(fixturesDir(), 'selendra', 'mainnet_chainspec.json'),
      workers: config.engine.workers === 0 ? availableParallelism() : config.engine.workers,
      blocks: opts.blocks,
      txsPerBlock: opts.txs,
      seed: opts.seed,
      dataDir: opts.dataDir,
      signal: stop.signal,
      onInfo: (l) => warn(`[dev] ${l}`),
      onBlock: (b) => out(selendraBlockLine(b)),
    });
    out(`${r.matched} matched, ${r.mismatched} mismatched (${r.repairs} drift repairs)`);
    if (r.mismatched > 0) process.exitCode = EXIT.MISMATCH;
  } finally {
    stop.dispose();
  }
}

function positive(what: string) {
  return (v: string) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${v}"`);
    return Number(v);
  };
}

export function registerDev(program: Command): void {
  const cmd = program
    .command('dev')
    .description('demo: a local Hardhat node with generated traffic, followed and verified by the daemon (metrics on 127.0.0.1:9615)')
    .option('--blocks <n>', 'stop after n blocks and print "N matched, N mismatched"', positive('--blocks'))
    .option('--txs <n>', 'transactions per generated block', positive('--txs'), 60)
    .option('--interval <ms>', 'pause between generated blocks', (v) => {
      if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError(`--interval must be a number of milliseconds, got "${v}"`);
      return Number(v);
    }, 1000)
    .option('--seed <n>', 'seed of the generated traffic', positive('--seed'), 1)
    .option('--chain <name>', 'hardhat (an Ethereum chain) or selendra (the genuine Selendra runtime under chopsticks)', 'hardhat')
    .option('--chain-spec <file>', 'raw chain spec of the Selendra chain (default: the fixtures\' mainnet_chainspec.json)');
  addConfigFlags(cmd, ['engine.workers', 'http.host', 'http.port', 'log.level', 'log.format', 'dataDir']).addHelpText(
    'after',
    `
Starts node_modules/hardhat (Hardhat Network, shanghai, automine off) on a free port of 127.0.0.1, deploys WETH9,
Uniswap V2 and ERC-20 tokens, then mines a block of random traffic every --interval ms. Parallax follows it with
--workers threads and checks every block's state root, receipts root, logs bloom and gas used.

With --chain selendra: the Selendra runtime of --chain-spec runs under @acala-network/chopsticks-core on a free
port of 127.0.0.1 (WebSocket JSON-RPC); the driver sends the same kinds of EVM traffic as ethereum.transact
extrinsics plus Substrate transfers into EVM-mapped accounts, and Parallax follows over WebSocket from an empty
state, checking receipts, gas, logs and post-state against the chain (blocks take seconds: chopsticks executes the
runtime in its wasm interpreter).

Examples:
  $ parallax dev                          # until Ctrl-C; Grafana/Prometheus can scrape 127.0.0.1:9615
  $ parallax dev --chain selendra --blocks 10 --txs 10 --workers 2
  $ parallax dev --blocks 20 --workers 2  # ends with "20 matched, 0 mismatched"`,
  );
  cmd.action(async (opts: { blocks?: number; txs: number; interval: number; seed: number; dataDir?: string; chain: string; chainSpec?: string }, c: Command) => {
    if (opts.chain !== 'hardhat' && opts.chain !== 'selendra') throw new ParallaxError('CONFIG_INVALID', `--chain: expected hardhat or selendra, got "${opts.chain}"`);
    if (opts.chain === 'selendra') return selendraDev(opts, c);
    const { config } = await commandConfig(c, c.opts().logLevel === undefined && process.env.PARALLAX_LOG_LEVEL === undefined ? { 'log.level': 'warn' } : {});
    const log = createLogger({ ...config.log, stream: process.stderr });
    const stop = stopSignal(log);
    let matched = 0;
    let mismatched = 0;
    try {
      const r = await runDev({
        config,
        log,
        signal: stop.signal,
        blocks: opts.blocks,
        txsPerBlock: opts.txs,
        intervalMs: opts.interval,
        seed: opts.seed,
        keepDataDir: opts.dataDir !== undefined,
        onInfo: (l) => warn(`[dev] ${l}`),
        onBlock: (b) => {
          if (b.verification.matched) matched++;
          else mismatched++;
          out(blockLine(b));
        },
      });
      if (opts.blocks !== undefined && r.reason !== 'until') out(`stopped at block ${r.head} before ${opts.blocks}`);
      out(`${matched} matched, ${mismatched} mismatched`);
      if (mismatched > 0) process.exitCode = EXIT.MISMATCH;
    } finally {
      stop.dispose();
    }
  });
}
