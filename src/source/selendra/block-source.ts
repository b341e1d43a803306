/**
 * The Selendra ingester behind the daemon's source interface: heads (finalized by default, best as an option),
 * Ethereum block hashes for the reorganisation check, and each block as an executable @ethereumjs block with the
 * Frontier block it came from (the daemon executes and verifies those through ./verify.ts). An empty data directory
 * starts at `source.startBlock` (default: the followed head) with an empty state.
 */
import type { Common } from '@ethereumjs/common';
import { selendraProfile, type FrontierRules } from '../../chain/frontier.ts';
import { createCommon } from '../../chain/profile.ts';
import { nativeCrypto } from '../../crypto/index.ts';
import { ParallaxError } from '../../errors.ts';
import type { BlockSource, CanonicalBlock, ChainSetup, SourceBlock } from '../types.ts';
import { SelendraSource, executableBlock, type FrontierBlock } from './index.ts';
import { selendraRules } from './follow.ts';
import { FrontierState } from './state.ts';

export interface SelendraBlockSourceOptions {
  url: string;
  label: string;
  timeoutMs: number;
  heads: 'finalized' | 'best';
  startBlock: number;
}

/** What the chain says of a Frontier block, in the daemon's terms (no state root: Frontier's is a Substrate root). */
function canonicalOf(fb: FrontierBlock): CanonicalBlock {
  const h = fb.header;
  return { number: fb.number, hash: fb.ethHash, parentHash: h.parentHash, receiptsRoot: h.receiptsRoot, logsBloom: h.logsBloom, gasUsed: h.gasUsed, timestamp: h.timestampMs / 1000n };
}

export class SelendraBlockSource implements BlockSource {
  readonly kind = 'selendra';
  readonly label: string;
  readonly ingest: SelendraSource;
  private readonly opts: SelendraBlockSourceOptions;
  private stateReader: FrontierState | undefined;
  private existentialDeposit = 0n;
  private rules: FrontierRules | undefined;
  private specVersion = 0;

  constructor(opts: SelendraBlockSourceOptions) {
    this.opts = opts;
    this.label = opts.label;
    this.ingest = new SelendraSource({ url: opts.url, label: opts.label, timeoutMs: opts.timeoutMs });
  }

  /** The chain's state, for repairs and post-state checks. */
  async state(): Promise<FrontierState> {
    if (this.stateReader === undefined) this.stateReader = new FrontierState(await this.ingest.connect(), this.existentialDeposit);
    return this.stateReader;
  }

  async open(): Promise<ChainSetup> {
    const api = await this.ingest.connect();
    const chainId = await this.ingest.chainId();
    const followed = await this.head();
    const start = this.opts.startBlock > 0 ? BigInt(this.opts.startBlock) : followed;
    if (start > followed) throw new ParallaxError('CONFIG_INVALID', `source.startBlock ${start} is ahead of the node's ${this.opts.heads} head ${followed}`, { key: 'source.startBlock' });
    if (start < 1n) throw new ParallaxError('CONFIG_INVALID', 'source.startBlock: the node has no block to start after yet', { key: 'source.startBlock' });
    const version = (await api.rpc.state.getRuntimeVersion(await api.rpc.chain.getBlockHash(start))).specVersion.toNumber();
    const rules = selendraRules(version);
    this.rules = rules;
    this.specVersion = version;
    this.existentialDeposit = BigInt(rules.existentialDeposit);
    const profile = selendraProfile(rules, Number(chainId));
    // The block before the first one executed stands for genesis: its Ethereum hash, an empty state.
    const parent = await this.ingest.block(start - 1n, createCommon(profile, nativeCrypto()));
    if (parent === undefined) throw new ParallaxError('SOURCE_FAILED', `${this.label} has no block ${start - 1n}`, { kind: 'bad_answer' });
    return {
      profile,
      alloc: {},
      genesis: canonicalOf(parent),
    };
  }

  async head(): Promise<bigint> {
    return this.opts.heads === 'finalized' ? this.ingest.finalized() : this.ingest.head();
  }

  async finalized(): Promise<bigint | undefined> {
    return this.ingest.finalized();
  }

  /** The Ethereum block hash Frontier recorded for block n (what the daemon links blocks by). */
  async hashAt(n: bigint): Promise<Uint8Array | undefined> {
    const substrate = await this.ingest.hashAt(n);
    if (substrate === undefined) return undefined;
    const api = await this.ingest.connect();
    const at = await api.at(substrate);
    const h = (await at.query.ethereum.blockHash(n)) as unknown as { toU8a(bare: boolean): Uint8Array };
    const bytes = h.toU8a(true);
    return bytes.some((b) => b !== 0) ? bytes : undefined;
  }

  async block(n: bigint, common: Common): Promise<SourceBlock | undefined> {
    const fb = await this.ingest.block(n, common);
    if (fb === undefined) return undefined;
    if (fb.specVersion !== 0 && fb.specVersion !== this.specVersion && JSON.stringify(selendraRules(fb.specVersion)) !== JSON.stringify(this.rules)) {
      // The engine's EVMs run one set of Frontier rules; a runtime that changes them needs a restart at this block.
      throw new ParallaxError('CONFIG_INVALID', `block ${n}: the runtime changed from spec ${this.specVersion} to ${fb.specVersion}, whose Frontier rules differ; restart the daemon (it resumes at block ${n} with the new rules)`, { block: n });
    }
    return {
      block: executableBlock(fb, common),
      canonical: canonicalOf(fb),
      frontier: fb,
    };
  }

  async close(): Promise<void> {
    await this.ingest.close();
  }
}
