/**
 * The daemon's HTTP endpoints (node:http, no framework):
 *   GET /metrics        Prometheus text format
 *   GET /health         200 while the process and its follow loop are alive
 *   GET /ready          200 when caught up within http.readyLagBlocks of the node, else 503
 *   GET /status         JSON: heads, last roots, last mismatch, workers
 *   GET /roots/<block>  JSON: the roots Parallax computed for the block and the canonical ones
 *   GET /blocks/<block>        HTML: the block's schedule as SVG, its figures and re-executions (recent blocks)
 *   GET /blocks/<block>/trace  JSON: the block's execution trace
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ParallaxError, errorMessage } from '../errors.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { blockPage } from '../insight/svg.ts';
import type { BlockTrace } from '../insight/trace.ts';

/** What the server asks the daemon; absent while the node is still opening. */
export interface StatusProvider {
  alive(): boolean;
  ready(): boolean;
  status(): Promise<unknown>;
  roots(n: bigint): Promise<unknown | undefined>;
  trace(n: bigint): Promise<BlockTrace | undefined>;
}

export interface HttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

export async function startHttp(opts: { host: string; port: number; metrics: Metrics; provider: () => StatusProvider | undefined; log: Logger }): Promise<HttpServer> {
  const { metrics, provider, log } = opts;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET' });
    const p = provider();
    switch (url.pathname) {
      case '/metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        return res.end(text);
      }
      case '/health':
        return p === undefined || p.alive() ? json(res, 200, { status: 'ok' }) : json(res, 503, { status: 'stopped' });
      case '/ready':
        return p !== undefined && p.ready() ? json(res, 200, { ready: true }) : json(res, 503, { ready: false });
      case '/status':
        return p === undefined ? json(res, 503, { error: 'starting' }) : json(res, 200, await p.status());
    }
    const m = /^\/roots\/([0-9]+)$/.exec(url.pathname);
    if (m !== null) {
      if (p === undefined) return json(res, 503, { error: 'starting' });
      const r = await p.roots(BigInt(m[1]));
      return r === undefined ? json(res, 404, { error: `block ${m[1]} is not executed` }) : json(res, 200, r);
    }
    if (url.pathname.startsWith('/roots/')) return json(res, 400, { error: 'usage: /roots/<block number>' });
    const b = /^\/blocks\/([0-9]+)(\/trace)?$/.exec(url.pathname);
    if (b !== null) {
      if (p === undefined) return json(res, 503, { error: 'starting' });
      const t = await p.trace(BigInt(b[1]));
      if (t === undefined) return json(res, 404, { error: `no trace of block ${b[1]}: traces are kept for the last engine.traceBlocks executed blocks` });
      if (b[2] !== undefined) return json(res, 200, t);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(blockPage(t));
    }
    if (url.pathname.startsWith('/blocks/')) return json(res, 400, { error: 'usage: /blocks/<block number>[/trace]' });
    return json(res, 404, { error: 'not found', endpoints: ['/metrics', '/health', '/ready', '/status', '/roots/<block>', '/blocks/<block>', '/blocks/<block>/trace'] });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log.warn({ err: e, path: req.url }, 'HTTP request failed');
      if (!res.headersSent) json(res, 500, { error: errorMessage(e) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new ParallaxError('CONFIG_INVALID', `cannot listen on ${opts.host}:${opts.port} (http.host/http.port): ${e.code ?? e.message}`, { key: 'http.port' }, { cause: e })),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
