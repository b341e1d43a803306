import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ParallaxError } from '../errors.ts';
import { createLogger } from '../log/index.ts';
import { createMetrics } from '../metrics/index.ts';
import { ParallaxNode, type BlockReport } from '../node/index.ts';
import { createSource, rpcHooks } from '../source/index.ts';
import { addConfigFlags, commandConfig } from './config.ts';
import { EXIT, out, warn } from './output.ts';
import { availableParallelism } from 'node:os';
import { followSelendra, selendraBlockLine } from '../source/selendra/follow.ts';
import { redactUrl } from '../config/index.ts';
import { stopSignal } from './signals.ts';

async function verifySelendra(url: string, opts: { from: bigint; to: string }, c: Command, tmp: string | undefined): Promise<void> {
  if (!/^wss?:\/\//.test(url)) throw new ParallaxError('CONFIG_INVALID', `--ws: expected a ws:// or wss:// URL, got "${url}"`);
  const { config } = await commandConfig(c, { ...(tmp !== undefined ? { dataDir: tmp } : {}), 'http.enabled': false });
  const log = createLogger({ ...config.log, stream: process.stderr });
  const stop = stopSignal(log);
  try {
    const r = await followSelendra({
      url,
      dataDir: config.dataDir,
      workers: config.engine.workers === 0 ? availableParallelism() : config.engine.workers,
      from: opts.from,
      to: opts.to === 'latest' ? undefined : BigInt(opts.to),
      signal: stop.signal,
      onStart: (i) => warn(`selendra node ${redactUrl(url)}: chain id ${i.chainId}, runtime spec ${i.specVersion}, blocks ${i.from}..${i.to}`),
      onBlock: (b) => out(selendraBlockLine(b)),
    });
    out(`${r.matched} matched, ${r.mismatched} mismatched (${r.repairs} drift repairs)`);
    if (r.mismatched > 0) process.exitCode = EXIT.MISMATCH;
  } finally {
    stop.dispose();
  }
}

function parseBlock(v: string): bigint {
  if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError(`expected a block number, got "${v}"`);
  return BigInt(v);
}

/** One line per verified block, shared by `verify` and `dev`. */
export function blockLine(r: BlockReport): string {
  const v = r.verification;
  const slot = v.state?.find((s) => s.slot !== undefined) ?? v.state?.[0];
  const what = v.matched
    ? 'match'
    : `MISMATCH ${v.mismatches.map((m) => m.field).join(',')}` +
      (v.firstTx ? ` first tx ${v.firstTx.index} (${v.firstTx.what})` : '') +
      (slot ? ` account ${slot.account}${slot.slot ? ` slot ${slot.slot}` : ''} ${slot.field}: ours ${slot.ours}, node ${slot.canonical}` : '');
  return `block ${r.number}  ${String(r.txs).padStart(5)} txs  ${String(r.gas).padStart(10)} gas  ${r.ms.toFixed(1).padStart(8)} ms  ${r.mgasPerSec.toFixed(2).padStart(7)} Mgas/s  ${String(r.reexecuted).padStart(3)} re-exec  ${what}`;
}

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description('re-execute a block range from a node and compare every block with the canonical chain')
    .requiredOption('--from <block>', 'first block to compare', parseBlock)
    .option('--to <block|latest>', 'last block to compare (default: latest)', 'latest')
    .option('--keep', 'keep the data directory (default: a temporary one, removed at the end)')
    .option('--ws <url>', 'a Selendra (Substrate/Frontier) node over WebSocket instead of an Ethereum JSON-RPC node');
  addConfigFlags(cmd, ['source.url', 'source.genesis', 'dataDir', 'engine.workers', 'log.level', 'log.format']).addHelpText(
    'after',
    `
The blocks before --from are executed too (from genesis) to build the state, but only --from..--to are counted.
Ends with "N matched, N mismatched"; exit code 1 on any mismatch.

With --ws (a Selendra node): Parallax starts from an empty state at block --from - 1 and reads what it lacks from
the chain's state at each parent block (counted as repairs); every block's receipts root, logs bloom, gas used,
per-transaction results and the post-state of everything it wrote are compared with the chain.

Examples:
  $ parallax verify --ws ws://127.0.0.1:9944 --from 1000 --to 1100 --workers 2
  $ parallax verify --rpc http://127.0.0.1:8545 --genesis genesis.json --from 1 --to latest
  $ parallax verify --rpc http://127.0.0.1:8545 --genesis genesis.json --from 100 --to 200 --workers 2`,
  );
  cmd.action(async (opts: { from: bigint; to: string; keep?: boolean; dataDir?: string; ws?: string }, c: Command) => {
    if (opts.to !== 'latest' && !/^[0-9]+$/.test(opts.to)) throw new ParallaxError('CONFIG_INVALID', `--to: expected a block number or "latest", got "${opts.to}"`);
    const tmp = opts.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'parallax-verify-')) : undefined;
    if (opts.ws !== undefined) {
      try {
        await verifySelendra(opts.ws, opts, c, tmp);
      } finally {
        if (tmp !== undefined && opts.keep !== true) await rm(tmp, { recursive: true, force: true });
        else if (tmp !== undefined) out(`data directory kept: ${tmp}`);
      }
      return;
    }
    const { config } = await commandConfig(c, {
      ...(tmp !== undefined ? { dataDir: tmp } : {}),
      'http.enabled': false,
      ...(c.opts().logLevel === undefined && process.env.PARALLAX_LOG_LEVEL === undefined ? { 'log.level': 'warn' } : {}),
    });
    const log = createLogger({ ...config.log, stream: process.stderr });
    const stop = stopSignal(log);
    const metrics = createMetrics({ defaults: false });
    const source = createSource(config, { retryForever: false, hooks: rpcHooks(metrics, log), signal: stop.signal });
    let node: ParallaxNode | undefined;
    try {
      node = await ParallaxNode.open({ config, source, log, metrics });
      const nodeHead = await source.head();
      const to = opts.to === 'latest' ? nodeHead : BigInt(opts.to);
      if (to > nodeHead) throw new ParallaxError('CONFIG_INVALID', `--to ${to} is ahead of the node, which is at block ${nodeHead}`);
      if (to < opts.from) throw new ParallaxError('CONFIG_INVALID', `--to ${to} is before --from ${opts.from}`);
      if (node.store.head()!.number >= opts.from) {
        throw new ParallaxError('CONFIG_INVALID', `the data directory is already at block ${node.store.head()!.number}, past --from ${opts.from}: use an empty --data-dir`);
      }
      let matched = 0;
      let mismatched = 0;
      const r = await node.follow({
        signal: stop.signal,
        until: to,
        onBlock: (b) => {
          if (b.number < opts.from) return;
          if (b.verification.matched) matched++;
          else mismatched++;
          out(blockLine(b));
        },
      });
      if (r.reason === 'aborted') out(`stopped at block ${r.head} before ${to}`);
      out(`${matched} matched, ${mismatched} mismatched`);
      if (mismatched > 0) process.exitCode = EXIT.MISMATCH;
    } finally {
      stop.dispose();
      if (node !== undefined) await node.close();
      else await source.close();
      if (tmp !== undefined && opts.keep !== true) await rm(tmp, { recursive: true, force: true });
      else if (tmp !== undefined) out(`data directory kept: ${tmp}`);
    }
  });
}
