/**
 * Traffic for the local Selendra chain: the generator's EVM transactions (ERC-20, WETH9, Uniswap V2, creations,
 * self-destructs, reverts) sent as `ethereum.transact` extrinsics, plain Substrate balance transfers into the accounts
 * EVM addresses map to (balances moving outside the EVM), and blocks built on demand. The generator is set up for
 * Frontier: fees well above the base fee, gas limits scaled for the storage meter, account-creating values above the
 * existential deposit.
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import type { Common } from '@ethereumjs/common';
import type { ApiPromise } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import type { KeyringPair } from '@polkadot/keyring/types';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { TrafficGenerator } from '../bench/traffic.ts';
import { randomBlocks } from '../bench/workloads.ts';
import { defaultNativeAccount } from '../source/selendra/accounts.ts';
import { encodeEvmExtrinsic } from '../source/selendra/extrinsic.ts';
import type { Funding, SelendraChain } from './selendra.ts';

/** Declared gas per block the driver fills (below the 36M block limit and the normal-class weight share). */
const BLOCK_GAS = 20_000_000n;
const ETH = 10n ** 18n;

export function selendraGenerator(common: Common, seed: number): TrafficGenerator {
  return new TrafficGenerator(common, { seed, holders: 40, tokens: 3, pools: 2, swappers: 8, payers: 4, maxFeePerGas: 100_000_000_000n, gasScale: 1.5, minValue: 10n ** 9n });
}

/** What the chain must hold at genesis for the generator (and the Substrate sender //Alice). */
export async function selendraFunding(gen: TrafficGenerator): Promise<Funding[]> {
  await cryptoWaitReady();
  const alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
  const alloc = gen.alloc();
  return [
    ...Object.entries(alloc).map(([a, v]) => ({ account: Uint8Array.from(Buffer.from(a.slice(2), 'hex')), balance: BigInt(v.balance!) })),
    { account: alice.publicKey, balance: 1_000_000n * ETH },
  ];
}

export class SelendraTrafficDriver {
  readonly gen: TrafficGenerator;
  private readonly chain: SelendraChain;
  private readonly api: ApiPromise;
  private readonly alice: KeyringPair;
  private aliceNonce = 0;
  private randomBlocks = 0;

  constructor(chain: SelendraChain, api: ApiPromise, gen: TrafficGenerator) {
    this.chain = chain;
    this.api = api;
    this.gen = gen;
    this.alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
  }

  /** Queue EVM transactions. */
  async send(txs: TypedTransaction[]): Promise<void> {
    for (const t of txs) await this.api.rpc.author.submitExtrinsic(u8aToHex(encodeEvmExtrinsic(this.chain.runtime.registry, t)));
  }

  /** Queue a Substrate transfer from //Alice to the account an EVM address maps to. */
  async substrateTransfer(to: Uint8Array, amount: bigint): Promise<void> {
    await this.api.tx.balances.transferKeepAlive(defaultNativeAccount(to), amount).signAndSend(this.alice, { nonce: this.aliceNonce++ });
  }

  /**
   * Queue an EVM call through `EthereumChecked.transact`, signed by //Alice at the Substrate level: it enters the
   * Ethereum block with a dummy signature, no EVM fee and the pallet's own nonce.
   */
  async checkedCall(target: Uint8Array, input: Uint8Array, gasLimit = 200_000n): Promise<void> {
    await this.api.tx.ethereumChecked
      .transact({ gasLimit, target: u8aToHex(target), value: 0, input: u8aToHex(input), maybeAccessList: null })
      .signAndSend(this.alice, { nonce: this.aliceNonce++ });
  }

  /** Send `txs` in as many blocks as their declared gas needs (each with `extra` queued first); the blocks built. */
  async sendAndBuild(txs: TypedTransaction[], extra: () => Promise<void> = async () => {}): Promise<number[]> {
    const built: number[] = [];
    let chunk: TypedTransaction[] = [];
    let gas = 0n;
    const flush = async () => {
      if (chunk.length === 0) return;
      await extra();
      await this.send(chunk);
      built.push((await this.chain.newBlock()).number);
      chunk = [];
      gas = 0n;
    };
    for (const t of txs) {
      if (gas + t.gasLimit > BLOCK_GAS) await flush();
      chunk.push(t);
      gas += t.gasLimit;
    }
    await flush();
    return built;
  }

  /** Deployments, pools, liquidity, distribution, approvals. */
  setup(): Promise<number[]> {
    return this.sendAndBuild(this.gen.setup(1_000_000).flatMap((b) => b.transactions as TypedTransaction[]));
  }

  /**
   * One block of `n` random transactions, plus a Substrate transfer into a random holder's mapped account, and in
   * every fourth block a WETH9 deposit() through EthereumChecked (such a block runs on the main thread).
   */
  async randomBlock(n: number): Promise<number[]> {
    const txs = randomBlocks(this.gen, 1, n, { zipf: 1.0, hotPool: 0.3 })[0].transactions as TypedTransaction[];
    const checked = this.randomBlocks++ % 4 === 3;
    return this.sendAndBuild(txs, async () => {
      await this.substrateTransfer(this.gen.holders[this.gen.rng.int(this.gen.holders.length)].address.bytes, ETH);
      if (checked) await this.checkedCall(this.gen.weth.bytes, Uint8Array.from([0xd0, 0xe3, 0x0d, 0xb0]));
    });
  }
}
