/** Test helpers: a Hardhat node with the traffic generator's accounts, and the daemon as a real child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TRAFFIC_CHAIN, TrafficGenerator } from '../../src/bench/traffic.ts';
import { createCommon } from '../../src/chain/profile.ts';
import { nativeCrypto } from '../../src/crypto/index.ts';
import { RpcTrafficDriver } from '../../src/dev/driver.ts';
import { startHardhat, type HardhatNode } from '../../src/dev/hardhat.ts';
import { RpcClient } from '../../src/source/ethereum/rpc.ts';
import { PROJECT_ROOT } from '../../src/util/paths.ts';

export const GAS_LIMIT = 60_000_000n;

export interface Chain {
  node: HardhatNode;
  gen: TrafficGenerator;
  rpc: RpcClient;
  driver: RpcTrafficDriver;
  genesisPath: string;
}

/** Hardhat Network (shanghai, automine off) seeded with the generator's accounts; the genesis file beside it. */
export const INITIAL_DATE = '2026-01-01T00:00:00Z';

export async function hardhatChain(dir: string, seed = 7, opts: { port?: number; reproducible?: boolean } = {}): Promise<Chain> {
  const gen = new TrafficGenerator(createCommon(TRAFFIC_CHAIN, nativeCrypto()), { seed, holders: 120, tokens: 4, pools: 5, swappers: 60, payers: 120 });
  const genesisPath = join(dir, 'genesis.json');
  await writeFile(genesisPath, JSON.stringify(RpcTrafficDriver.genesisFile(gen, 'shanghai')));
  const node = await startChainNode(gen, opts.port, opts.reproducible);
  const rpc = new RpcClient({ url: node.url, timeoutMs: 30_000, retries: 2, backoffMaxMs: 500 });
  const driver = new RpcTrafficDriver(rpc, gen, { blockGasLimit: GAS_LIMIT, ...(opts.reproducible === true ? { blockTime: 1, record: true } : {}) });
  return { node, gen, rpc, driver, genesisPath };
}

/** (Re)start the Hardhat node of a generator's chain; reproducible = fixed genesis date, so recorded blocks mine to the same hashes. */
export function startChainNode(gen: TrafficGenerator, port?: number, reproducible = false): Promise<HardhatNode> {
  return startHardhat({
    accounts: RpcTrafficDriver.accounts(gen),
    chainId: TRAFFIC_CHAIN.chainId,
    hardfork: 'shanghai',
    blockGasLimit: GAS_LIMIT,
    initialBaseFeePerGas: 1_000_000_000n,
    port,
    ...(reproducible ? { initialDate: INITIAL_DATE } : {}),
  });
}

export async function rpcBlock(rpc: RpcClient, n: bigint | 'latest'): Promise<{ number: string; hash: string; stateRoot: string; receiptsRoot: string }> {
  return rpc.call('eth_getBlockByNumber', [n === 'latest' ? n : '0x' + n.toString(16), false]);
}

export interface DaemonProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
  /** Resolves with the HTTP URL once the daemon listens. */
  url: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/**
 * Daemons still running. A test that fails part-way leaves its daemon running, and the daemon's output pipes would
 * keep the test file's process alive until the runner's timeout: they are killed once the file's tests are done.
 */
const live = new Set<ChildProcess>();
after(() => {
  for (const child of live) child.kill('SIGKILL');
});

/** `parallax run` as a child process with JSON logs on stdout. */
export function spawnDaemon(args: string[], env: Record<string, string> = {}): DaemonProcess {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), 'run', '--log-format', 'json', '--http-port', '0', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(text) as Record<string, unknown>;
      } catch {
        rec = { msg: text, unparsed: true };
      }
      lines.push(rec);
      for (const w of [...waiters]) if (w.pred(rec)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(rec));
    }
  });
  child.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (pred: (l: Record<string, unknown>) => boolean, ms = 120_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const hit = lines.find(pred);
      if (hit !== undefined) return resolve(hit);
      const timer = setTimeout(() => reject(new Error(`daemon: no matching log line within ${ms} ms; stderr: ${stderr.join('').slice(-500)}; last lines: ${JSON.stringify(lines.slice(-5))}`)), ms);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      // A daemon that exited answers no more: fail now (and drop the timer, which would keep the test process alive).
      void exited.then(() =>
        setTimeout(() => {
          clearTimeout(timer);
          reject(new Error(`daemon exited; stderr: ${stderr.join('').slice(-800)}; last lines: ${JSON.stringify(lines.slice(-5))}`));
        }, 50),
      );
    });
  const url = waitFor((l) => typeof l.url === 'string' && String(l.msg).startsWith('HTTP endpoints')).then((l) => l.url as string);
  url.catch(() => {}); // a daemon killed (or quiet) before it listens is not an unhandled rejection; awaiting url still throws
  return { child, lines, stderr, url, exited, waitFor };
}

/** Parse a Prometheus text exposition into name{labels} -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000, every = 200): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
