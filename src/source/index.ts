/** The block sources and the one place that picks one from the configuration. */
import type { Config } from '../config/index.ts';
import { redactUrl } from '../config/index.ts';
import { ParallaxError } from '../errors.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Logger } from '../log/index.ts';
import { EthereumSource } from './ethereum/index.ts';
import { SelendraBlockSource } from './selendra/block-source.ts';
import type { RpcHooks, SourceErrorKind } from './ethereum/rpc.ts';
import type { BlockSource } from './types.ts';

export type { BlockSource, SourceBlock, CanonicalBlock, ChainSetup } from './types.ts';
export type { SourceErrorKind } from './ethereum/rpc.ts';

/**
 * What the daemon knows of its source's health: down since when, the last error and how many since it was last
 * fine. Fed by the RPC hooks (transport failures, retried inside the client) and by the follow loop (error answers
 * and answers that do not check out, retried there); read by /ready and /status.
 */
export class SourceHealth {
  up = true;
  downSince: string | null = null;
  lastError: { message: string; method: string | null; kind: SourceErrorKind | null; at: string } | null = null;
  /** Errors since the source was last fine. */
  errors = 0;

  fail(message: string, method?: string, kind?: SourceErrorKind): void {
    const at = new Date().toISOString();
    this.lastError = { message, method: method ?? null, kind: kind ?? null, at };
    this.errors++;
    if (this.up) {
      this.up = false;
      this.downSince = at;
    }
  }

  ok(): void {
    if (this.up) return;
    this.up = true;
    this.downSince = null;
    this.errors = 0;
  }
}

/** RPC hooks that feed the metrics and log retries (method names come from a fixed set: bounded labels). */
export function rpcHooks(metrics: Metrics, log: Logger, health?: SourceHealth): RpcHooks {
  return {
    request(method, seconds, ok) {
      metrics.rpcSeconds.observe({ method }, seconds);
      if (!ok) metrics.rpcErrors.inc({ method });
    },
    reconnect() {
      metrics.rpcReconnects.inc();
      log.info('source node reachable again');
    },
    up(up) {
      metrics.nodeUp.set(up ? 1 : 0);
      if (up) health?.ok();
    },
    retry(method, attempt, ms, error, kind) {
      // The metric's kinds: unreachable covers every failure retried inside the client (see its help).
      metrics.sourceErrors.inc({ kind: 'unreachable' });
      health?.fail(error, method, kind);
      log.warn({ method, kind, attempt, retryInMs: ms, error }, 'source request failed; retrying');
    },
  };
}

export interface SourceOptions {
  /** Give up after `source.retries` (one-shot commands) or retry forever (the daemon). */
  retryForever: boolean;
  hooks?: RpcHooks;
  signal?: AbortSignal;
}

export function createSource(cfg: Config, opts: SourceOptions): BlockSource {
  const s = cfg.source;
  const common = {
    url: s.url,
    label: redactUrl(s.url),
    timeoutMs: s.timeoutMs,
    retries: opts.retryForever ? Infinity : s.retries,
    backoffMaxMs: s.backoffMaxMs,
    hooks: opts.hooks,
    signal: opts.signal,
  };
  switch (s.kind) {
    case 'ethereum':
      return new EthereumSource({ ...common, genesis: s.genesis === '' ? undefined : s.genesis });
    case 'selendra':
      if (!/^wss?:\/\//.test(s.url)) throw new ParallaxError('CONFIG_INVALID', `source.url: a Selendra node is reached over WebSocket (ws:// or wss://), got ${redactUrl(s.url)}`, { key: 'source.url' });
      return new SelendraBlockSource({ url: s.url, label: redactUrl(s.url), timeoutMs: s.timeoutMs, heads: s.heads, startBlock: s.startBlock });
  }
}
