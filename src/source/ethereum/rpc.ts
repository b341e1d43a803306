/**
 * A JSON-RPC 2.0 client for an Ethereum node over HTTP(S) or WebSocket. Requests time out, failures are retried with
 * exponential back-off (capped, with jitter), and every request is measured: latency and errors per method, node up or
 * down, reconnects after an outage. Errors are typed (SOURCE_FAILED) and name the node, the method, the kind of
 * failure (`details.kind`) and the cause.
 */
import { ParallaxError, errorMessage } from '../../errors.ts';

/**
 * What went wrong with a request to the source node:
 *   - unreachable: no connection, or it was cut before the answer (refused, reset, WebSocket closed);
 *   - timeout: no answer within `source.timeoutMs`;
 *   - http: an HTTP error status without a JSON-RPC answer (500, 502 from a proxy in front of the node);
 *   - malformed: an answer that is not a JSON-RPC 2.0 response (not JSON, neither result nor error, wrong id);
 *   - node_error: the node answered with a JSON-RPC error;
 *   - bad_answer: a well-formed answer whose content does not check out (a missing field, a wrong hash).
 * The first four are retried inside the client (the node is counted down meanwhile); the last two are not: the
 * follow loop retries them with its own back-off.
 */
export type SourceErrorKind = 'unreachable' | 'timeout' | 'http' | 'malformed' | 'node_error' | 'bad_answer';

/** A failed request below the JSON-RPC layer, with its kind. */
export class RpcTransportError extends Error {
  readonly kind: SourceErrorKind;
  constructor(kind: SourceErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

export interface RpcHooks {
  /** One request finished (ok or not) after `seconds`. */
  request?(method: string, seconds: number, ok: boolean): void;
  /** The node answered after having failed: reachable again. */
  reconnect?(): void;
  /** Node reachability changed. */
  up?(up: boolean): void;
  /** A retry is about to wait `ms` after `error` (of `kind`). */
  retry?(method: string, attempt: number, ms: number, error: string, kind: SourceErrorKind): void;
}

export interface RpcOptions {
  url: string;
  /** What to call the node in errors and logs (credentials redacted). */
  label?: string;
  timeoutMs: number;
  /** Retries after the first attempt; Infinity for a daemon that waits for its node forever. */
  retries: number;
  backoffMaxMs: number;
  hooks?: RpcHooks;
  /** Stops retrying (shutdown). */
  signal?: AbortSignal;
}

/** An error the node itself returned (method unknown, bad params): never retried. */
export class RpcNodeError extends Error {
  readonly rpcCode: number;
  constructor(method: string, code: number, message: string) {
    super(`${method}: node error ${code}: ${message}`);
    this.rpcCode = code;
  }
}

interface Transport {
  call(method: string, params: unknown[], timeoutMs: number): Promise<unknown>;
  close(): Promise<void>;
}

class HttpTransport implements Transport {
  private id = 0;
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }
  async call(method: string, params: unknown[], timeoutMs: number): Promise<unknown> {
    const id = ++this.id;
    const signal = AbortSignal.timeout(timeoutMs);
    let text: string;
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal,
      });
      text = await res.text();
    } catch (e) {
      if (signal.aborted) throw new RpcTransportError('timeout', `no answer within ${timeoutMs} ms`, { cause: e });
      throw new RpcTransportError('unreachable', errorMessage((e as { cause?: unknown }).cause ?? e), { cause: e });
    }
    if (!res.ok) {
      // A node may put a JSON-RPC error answer in an HTTP error; anything else is the HTTP error itself.
      try {
        decodeResponse(method, text, id);
      } catch (e) {
        if (e instanceof RpcNodeError) throw e;
      }
      const body = text.trim() === '' ? '' : `: ${JSON.stringify(text.trim().slice(0, 120))}`;
      throw new RpcTransportError('http', `HTTP ${res.status}${res.statusText === '' ? '' : ' ' + res.statusText}${body}`);
    }
    return decodeResponse(method, text, id);
  }
  async close(): Promise<void> {}
}

