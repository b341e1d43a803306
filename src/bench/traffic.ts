/**
 * Traffic generator over real contracts from the npm registry: OpenZeppelin 4.9.6 ERC-20 (ERC20PresetFixedSupply),
 * WETH9 (canonical-weth), Uniswap V2 factory and pairs (@uniswap/v2-core) and router (@uniswap/v2-periphery).
 *
 * Everything is deterministic for a seed: keys, setup (deployments, pools, liquidity, token distribution, router
 * approvals) and the measured blocks. Contention is tunable: Zipf-distributed holders and tokens, a hot pool, nonce
 * chains from one sender, creations, reverts, self-destructs and transfers to fresh accounts.
 */
import { createRequire } from 'node:module';
import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx';
import { Address, concatBytes, createContractAddress, createContractAddress2 } from '@ethereumjs/util';
import { keccak256, privateKeyToAddress } from '../crypto/index.ts';
import { CANCUN_FROM_GENESIS, type ChainProfile } from '../chain/profile.ts';
import type { Alloc } from '../state/genesis.ts';
import type { BlockRecord } from '../state/store.ts';
import { fromHex } from '../util/bytes.ts';
import { encodeArgs, encodeCall, type AbiValue } from './abi.ts';

const require = createRequire(import.meta.url);

function artifact(path: string): Uint8Array {
  const json = require(path) as { bytecode?: string; evm?: { bytecode?: { object?: string } } };
  const code = json.bytecode ?? json.evm?.bytecode?.object;
  if (typeof code !== 'string' || code.length < 4) throw new Error(`${path}: no bytecode`);
  return fromHex(code);
}

/** Creation code of the contracts the generator deploys, straight from the packages' build artifacts. */
export const ARTIFACTS = {
  erc20: () => artifact('@openzeppelin/contracts/build/contracts/ERC20PresetFixedSupply.json'),
  weth: () => artifact('canonical-weth/build/contracts/WETH9.json'),
  factory: () => artifact('@uniswap/v2-core/build/UniswapV2Factory.json'),
  pair: () => artifact('@uniswap/v2-core/build/UniswapV2Pair.json'),
  router: () => artifact('@uniswap/v2-periphery/build/UniswapV2Router02.json'),
};

/** Dev chain for generated traffic: every fork through Cancun from genesis. */
export const TRAFFIC_CHAIN: ChainProfile = {
  name: 'parallax-traffic',
  chainId: 31337,
  forks: CANCUN_FROM_GENESIS,
};

