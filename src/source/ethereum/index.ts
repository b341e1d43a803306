/**
 * Ethereum JSON-RPC source: blocks with full transactions from `eth_getBlockByNumber(n, true)`, the chain's rules and
 * initial state from a geth-style genesis file, checked against the node (chain id, genesis state root) on open.
 * On an EVM-native chain the header carries a real Merkle-Patricia state root, so every root is verified.
 */
import { createBlockFromRPC } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { ParallaxError, errorMessage } from '../../errors.ts';
import { fromHex, hex } from '../../util/bytes.ts';
import { verifyMerkleProof } from '@ethereumjs/mpt';
import type { AccountProof, BlockSource, CanonicalBlock, CanonicalReceipt, ChainSetup, PostStateDiff, SourceBlock } from '../types.ts';
import { profileFromGenesis, readGenesisFile } from './genesis.ts';
import { RpcClient, type RpcOptions } from './rpc.ts';

export interface EthereumSourceOptions extends RpcOptions {
  /** geth-style genesis file; required to initialise an empty database. */
  genesis?: string;
}

type RpcBlock = Record<string, unknown> & { number: string; hash: string; parentHash: string; transactions: unknown[] };

const QTY = /^0x[0-9a-fA-F]+$/;
const DATA = /^0x([0-9a-fA-F]{2})*$/;

function qty(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || !QTY.test(v)) throw new ParallaxError('SOURCE_FAILED', `${what}: ${JSON.stringify(v)} is not a hex quantity`);
  return BigInt(v);
}

function data(v: unknown, what: string, len?: number): Uint8Array {
  if (typeof v !== 'string' || !DATA.test(v)) throw new ParallaxError('SOURCE_FAILED', `${what}: ${JSON.stringify(v)?.slice(0, 80)} is not hex data`);
  const b = fromHex(v);
  if (len !== undefined && b.length !== len) throw new ParallaxError('SOURCE_FAILED', `${what}: ${b.length} bytes, expected ${len}`);
  return b;
}

export function canonicalOf(b: RpcBlock, where: string): CanonicalBlock {
  return {
    number: qty(b.number, `${where} number`),
    hash: data(b.hash, `${where} hash`, 32),
    parentHash: data(b.parentHash, `${where} parentHash`, 32),
    stateRoot: data(b.stateRoot, `${where} stateRoot`, 32),
    receiptsRoot: data(b.receiptsRoot, `${where} receiptsRoot`, 32),
    logsBloom: data(b.logsBloom, `${where} logsBloom`, 256),
    gasUsed: qty(b.gasUsed, `${where} gasUsed`),
    timestamp: qty(b.timestamp, `${where} timestamp`),
  };
}

export class EthereumSource implements BlockSource {
  readonly kind = 'ethereum';
  readonly label: string;
  readonly rpc: RpcClient;
  private readonly opts: EthereumSourceOptions;
  /** Diagnostics the node turned down once are not asked for again. */
  private unsupported = new Set<string>();

  constructor(opts: EthereumSourceOptions) {
    this.opts = opts;
    this.rpc = new RpcClient(opts);
    this.label = this.rpc.label;
  }

  async open(): Promise<ChainSetup> {
    if (this.opts.genesis === undefined || this.opts.genesis === '') {
      throw new ParallaxError('CONFIG_INVALID', 'an Ethereum source needs a genesis file (source.genesis, --genesis FILE) to know the chain\'s rules and initial state', { key: 'source.genesis' });
    }
    const g = await readGenesisFile(this.opts.genesis);
    const profile = profileFromGenesis(g, `genesis file ${this.opts.genesis}`);
    const chainId = qty(await this.rpc.call('eth_chainId'), `${this.label} eth_chainId`);
    if (chainId !== BigInt(profile.chainId)) {
      throw new ParallaxError('CONFIG_INVALID', `${this.label} serves chain id ${chainId}, the genesis file ${this.opts.genesis} says ${profile.chainId}`, { key: 'source.genesis' });
    }
    const b0 = await this.rpc.call<RpcBlock | null>('eth_getBlockByNumber', ['0x0', false]);
    if (b0 === null) throw new ParallaxError('SOURCE_FAILED', `${this.label} has no block 0`);
    return { profile, alloc: g.alloc, genesis: canonicalOf(b0, `${this.label} block 0`) };
  }

