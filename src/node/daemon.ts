/**
 * The daemon around a ParallaxNode: HTTP endpoints, metrics, the follow loop and an ordered shutdown. A stop request
 * (the AbortSignal) is honoured between blocks: the block in flight is finished and committed atomically (or, if it
 * fails, never written), then the workers, the source and finally the database are closed.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { redacted, type Config } from '../config/index.ts';
import { startHttp, type HttpServer } from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import { createMetrics, type Metrics } from '../metrics/index.ts';
import { SourceHealth, createSource, rpcHooks } from '../source/index.ts';
import type { BlockSource } from '../source/types.ts';
import { ParallaxNode, type BlockReport, type FollowResult } from './index.ts';

export interface DaemonOptions {
  config: Config;
  log: Logger;
  signal: AbortSignal;
  /** Where each configuration value came from, logged with the configuration. */
  origin?: Record<string, string>;
  /** Default: from the configuration. */
  source?: BlockSource;
  metrics?: Metrics;
  until?: bigint;
  onBlock?: (r: BlockReport) => void;
  /** Told the HTTP address once listening. */
  onListening?: (url: string) => void;
}

/** Total size of the files in a directory (LevelDB keeps its files flat). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const s = await stat(join(dir, f)).catch(() => undefined);
    if (s?.isFile() === true) total += s.size;
  }
  return total;
}

export async function runDaemon(o: DaemonOptions): Promise<FollowResult> {
  const { config, log, signal } = o;
  // The Node flags show the heap settings bin/parallax.js relaunched with (cli/relaunch.ts), or those given by hand.
  log.info({ config: redacted(config), origin: o.origin, node: { version: process.version, flags: process.execArgv } }, 'configuration');
  const dataDir = resolve(config.dataDir);
  let node: ParallaxNode | undefined;
  const metrics = o.metrics ?? createMetrics({ databaseBytes: () => dirBytes(dataDir), leveldb: () => node?.store.levelDbStats() });
  const health = new SourceHealth();
  const source = o.source ?? createSource(config, { retryForever: true, hooks: rpcHooks(metrics, log, health), signal });
  let alive = true;
  let http: HttpServer | undefined;
  try {
    if (config.http.enabled) {
      http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        metrics,
        log,
        provider: () =>
          node === undefined
            ? undefined
            : { alive: () => alive, ready: () => node!.ready(), status: () => node!.status(), roots: (n) => node!.roots(n), trace: (n) => node!.trace(n) },
      });
      log.info({ url: http.url }, 'HTTP endpoints listening (/metrics /health /ready /status /roots/<n> /blocks/<n>)');
      o.onListening?.(http.url);
    }
    node = await ParallaxNode.open({ config, source, log, metrics, health });
    log.info({ source: source.label, chain: node.chain.profile.name, chainId: node.chain.profile.chainId, workers: config.engine.workers }, 'following');
    const result = await node.follow({ signal, until: o.until, onBlock: o.onBlock });
    log.info({ reason: result.reason, head: Number(result.head), matched: result.matched, mismatched: result.mismatched }, 'stopped following');
    return result;
  } finally {
    alive = false;
    if (node !== undefined) await node.close();
    else await source.close().catch(() => {});
    await http?.close();
    log.info('closed (database last)');
  }
}