/** Deterministic PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Zipf(s) over 0..n-1 (s = 0 is uniform). */
export class Zipf {
  private cdf: Float64Array;
  constructor(n: number, s: number) {
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) this.cdf[i] = sum += 1 / Math.pow(i + 1, s);
    for (let i = 0; i < n; i++) this.cdf[i] /= sum;
  }
  sample(r: Rng): number {
    const u = r.next();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface TrafficOptions {
  seed: number;
  /** Accounts holding ETH and token 0 (the ERC-20 workload's holders). */
  holders: number;
  tokens: number;
  /** Uniswap V2 pairs over the tokens; pool 0 is the hot one. */
  pools: number;
  /** Holders (the first ones) that also hold every token and approved the router. */
  swappers: number;
  /** Senders of plain ETH transfers (distinct from holders). */
  payers: number;
  /** Fee cap of every transaction (default 10 gwei). */
  maxFeePerGas?: bigint;
  /**
   * Every transaction's gas limit times this (default 1). A Frontier chain charges new storage and deployed code
   * by size (400 gas per byte on Selendra's spec 20005), far above what the EVM charges.
   */
  gasScale?: number;
  /**
   * Added to the value of transfers that create accounts (default 0). A Substrate chain refuses to create an account
   * below its existential deposit (5 * 10^8 on Selendra).
   */
  minValue?: bigint;
}

interface Key {
  priv: Uint8Array;
  address: Address;
  nonce: bigint;
}

const GAS_PRICE = 10n ** 10n;
const SUPPLY = 10n ** 36n;
const DEADLINE = 1n << 64n;
const ETH = 10n ** 18n;

function key(label: string, i: number): Key {
  const priv = keccak256(new TextEncoder().encode(`parallax-traffic-${label}-${i}`));
  return { priv, address: new Address(privateKeyToAddress(priv)), nonce: 0n };
}

export class TrafficGenerator {
  readonly common: Common;
  readonly opts: TrafficOptions;
  readonly rng: Rng;
  readonly deployer: Key;
  readonly holders: Key[];
  readonly payers: Key[];
  readonly weth: Address;
  readonly factory: Address;
  readonly router: Address;
  readonly tokens: Address[];
  readonly pools: { pair: Address; a: number; b: number }[];
  readonly genesis: Omit<BlockRecord, 'stateRoot' | 'receiptsRoot' | 'logsBloom' | 'gasUsed' | 'txCount'>;
  private parent: { number: bigint; hash: Uint8Array; timestamp: bigint };
  private fresh = 0;

  constructor(common: Common, opts: TrafficOptions) {
    this.common = common;
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    this.deployer = key('deployer', 0);
    this.holders = Array.from({ length: opts.holders }, (_, i) => key('holder', i));
    this.payers = Array.from({ length: opts.payers }, (_, i) => key('payer', i));
    const d = this.deployer.address;
    this.weth = createContractAddress(d, 0n);
    this.factory = createContractAddress(d, 1n);
    this.router = createContractAddress(d, 2n);
    this.tokens = Array.from({ length: opts.tokens }, (_, i) => createContractAddress(d, 3n + BigInt(i)));
    this.pools = [];
    for (let a = 0; a < opts.tokens && this.pools.length < opts.pools; a++) {
      for (let b = a + 1; b < opts.tokens && this.pools.length < opts.pools; b++) {
        const [t0, t1] = Buffer.compare(this.tokens[a].bytes, this.tokens[b].bytes) < 0 ? [this.tokens[a], this.tokens[b]] : [this.tokens[b], this.tokens[a]];
        const salt = keccak256(concatBytes(t0.bytes, t1.bytes));
        this.pools.push({ pair: createContractAddress2(this.factory, salt, ARTIFACTS.pair()), a, b });
      }
    }
    this.genesis = { number: 0n, hash: keccak256(new TextEncoder().encode(`parallax-traffic-genesis-${opts.seed}`)), parentHash: new Uint8Array(32), timestamp: 1_700_000_000n };
    this.parent = { number: 0n, hash: this.genesis.hash, timestamp: this.genesis.timestamp };
  }

  /** Genesis allocation: ETH for the deployer, the holders and the payers. */
  alloc(): Alloc {
    const alloc: Alloc = {};
    const fund = (k: Key, wei: bigint) => (alloc[k.address.toString()] = { balance: '0x' + wei.toString(16) });
    fund(this.deployer, 10n ** 30n);
    for (const k of this.holders) fund(k, 1000n * ETH);
    for (const k of this.payers) fund(k, 1000n * ETH);
    return alloc;
  }

  tx(from: Key, to: Address | undefined, data: Uint8Array, gasLimit: bigint, value = 0n): TypedTransaction {
    const t = createFeeMarket1559Tx(
      {
        nonce: from.nonce++,
        to,
        value,
        data,
        gasLimit: (gasLimit * BigInt(Math.round((this.opts.gasScale ?? 1) * 100))) / 100n,
        maxFeePerGas: this.opts.maxFeePerGas ?? GAS_PRICE,
        maxPriorityFeePerGas: 10n ** 9n,
        chainId: this.common.chainId(),
      },
      { common: this.common },
    );
    return t.sign(from.priv);
  }

  /** A block on top of the previous one the generator made. */
  block(txs: TypedTransaction[], gasLimit = 2_000_000_000n): Block {
    const b = createBlock(
      {
        header: {
          number: this.parent.number + 1n,
          parentHash: this.parent.hash,
          timestamp: this.parent.timestamp + 1n,
          gasLimit,
          baseFeePerGas: 7n,
          coinbase: this.payers[0]?.address ?? this.deployer.address,
          excessBlobGas: 0n,
          blobGasUsed: 0n,
          parentBeaconBlockRoot: new Uint8Array(32),
        },
        transactions: txs,
        withdrawals: [],
      },
      { common: this.common },
    );
    this.parent = { number: b.header.number, hash: b.hash(), timestamp: b.header.timestamp };
    return b;
  }

  private call(from: Key, to: Address, sig: string, args: AbiValue[], gas: bigint, value = 0n): TypedTransaction {
    return this.tx(from, to, encodeCall(sig, args), gas, value);
  }

  /** Deployments, pools, liquidity, token distribution and approvals, in blocks of at most `perBlock` txs. */
  setup(perBlock = 2000): Block[] {
    const d = this.deployer;
    const txs: TypedTransaction[] = [];
    txs.push(this.tx(d, undefined, ARTIFACTS.weth(), 2_000_000n));
    txs.push(this.tx(d, undefined, concatBytes(ARTIFACTS.factory(), encodeArgs([{ address: d.address.bytes }])), 6_000_000n));
    txs.push(this.tx(d, undefined, concatBytes(ARTIFACTS.router(), encodeArgs([{ address: this.factory.bytes }, { address: this.weth.bytes }])), 8_000_000n));
    this.tokens.forEach((_, i) =>
      txs.push(
        this.tx(
          d,
          undefined,
          concatBytes(ARTIFACTS.erc20(), encodeArgs([{ string: `Token ${i}` }, { string: `TK${i}` }, { uint: SUPPLY }, { address: d.address.bytes }])),
          3_000_000n,
        ),
      ),
    );
    for (const p of this.pools) {
      txs.push(this.call(d, this.factory, 'createPair(address,address)', [{ address: this.tokens[p.a].bytes }, { address: this.tokens[p.b].bytes }], 5_000_000n));
      const liquidity = 10n ** 27n;
      txs.push(this.call(d, this.tokens[p.a], 'transfer(address,uint256)', [{ address: p.pair.bytes }, { uint: liquidity }], 100_000n));
      txs.push(this.call(d, this.tokens[p.b], 'transfer(address,uint256)', [{ address: p.pair.bytes }, { uint: liquidity }], 100_000n));
      txs.push(this.call(d, p.pair, 'mint(address)', [{ address: d.address.bytes }], 300_000n));
    }
    this.holders.forEach((h, i) => {
      const tokens = i < this.opts.swappers ? this.tokens : this.tokens.slice(0, 1);
      for (const t of tokens) txs.push(this.call(d, t, 'transfer(address,uint256)', [{ address: h.address.bytes }, { uint: 10n ** 24n }], 100_000n));
    });
    for (const h of this.holders.slice(0, this.opts.swappers)) {
      for (const t of this.tokens) txs.push(this.call(h, t, 'approve(address,uint256)', [{ address: this.router.bytes }, { uint: (1n << 256n) - 1n }], 100_000n));
    }
    const blocks: Block[] = [];
    for (let i = 0; i < txs.length; i += perBlock) blocks.push(this.block(txs.slice(i, i + perBlock)));
    return blocks;
  }

  // ---- transaction kinds --------------------------------------------------------------------------------------

  ethTransfer(from: Key): TypedTransaction {
    const to = new Address(keccak256(new TextEncoder().encode(`fresh-${this.opts.seed}-${this.fresh++}`)).subarray(12));
    return this.tx(from, to, new Uint8Array(0), 21_000n, (this.opts.minValue ?? 0n) + 1000n + BigInt(this.rng.int(1000)));
  }

  erc20Transfer(from: Key, token: number, to: Key, amount: bigint): TypedTransaction {
    return this.call(from, this.tokens[token], 'transfer(address,uint256)', [{ address: to.address.bytes }, { uint: amount }], 120_000n);
  }

  swap(from: Key, pool: number, forward: boolean, amountIn: bigint, minOut = 0n): TypedTransaction {
    const p = this.pools[pool];
    const path = forward ? [this.tokens[p.a], this.tokens[p.b]] : [this.tokens[p.b], this.tokens[p.a]];
    return this.call(
      from,
      this.router,
      'swapExactTokensForTokens(uint256,uint256,address[],address,uint256)',
      [{ uint: amountIn }, { uint: minOut }, { addresses: path.map((a) => a.bytes) }, { address: from.address.bytes }, { uint: DEADLINE }],
      300_000n,
    );
  }

  /** WETH deposit (wrap ETH). */
  wrap(from: Key, wei: bigint): TypedTransaction {
    return this.call(from, this.weth, 'deposit()', [], 100_000n, wei);
  }

  createToken(from: Key): TypedTransaction {
    return this.tx(
      from,
      undefined,
      concatBytes(ARTIFACTS.erc20(), encodeArgs([{ string: 'New' }, { string: 'NEW' }, { uint: 10n ** 24n }, { address: from.address.bytes }])),
      3_000_000n,
    );
  }

  /** A contract created and self-destructed in the same transaction (init code CALLER SELFDESTRUCT), with value. */
  selfDestruct(from: Key): TypedTransaction {
    return this.tx(from, undefined, fromHex('33ff'), 100_000n, (this.opts.minValue ?? 0n) + 7n);
  }
}
