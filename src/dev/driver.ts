/**
 * Sends the traffic generator's transactions to a node over JSON-RPC and cuts blocks with `evm_mine`: the setup
 * (WETH9, Uniswap V2 factory and router, ERC-20 tokens, pools with liquidity, token distribution, approvals), then
 * randomised blocks (transfers, swaps on a hot pool, nonce chains, creations, reverts, self-destructs, wraps).
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import { TRAFFIC_CHAIN, type TrafficGenerator } from '../bench/traffic.ts';
import { randomBlocks } from '../bench/workloads.ts';
import type { RpcClient } from '../source/ethereum/rpc.ts';
import { hex } from '../util/bytes.ts';
import type { GenesisFile } from '../source/ethereum/genesis.ts';

export interface DriverOptions {
  /** Declared gas of the transactions sent per mined block stays under this (the node's block gas limit). */
  blockGasLimit: bigint;
  /** Transactions in flight at once while sending. */
  concurrency?: number;
}

export class RpcTrafficDriver {
  readonly rpc: RpcClient;
  readonly gen: TrafficGenerator;
  private readonly opts: Required<DriverOptions>;

  constructor(rpc: RpcClient, gen: TrafficGenerator, opts: DriverOptions) {
    this.rpc = rpc;
    this.gen = gen;
    this.opts = { concurrency: 16, ...opts };
  }

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
        await this.rpc.call('eth_sendRawTransaction', ['0x' + hex(tx.serialize())]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, txs.length) }, worker));
  }

  async mine(): Promise<void> {
    await this.rpc.call('evm_mine', []);
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