  async head(): Promise<bigint> {
    return qty(await this.rpc.call('eth_blockNumber'), `${this.label} eth_blockNumber`);
  }

  async finalized(): Promise<bigint | undefined> {
    if (this.unsupported.has('finalized')) return undefined;
    try {
      const b = await this.rpc.call<RpcBlock | null>('eth_getBlockByNumber', ['finalized', false], 0);
      return b === null ? undefined : qty(b.number, `${this.label} finalized block number`);
    } catch (e) {
      if ((e as ParallaxError).details?.rpcCode !== undefined) this.unsupported.add('finalized');
      return undefined;
    }
  }

  async hashAt(n: bigint): Promise<Uint8Array | undefined> {
    const b = await this.rpc.call<RpcBlock | null>('eth_getBlockByNumber', ['0x' + n.toString(16), false]);
    return b === null ? undefined : data(b.hash, `${this.label} block ${n} hash`, 32);
  }

  async block(n: bigint, common: Common): Promise<SourceBlock | undefined> {
    const raw = await this.rpc.call<RpcBlock | null>('eth_getBlockByNumber', ['0x' + n.toString(16), true]);
    if (raw === null) return undefined;
    const where = `${this.label} block ${n}`;
    if (raw === undefined || typeof raw !== 'object' || !Array.isArray(raw.transactions)) {
      throw new ParallaxError('SOURCE_FAILED', `${where}: answer is not a block with transactions`, { block: n });
    }
    const canonical = canonicalOf(raw, where);
    if (canonical.number !== n) throw new ParallaxError('SOURCE_FAILED', `${where}: the node answered block ${canonical.number}`, { block: n });
    let block;
    try {
      const uncles: Record<string, unknown>[] = [];
      const uncleHashes = (raw.uncles as string[] | undefined) ?? [];
      for (let i = 0; i < uncleHashes.length; i++) {
        uncles.push(await this.rpc.call('eth_getUncleByBlockHashAndIndex', [raw.hash, '0x' + i.toString(16)]));
      }
      common.setHardforkBy({ blockNumber: n, timestamp: canonical.timestamp });
      block = createBlockFromRPC(raw as never, uncles as never[], { common, setHardfork: false, skipConsensusFormatValidation: true } as never);
    } catch (e) {
      throw new ParallaxError('SOURCE_FAILED', `${where}: cannot decode: ${errorMessage(e)}`, { block: n }, { cause: e });
    }
    // The block as decoded must hash to what the node says: proves no field was lost or misread.
    if (hex(block.hash()) !== hex(canonical.hash)) {
      throw new ParallaxError('SOURCE_FAILED', `${where}: decoded header hashes to 0x${hex(block.hash())}, the node says 0x${hex(canonical.hash)}`, { block: n });
    }
    return { block, canonical };
  }

  async receipts(n: bigint): Promise<CanonicalReceipt[] | undefined> {
    let list: Record<string, unknown>[] | null;
    try {
      list = await this.rpc.call<Record<string, unknown>[] | null>('eth_getBlockReceipts', ['0x' + n.toString(16)], 1);
    } catch {
      return undefined;
    }
    if (!Array.isArray(list)) return undefined;
    return list.map((r, i) => ({
      index: i,
      hash: String(r.transactionHash),
      status: Number(r.status ?? 1),
      gasUsed: BigInt(r.gasUsed as string),
      cumulativeGasUsed: BigInt(r.cumulativeGasUsed as string),
      logs: Array.isArray(r.logs) ? r.logs.length : 0,
      contractAddress: typeof r.contractAddress === 'string' ? r.contractAddress.toLowerCase() : undefined,
    }));
  }

