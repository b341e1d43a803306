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

/** Which answer is being read: the node, the call (method and parameters) and the block it is about. */
interface Answer {
  label: string;
  method: string;
  params: unknown[];
  block?: bigint;
}

/**
 * An answer that does not check out (a missing field, a wrong type, a hash that does not match): typed
 * (SOURCE_FAILED, kind bad_answer), naming the node, the call and what was wrong. The follow loop asks again.
 */
function badAnswer(a: Answer, what: string, details: Record<string, unknown> = {}, cause?: unknown): ParallaxError {
  const call = `${a.method}(${a.params.map((x) => JSON.stringify(x)).join(', ')})`;
  return new ParallaxError(
    'SOURCE_FAILED',
    `${a.label}: ${call} answered ${what}`,
    { method: a.method, kind: 'bad_answer', ...(a.block === undefined ? {} : { block: a.block }), ...details },
    cause === undefined ? undefined : { cause },
  );
}

function shown(v: unknown): string {
  return v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v)).slice(0, 80);
}

function qty(v: unknown, field: string, a: Answer): bigint {
  if (v === undefined) throw badAnswer(a, `no ${field}`, { field });
  if (typeof v !== 'string' || !QTY.test(v)) throw badAnswer(a, `${field} ${shown(v)}, not a hex quantity`, { field });
  return BigInt(v);
}

function data(v: unknown, field: string, a: Answer, len?: number): Uint8Array {
  if (v === undefined) throw badAnswer(a, `no ${field}`, { field });
  if (typeof v !== 'string' || !DATA.test(v)) throw badAnswer(a, `${field} ${shown(v)}, not hex data`, { field });
  const b = fromHex(v);
  if (len !== undefined && b.length !== len) throw badAnswer(a, `${field} of ${b.length} bytes, not ${len}`, { field });
  return b;
}

/** A block object (or null), anything else is a bad answer. */
function blockOrNull(v: unknown, a: Answer): RpcBlock | null {
  if (v === null) return null;
  if (v === undefined || typeof v !== 'object' || Array.isArray(v)) throw badAnswer(a, `${shown(v)}, not a block`);
  return v as RpcBlock;
}

function canonicalOf(b: RpcBlock, a: Answer): CanonicalBlock {
  return {
    number: qty(b.number, 'number', a),
    hash: data(b.hash, 'hash', a, 32),
    parentHash: data(b.parentHash, 'parentHash', a, 32),
    stateRoot: data(b.stateRoot, 'stateRoot', a, 32),
    receiptsRoot: data(b.receiptsRoot, 'receiptsRoot', a, 32),
    logsBloom: data(b.logsBloom, 'logsBloom', a, 256),
    gasUsed: qty(b.gasUsed, 'gasUsed', a),
    timestamp: qty(b.timestamp, 'timestamp', a),
  };
}

/**
 * Header fields a full block must carry under its rules. A missing one would be filled with a default by the
 * decoder and only show as a hash that does not match; named here instead.
 */