/** The result of a JSON-RPC 2.0 answer; a node error as RpcNodeError; anything else that is not an answer as `malformed`. */
function decodeResponse(method: string, text: string, id?: number): unknown {
  let body: { id?: unknown; result?: unknown; error?: { code?: number; message?: string } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new RpcTransportError('malformed', `answer is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RpcTransportError('malformed', `answer is not a JSON-RPC object: ${JSON.stringify(text.slice(0, 120))}`);
  if (body.error !== undefined && body.error !== null) {
    if (typeof body.error !== 'object') throw new RpcTransportError('malformed', `answer's error is not an object: ${JSON.stringify(body.error).slice(0, 120)}`);
    throw new RpcNodeError(method, typeof body.error.code === 'number' ? body.error.code : 0, typeof body.error.message === 'string' ? body.error.message : 'unknown');
  }
  if (!('result' in body)) throw new RpcTransportError('malformed', `answer has neither result nor error: ${JSON.stringify(text.slice(0, 120))}`);
  if (id !== undefined && body.id !== id) throw new RpcTransportError('malformed', `answer is for request id ${JSON.stringify(body.id)}, not ${id}`);
  return body.result;
}

class WsTransport implements Transport {
  private ws: WebSocket | undefined;
  private opening: Promise<WebSocket> | undefined;
  private id = 0;
  private readonly pending = new Map<number, { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  private connect(timeoutMs: number): Promise<WebSocket> {
    if (this.ws !== undefined && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    if (this.opening !== undefined) return this.opening;
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(this.url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new RpcTransportError('timeout', `WebSocket did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        this.ws = ws;
        resolve(ws);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new RpcTransportError('unreachable', 'WebSocket connection failed'));
      };
      ws.onclose = () => {
        this.ws = undefined;
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(new RpcTransportError('unreachable', 'WebSocket closed before the answer'));
        }
      };
      ws.onmessage = (ev) => {
        let msg: { id?: number };
        try {
          msg = JSON.parse(String(ev.data)) as { id?: number };
        } catch {
          // Garbage on the connection: no telling which request it answered, so every request waiting fails.
          const e = new RpcTransportError('malformed', `answer is not JSON: ${JSON.stringify(String(ev.data).slice(0, 120))}`);
          for (const [id, p] of this.pending) {
            this.pending.delete(id);
            p.reject(e);
          }
          return;
        }
        const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id!);
        try {
          p.resolve(decodeResponse(p.method, String(ev.data)));
        } catch (e) {
          p.reject(e as Error);
        }
      };
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  async call(method: string, params: unknown[], timeoutMs: number): Promise<unknown> {
    const ws = await this.connect(timeoutMs);
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcTransportError('timeout', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  async close(): Promise<void> {
    this.ws?.close();
  }
}

export class RpcClient {
  readonly label: string;
  private readonly transport: Transport;
  private down = false;
  private readonly opts: RpcOptions;

  constructor(opts: RpcOptions) {
    this.opts = opts;
    this.label = opts.label ?? opts.url;
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new ParallaxError('CONFIG_INVALID', `source URL ${JSON.stringify(this.label)} is not a URL`, { key: 'source.url' });
    }
    if (u.protocol === 'http:' || u.protocol === 'https:') this.transport = new HttpTransport(opts.url);
    else if (u.protocol === 'ws:' || u.protocol === 'wss:') this.transport = new WsTransport(opts.url);
    else throw new ParallaxError('CONFIG_INVALID', `source URL ${this.label}: protocol ${u.protocol} is not http(s) or ws(s)`, { key: 'source.url' });
  }

  /** Call `method`; transport failures are retried with back-off, node errors are not. */
  async call<T = unknown>(method: string, params: unknown[] = [], retries = this.opts.retries): Promise<T> {
    const hooks = this.opts.hooks;
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const result = await this.transport.call(method, params, this.opts.timeoutMs);
        hooks?.request?.(method, (performance.now() - t0) / 1000, true);
        if (this.down) {
          this.down = false;
          hooks?.reconnect?.();
        }
        hooks?.up?.(true);
        return result as T;
      } catch (e) {
        hooks?.request?.(method, (performance.now() - t0) / 1000, false);
        if (e instanceof RpcNodeError) {
          throw new ParallaxError('SOURCE_FAILED', `${this.label}: ${e.message}`, { method, kind: 'node_error', rpcCode: e.rpcCode }, { cause: e });
        }
        const kind: SourceErrorKind = e instanceof RpcTransportError ? e.kind : 'unreachable';
        const reason = e instanceof RpcTransportError ? e.message : errorMessage((e as { cause?: unknown }).cause ?? e);
        if (!this.down) {
          this.down = true;
          hooks?.up?.(false);
        }
        if (attempt >= retries || this.opts.signal?.aborted === true) {
          throw new ParallaxError('SOURCE_FAILED', `${this.label}: ${method} failed after ${attempt + 1} attempt(s): ${reason}`, { method, kind }, { cause: e });
        }
        const ms = Math.min(this.opts.backoffMaxMs, 100 * 2 ** Math.min(attempt, 16)) * (0.75 + Math.random() * 0.5);
        hooks?.retry?.(method, attempt + 1, Math.round(ms), reason, kind);
        await sleep(ms, this.opts.signal);
      }
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** Wait `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
