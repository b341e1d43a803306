/**
 * A JSON-RPC proxy in front of a real node that misbehaves on demand (the faults a real node cannot be made to
 * produce at will): slow answers, malformed JSON, JSON-RPC error answers, HTTP 500 and 502, answers of the wrong
 * shape, blocks that do not check out (a hash that is not the header's, a missing field, a transaction list that is
 * not the header's), a node that refuses connections, and WebSocket connections dropped mid-stream (WebSocket
 * upgrades are piped through as raw TCP).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export type Fault =
  | { kind: 'delay'; ms: number }
  | { kind: 'malformed' }
  | { kind: 'error' }
  | { kind: 'http500' }
  /** HTTP 502 with an HTML body, as a reverse proxy answers when the node behind it is gone. */
  | { kind: 'http502' }
  /** A result of the wrong shape: a string where an object or a quantity is expected. */
  | { kind: 'wrongShape' }
  /** A full block (eth_getBlockByNumber with transactions) answered with a `hash` that is not its header's. */
  | { kind: 'badBlock' }
  /** A full block answered without one of its fields. */
  | { kind: 'missingField'; field: string }
  /** A full block answered without its last transaction (the header unchanged: its transactionsRoot no longer fits). */
  | { kind: 'dropTx' };

/** Faults that alter a full block, so only full-block requests take them. */
const BLOCK_FAULTS = new Set<Fault['kind']>(['badBlock', 'missingField', 'dropTx']);

export class FaultProxy {
  readonly target: URL;
  private server: Server;
  port = 0;
  private faults: { fault: Fault; left: number; method?: string }[] = [];
  private sockets = new Set<Socket>();
  /** Requests answered with a fault, per fault kind. */
  readonly injected = new Map<string, number>();

  private constructor(target: string) {
    this.target = new URL(target);
    this.server = this.makeServer();
  }

  static async start(target: string): Promise<FaultProxy> {
    const p = new FaultProxy(target);
    await p.listen(0);
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The next `count` requests (of `method`, if given) get `fault`. */
  inject(fault: Fault, count: number, method?: string): void {
    this.faults.push({ fault, left: count, method });
  }

  pending(): number {
    return this.faults.reduce((a, f) => a + f.left, 0);
  }

  /** Stop listening and cut every connection: the node looks dead (connections refused). */
  async down(): Promise<void> {
    this.dropConnections();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Listen again on the same port. */
  async up(): Promise<void> {
    this.server = this.makeServer();
    await this.listen(this.port);
  }

  /** WebSocket connections piped now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** Cut the piped WebSocket connections mid-stream. */
  dropConnections(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  async close(): Promise<void> {
    await this.down().catch(() => {});
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private makeServer(): Server {
    const server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const up = connect(Number(this.target.port), this.target.hostname, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        up.write(lines.join('\r\n') + '\r\n\r\n');
        if (head.length > 0) up.write(head);
        socket.pipe(up).pipe(socket);
      });
      for (const s of [socket, up]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          socket.destroy();
          up.destroy();
        });
      }
    });
    return server;
  }

  private take(method: string, params: unknown[]): Fault | undefined {
    const fullBlock = method === 'eth_getBlockByNumber' && params[1] === true;
    const i = this.faults.findIndex((f) => f.left > 0 && (f.method === undefined || f.method === method) && (!BLOCK_FAULTS.has(f.fault.kind) || fullBlock));
    if (i < 0) return undefined;
    const f = this.faults[i];
    f.left--;
    if (f.left === 0) this.faults.splice(i, 1);
    this.injected.set(f.fault.kind, (this.injected.get(f.fault.kind) ?? 0) + 1);
    return f.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    let parsed: { id?: unknown; method?: string; params?: unknown[] } = {};
    try {
      parsed = JSON.parse(body);
    } catch {}
    const method = parsed.method ?? '';
    const fault = this.take(method, parsed.params ?? []);
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'malformed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{"numb');
    if (fault?.kind === 'http500') return void res.writeHead(500).end();
    if (fault?.kind === 'http502') {
      return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n');
    }
    if (fault?.kind === 'wrongShape') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: parsed.id, result: 'not what you asked for' }));
    }
    if (fault?.kind === 'error') {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: parsed.id, error: { code: -32000, message: 'injected: header not found' } }));
    }
    const upstream = await fetch(this.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    let text = await upstream.text();
    if (fault !== undefined && BLOCK_FAULTS.has(fault.kind)) {
      const j = JSON.parse(text) as { result?: Record<string, unknown> | null };
      const b = j.result;
      if (b !== null && b !== undefined) {
        if (fault.kind === 'badBlock') b.hash = '0x' + 'ee'.repeat(32);
        if (fault.kind === 'missingField') delete b[fault.field];
        if (fault.kind === 'dropTx' && Array.isArray(b.transactions)) b.transactions.pop();
        text = JSON.stringify(j);
      }
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
  }
}