function missingHeaderField(b: RpcBlock, common: Common): string | undefined {
  const fields = ['hash', 'parentHash', 'sha3Uncles', 'miner', 'stateRoot', 'transactionsRoot', 'receiptsRoot', 'logsBloom', 'difficulty', 'number', 'gasLimit', 'gasUsed', 'timestamp', 'extraData'];
  if (common.isActivatedEIP(1559)) fields.push('baseFeePerGas');
  if (common.isActivatedEIP(4895)) fields.push('withdrawalsRoot', 'withdrawals');
  if (common.isActivatedEIP(4844)) fields.push('blobGasUsed', 'excessBlobGas');
  if (common.isActivatedEIP(4788)) fields.push('parentBeaconBlockRoot');
  return fields.find((f) => b[f] === undefined || b[f] === null);
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
    const chainId = qty(await this.rpc.call('eth_chainId'), 'chain id', { label: this.label, method: 'eth_chainId', params: [] });
    if (chainId !== BigInt(profile.chainId)) {
      throw new ParallaxError('CONFIG_INVALID', `${this.label} serves chain id ${chainId}, the genesis file ${this.opts.genesis} says ${profile.chainId}`, { key: 'source.genesis' });
    }
    const a0: Answer = { label: this.label, method: 'eth_getBlockByNumber', params: ['0x0', false], block: 0n };
    const b0 = blockOrNull(await this.rpc.call('eth_getBlockByNumber', a0.params), a0);
    if (b0 === null) throw new ParallaxError('SOURCE_FAILED', `${this.label} has no block 0`, { method: a0.method, kind: 'bad_answer' });
    return { profile, alloc: g.alloc, genesis: canonicalOf(b0, a0) };
  }

  async head(): Promise<bigint> {
    return qty(await this.rpc.call('eth_blockNumber'), 'block number', { label: this.label, method: 'eth_blockNumber', params: [] });
  }

  async finalized(): Promise<bigint | undefined> {
    if (this.unsupported.has('finalized')) return undefined;
    const a: Answer = { label: this.label, method: 'eth_getBlockByNumber', params: ['finalized', false] };
    try {
      const b = blockOrNull(await this.rpc.call('eth_getBlockByNumber', a.params, 0), a);
      return b === null ? undefined : qty(b.number, 'number', a);
    } catch (e) {
      if ((e as ParallaxError).details?.rpcCode !== undefined) this.unsupported.add('finalized');
      return undefined;
    }
  }

  async hashAt(n: bigint): Promise<Uint8Array | undefined> {
    const a: Answer = { label: this.label, method: 'eth_getBlockByNumber', params: ['0x' + n.toString(16), false], block: n };
    const b = blockOrNull(await this.rpc.call('eth_getBlockByNumber', a.params), a);
    if (b === null) return undefined;
    if (qty(b.number, 'number', a) !== n) throw badAnswer(a, `block ${BigInt(b.number as string)}`);
    return data(b.hash, 'hash', a, 32);
  }

  async block(n: bigint, common: Common): Promise<SourceBlock | undefined> {
    const a: Answer = { label: this.label, method: 'eth_getBlockByNumber', params: ['0x' + n.toString(16), true], block: n };
    const raw = blockOrNull(await this.rpc.call('eth_getBlockByNumber', a.params), a);
    if (raw === null) return undefined;
    const number = qty(raw.number, 'number', a);
    if (number !== n) throw badAnswer(a, `block ${number}`);
    common.setHardforkBy({ blockNumber: n, timestamp: qty(raw.timestamp, 'timestamp', a) });
    const missing = missingHeaderField(raw, common);
    if (missing !== undefined) throw badAnswer(a, `a block without ${missing}`, { field: missing });
    const canonical = canonicalOf(raw, a);
    if (!Array.isArray(raw.transactions)) throw badAnswer(a, `transactions ${shown(raw.transactions)}, not a list`, { field: 'transactions' });
    const txHashOnly = raw.transactions.findIndex((t) => t === null || typeof t !== 'object');
    if (txHashOnly >= 0) throw badAnswer(a, `transaction ${txHashOnly} as ${shown(raw.transactions[txHashOnly])}, not a transaction object`, { field: 'transactions' });
    let block;
    try {
      const uncles: Record<string, unknown>[] = [];
      const uncleHashes = (raw.uncles as string[] | undefined) ?? [];
      for (let i = 0; i < uncleHashes.length; i++) {
        uncles.push(await this.rpc.call('eth_getUncleByBlockHashAndIndex', [raw.hash, '0x' + i.toString(16)]));
      }
      block = createBlockFromRPC(raw as never, uncles as never[], { common, setHardfork: false, skipConsensusFormatValidation: true } as never);
    } catch (e) {
      if (e instanceof ParallaxError) throw e;
      throw badAnswer(a, `a block that cannot be decoded: ${errorMessage(e)}`, {}, e);
    }
    // The block as decoded must hash to what the node says: proves no header field was lost or misread. The body
    // must be the header's: transactions, withdrawals and uncles against their roots (else a garbled answer would be
    // executed and reported as a disagreement with the chain).
    if (hex(block.hash()) !== hex(canonical.hash)) {
      throw badAnswer(a, `a header that hashes to 0x${hex(block.hash())}, not to its hash 0x${hex(canonical.hash)}`, { field: 'hash' });
    }
    if (!(await block.transactionsTrieIsValid())) {
      throw badAnswer(a, `${block.transactions.length} transactions whose root is not the header's transactionsRoot`, { field: 'transactions' });
    }
    if (common.isActivatedEIP(4895) && !(await block.withdrawalsTrieIsValid())) {
      throw badAnswer(a, `withdrawals whose root is not the header's withdrawalsRoot`, { field: 'withdrawals' });
    }
    if (!block.uncleHashIsValid()) throw badAnswer(a, `uncles whose hash is not the header's sha3Uncles`, { field: 'uncles' });
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