  async stateDiff(n: bigint): Promise<PostStateDiff | undefined> {
    if (this.unsupported.has('trace')) return undefined;
    let traces: { result?: { pre?: Record<string, AccountState>; post?: Record<string, AccountState> } }[];
    try {
      traces = await this.rpc.call('debug_traceBlockByNumber', ['0x' + n.toString(16), { tracer: 'prestateTracer', tracerConfig: { diffMode: true } }], 1);
    } catch {
      this.unsupported.add('trace');
      return undefined;
    }
    if (!Array.isArray(traces)) return undefined;
    const diff: PostStateDiff = { accounts: new Map(), deleted: new Set() };
    for (const t of traces) {
      const pre = t.result?.pre ?? {};
      const post = t.result?.post ?? {};
      for (const [addr, p] of Object.entries(pre)) {
        const a = addr.toLowerCase();
        if (!(addr in post) && !(a in post)) {
          // In diff mode an account in pre but not in post was deleted; a slot in pre but not in post was cleared.
          diff.deleted.add(a);
        }
        for (const slot of Object.keys(p.storage ?? {})) {
          const after = post[addr]?.storage?.[slot];
          if (after === undefined && post[addr] !== undefined) entry(diff, a).storage.set(slot.toLowerCase(), 0n);
        }
      }
      for (const [addr, p] of Object.entries(post)) {
        const a = addr.toLowerCase();
        diff.deleted.delete(a);
        const e = entry(diff, a);
        if (p.balance !== undefined) e.balance = BigInt(p.balance);
        if (p.nonce !== undefined) e.nonce = BigInt(p.nonce);
        for (const [slot, v] of Object.entries(p.storage ?? {})) e.storage.set(slot.toLowerCase(), BigInt(v));
      }
    }
    return diff;
  }

  async accountProof(address: string, slots: string[], n: bigint, stateRoot?: Uint8Array): Promise<AccountProof | undefined> {
    if (this.unsupported.has('proof')) return undefined;
    let p: { balance: string; nonce: string; codeHash: string; storageHash: string; accountProof: string[]; storageProof: { key: string; value: string; proof: string[] }[] };
    try {
      p = await this.rpc.call('eth_getProof', [address, slots, '0x' + n.toString(16)], 1);
    } catch {
      this.unsupported.add('proof');
      return undefined;
    }
    const out: AccountProof = { balance: BigInt(p.balance), nonce: BigInt(p.nonce), codeHash: p.codeHash.toLowerCase(), storageHash: p.storageHash.toLowerCase(), slots: new Map() };
    if (stateRoot !== undefined && Array.isArray(p.accountProof)) {
      try {
        out.exists = (await verifyMerkleProof(fromHex(address), p.accountProof.map((x) => fromHex(x)), { root: stateRoot, useKeyHashing: true })) !== null;
      } catch {
        // A proof that does not check against the header's root tells nothing about existence.
      }
    }
    for (let i = 0; i < slots.length; i++) {
      const sp = p.storageProof[i];
      if (sp === undefined) continue;
      // The proof, checked against the storage root, tells presence apart from a zero value.
      let present: Uint8Array | null;
      try {
        present = await verifyMerkleProof(fromHex(slots[i]), sp.proof.map((x) => fromHex(x)), { root: fromHex(p.storageHash), useKeyHashing: true });
      } catch {
        continue;
      }
      out.slots.set(slots[i], present === null ? undefined : BigInt(sp.value));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.rpc.close();
  }
}

interface AccountState {
  balance?: string;
  nonce?: number | string;
  code?: string;
  storage?: Record<string, string>;
}

function entry(d: PostStateDiff, a: string) {
  let e = d.accounts.get(a);
  if (e === undefined) d.accounts.set(a, (e = { storage: new Map() }));
  return e;
}
