/**
 * A local Selendra chain: the genuine runtime from a raw chain spec (../shared/fixtures/selendra/mainnet_chainspec.json
 * by default) run by @acala-network/chopsticks-core, with no network, served over WebSocket JSON-RPC on 127.0.0.1 so
 * that @polkadot/api (and Parallax) talk to it as to a Selendra node. Blocks are built on demand (`newBlock`).
 *
 * Two adjustments to the spec's genesis, both outside what the runtime executes:
 *   - the runtime's `runtime_version` custom section says `system_version = 2`, which chopsticks' executor cannot
 *     decode; the wasm is stored uncompressed with that byte set to 1 (the runtime never reads the section);
 *   - `Timestamp::Now` is set to the current time, so that the first Aura slot checks out.
 * Accounts to fund (EVM addresses through their default mapping, or Substrate accounts) get their balance written into
 * `System::Account` at genesis, and `Balances::TotalIssuance` is raised by the same amount.
 */
import type { AddressInfo } from 'node:net';
import type { Blockchain, Handlers } from '@acala-network/chopsticks-core';
import { u8aToHex } from '@polkadot/util';
import { xxhashAsU8a } from '@polkadot/util-crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { ParallaxError, errorMessage } from '../errors.ts';
import { defaultNativeAccount, storageKey } from '../source/selendra/accounts.ts';
import { chopsticks } from '../source/selendra/chopsticks.ts';
import { CODE_KEY, TIMESTAMP_NOW_KEY, patchSystemVersion, readChainSpec, runtimeTypes, runtimeWasm, type RuntimeTypes } from '../source/selendra/runtime.ts';

export interface Funding {
  /** A 20-byte EVM address (funded through its default mapping) or a 32-byte Substrate account. */
  account: Uint8Array;
  balance: bigint;
}

export interface SelendraChainOptions {
  specPath: string;
  fund?: Funding[];
  host?: string;
  /** 0 = any free port. */
  port?: number;
}

export interface SelendraChain {
  /** ws://host:port */
  url: string;
  chain: Blockchain;
  /** The genesis runtime's types (spec version, registry). */
  runtime: RuntimeTypes;
  /** Build one block from the pending extrinsics; its number and hash. */
  newBlock(): Promise<{ number: number; hash: string }>;
  close(): Promise<void>;
}

const TOTAL_ISSUANCE_KEY = u8aToHex(new Uint8Array([...xxhashAsU8a('Balances', 128), ...xxhashAsU8a('TotalIssuance', 128)]));

function u128le(v: bigint): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return b;
}

export async function startSelendraChain(o: SelendraChainOptions): Promise<SelendraChain> {
  const spec = await readChainSpec(o.specPath);
  const wasm = runtimeWasm(spec, `chain spec ${o.specPath}`);
  if (patchSystemVersion(wasm, 1) === undefined) {
    throw new ParallaxError('CONFIG_INVALID', `chain spec ${o.specPath}: the runtime has no runtime_version section`, { file: o.specPath });
  }
  const top = { ...spec.genesis.raw.top };
  const runtime = await runtimeTypes(wasm, top);
  top[CODE_KEY] = u8aToHex(wasm);
  const now = new Uint8Array(8);
  new DataView(now.buffer).setBigUint64(0, BigInt(Date.now()), true);
  top[TIMESTAMP_NOW_KEY] = u8aToHex(now);
  let minted = 0n;
  for (const f of o.fund ?? []) {
    const id = f.account.length === 20 ? defaultNativeAccount(f.account) : f.account;
    if (id.length !== 32) throw new RangeError(`an account to fund is 20 (EVM) or 32 (Substrate) bytes, got ${f.account.length}`);
    const info = runtime.registry.createType('FrameSystemAccountInfo', { nonce: 0, consumers: 0, providers: 1, sufficients: 0, data: { free: f.balance, reserved: 0, frozen: 0, flags: 0 } });
    top[u8aToHex(storageKey.systemAccount(id))] = u8aToHex(info.toU8a());
    minted += f.balance;
  }
  if (minted > 0n) {
    const old = top[TOTAL_ISSUANCE_KEY];
    const before = old === undefined ? 0n : BigInt('0x' + Buffer.from(old.slice(2), 'hex').reverse().toString('hex'));
    top[TOTAL_ISSUANCE_KEY] = u8aToHex(u128le(before + minted));
  }
  const c = await chopsticks();
  let chain: Blockchain;
  try {
    const genesis = new c.GenesisProvider({ ...spec, genesis: { raw: { top, childrenDefault: {} } } } as never);
    chain = await c.setup({ genesis, buildBlockMode: c.BuildBlockMode.Manual, mockSignatureHost: false, runtimeLogLevel: 0 });
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `chain spec ${o.specPath}: chopsticks cannot start a chain from it: ${errorMessage(e)}`, { file: o.specPath }, { cause: e });
  }
  const server = await serve(chain, c.allHandlers, o.host ?? '127.0.0.1', o.port ?? 0);
  const addr = server.address() as AddressInfo;
  return {
    url: `ws://${o.host ?? '127.0.0.1'}:${addr.port}`,
    chain,
    runtime,
    async newBlock() {
      const b = await chain.newBlock();
      return { number: b.number, hash: b.hash };
    },
    async close() {
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((r) => server.close(() => r()));
      await chain.close();
      await c.destroyWorker();
    },
  };
}

/** A WebSocket JSON-RPC 2.0 server over chopsticks' RPC handlers, with subscriptions (what a Substrate node serves). */
async function serve(chain: Blockchain, handlers: Handlers, host: string, port: number): Promise<WebSocketServer> {
  const server = new WebSocketServer({ host, port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (e) => reject(new ParallaxError('CONFIG_INVALID', `cannot listen on ${host}:${port}: ${errorMessage(e)}`, {}, { cause: e })));
  });
  server.on('connection', (ws: WebSocket) => {
    const subscriptions = new Map<string, () => void>();
    const send = (msg: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const manager = {
      subscribe: (method: string, id: string, onCancel: () => void = () => {}) => {
        subscriptions.set(id, onCancel);
        return (result: unknown) => {
          if (subscriptions.has(id)) send({ jsonrpc: '2.0', method, params: { subscription: id, result } });
        };
      },
      unsubscribe: (id: string) => {
        subscriptions.get(id)?.();
        subscriptions.delete(id);
      },
    };
    ws.on('message', async (data) => {
      let req: { id?: unknown; method?: unknown; params?: unknown };
      try {
        req = JSON.parse(String(data)) as typeof req;
      } catch {
        return send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
      }
      const handler = typeof req.method === 'string' ? handlers[req.method] : undefined;
      if (handler === undefined) return send({ jsonrpc: '2.0', id: req.id ?? null, error: { code: -32601, message: `method ${String(req.method)} not found` } });
      try {
        const result = await handler({ chain }, Array.isArray(req.params) ? req.params : [], manager);
        send({ jsonrpc: '2.0', id: req.id ?? null, result: result ?? null });
      } catch (e) {
        const code = typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -32603;
        send({ jsonrpc: '2.0', id: req.id ?? null, error: { code, message: errorMessage(e) } });
      }
    });
    ws.on('close', () => {
      for (const cancel of subscriptions.values()) cancel();
      subscriptions.clear();
    });
  });
  return server;
}
