/**
 * Sends the traffic generator's transactions to a node over JSON-RPC and cuts blocks with `evm_mine`: the setup
 * (WETH9, Uniswap V2 factory and router, ERC-20 tokens, pools with liquidity, token distribution, approvals), then
 * randomised blocks (transfers, swaps on a hot pool, nonce chains, creations, reverts, self-destructs, wraps).
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import { TRAFFIC_CHAIN, type TrafficGenerator } from '../bench/traffic.ts';
import { randomBlocks } from '../bench/workloads.ts';
import type { RpcClient } from '../source/ethereum/rpc.ts';
import { fromHex, hex } from '../util/bytes.ts';
import { keccak256 } from '../crypto/index.ts';
import type { GenesisFile } from '../source/ethereum/genesis.ts';

/** A mined block as the node ordered it: enough to mine the same chain again on a fresh node. */
export interface MinedBlock {
  number: bigint;
  hash: string;
  timestamp: bigint;
  rawTxs: string[];
}

export interface DriverOptions {
  /** Declared gas of the transactions sent per mined block stays under this (the node's block gas limit). */
  blockGasLimit: bigint;
  /** Transactions in flight at once while sending. */
  concurrency?: number;
  /** Block timestamps: genesis timestamp + number * this (seconds); 0 = the node's clock. */
  blockTime?: number;
  /** Keep every mined block's transactions (for `replay` after a node restart). */
  record?: boolean;
}

export class RpcTrafficDriver {
  readonly rpc: RpcClient;
  readonly gen: TrafficGenerator;
  private readonly opts: Required<DriverOptions>;

  constructor(rpc: RpcClient, gen: TrafficGenerator, opts: DriverOptions) {
    this.rpc = rpc;
    this.gen = gen;
    this.opts = { concurrency: 16, blockTime: 0, record: false, ...opts };
  }

  /** Blocks mined so far, as the node ordered them (when recording). */
  readonly mined: MinedBlock[] = [];
  private genesisTime: bigint | undefined;
  /** Raw transactions sent and not yet seen in a block, by hash (when recording). */
  private readonly sent = new Map<string, string>();

  /** A geth-style genesis for the generator's accounts on a proof-of-stake chain through Shanghai (or Cancun). */
  static genesisFile(gen: TrafficGenerator, hardfork: 'shanghai' | 'cancun', chainId = TRAFFIC_CHAIN.chainId): GenesisFile {
    const blockForks = ['homesteadBlock', 'eip150Block', 'eip155Block', 'eip158Block', 'byzantiumBlock', 'constantinopleBlock', 'petersburgBlock', 'istanbulBlock', 'berlinBlock', 'londonBlock'];
    const config: Record<string, unknown> = { chainId, terminalTotalDifficulty: 0, terminalTotalDifficultyPassed: true, shanghaiTime: 0 };
    for (const k of blockForks) config[k] = 0;
    if (hardfork === 'cancun') config.cancunTime = 0;
    return { config, alloc: gen.alloc() };
  }

  /** Private keys and balances of the genesis accounts (for nodes configured by account list, such as Hardhat). */
  static accounts(gen: TrafficGenerator): { privateKey: string; balance: bigint }[] {
    const alloc = gen.alloc();
    return [gen.deployer, ...gen.holders, ...gen.payers].map((k) => ({ privateKey: '0x' + hex(k.priv), balance: BigInt(alloc[k.address.toString()].balance!) }));
  }

  async send(txs: TypedTransaction[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < txs.length) {
        const tx = txs[next++];
        const raw = '0x' + hex(tx.serialize());
        if (this.opts.record) this.sent.set('0x' + hex(tx.hash()), raw);
        await this.rpc.call('eth_sendRawTransaction', [raw]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, txs.length) }, worker));
  }

  /** Send already-signed transactions (0x-hex), in order. */
  async sendRaw(raws: string[]): Promise<void> {
    for (const raw of raws) {
      if (this.opts.record) this.sent.set('0x' + hex(keccak256(fromHex(raw))), raw);
      await this.rpc.call('eth_sendRawTransaction', [raw]);
    }
  }

  async mine(): Promise<void> {
    let params: unknown[] = [];
    if (this.opts.blockTime > 0) {
      if (this.genesisTime === undefined) this.genesisTime = BigInt((await this.rpc.call<{ timestamp: string }>('eth_getBlockByNumber', ['0x0', false])).timestamp);
      const head = BigInt(await this.rpc.call<string>('eth_blockNumber'));
      params = [Number(this.genesisTime + (head + 1n) * BigInt(this.opts.blockTime))];
    }
    await this.rpc.call('evm_mine', params);
    if (this.opts.record) {
      const b = await this.rpc.call<{ number: string; hash: string; timestamp: string; transactions: { hash: string }[] }>('eth_getBlockByNumber', ['latest', false]);
      const rawTxs: string[] = [];
      for (const h of b.transactions as unknown as string[]) {
        const raw = this.sent.get(h);
        if (raw === undefined) throw new Error(`block ${b.number} holds transaction ${h} the driver did not send`);
        rawTxs.push(raw);
        this.sent.delete(h);
      }
      this.mined.push({ number: BigInt(b.number), hash: b.hash, timestamp: BigInt(b.timestamp), rawTxs });
    }
  }

  /** Mine recorded blocks again on a fresh node started with the same genesis and initialDate: the same chain. */
  async replay(blocks: MinedBlock[]): Promise<void> {
    for (const b of blocks) {
      for (const raw of b.rawTxs) await this.rpc.call('eth_sendRawTransaction', [raw]);
      await this.rpc.call('evm_mine', [Number(b.timestamp)]);
      const got = await this.rpc.call<{ hash: string }>('eth_getBlockByNumber', ['0x' + b.number.toString(16), false]);
      if (got.hash !== b.hash) throw new Error(`replayed block ${b.number} hashes to ${got.hash}, first time ${b.hash}`);
    }
  }

  /** Send `txs` in as many blocks as their declared gas needs, mining each. Returns the blocks mined. */
  async sendAndMine(txs: TypedTransaction[]): Promise<number> {
    let mined = 0;
    let chunk: TypedTransaction[] = [];
    let gas = 0n;
    const flush = async () => {
      if (chunk.length === 0) return;
      await this.send(chunk);
      await this.mine();
      mined++;
      chunk = [];
      gas = 0n;
    };
    for (const tx of txs) {
      if (gas + tx.gasLimit > this.opts.blockGasLimit) await flush();
      chunk.push(tx);
      gas += tx.gasLimit;
    }
    await flush();
    return mined;
  }

  /** Deployments, pools, liquidity, distribution and approvals. */
  async setup(): Promise<number> {
    const txs = this.gen.setup(1_000_000).flatMap((b) => b.transactions as TypedTransaction[]);
    return this.sendAndMine(txs);
  }

  /** One block of `n` randomised transactions (at most what the block gas limit takes). */
  async randomBlock(n: number, mix = { zipf: 1.0, hotPool: 0.3 }): Promise<number> {
    const txs = randomBlocks(this.gen, 1, n, mix)[0].transactions as TypedTransaction[];
    return this.sendAndMine(txs);
  }
}
