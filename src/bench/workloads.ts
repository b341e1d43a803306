/**
 * Named workloads for the benchmark and the equivalence tests, each a list of blocks on top of the generator's setup.
 */
import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { TrafficGenerator, Zipf, type TrafficOptions } from './traffic.ts';

export const WORKLOADS = ['transfers', 'erc20', 'uniswap', 'mix', 'contended'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface MixOptions {
  /** Zipf exponent over holders and tokens (0 = uniform, higher = more contention). */
  zipf: number;
  /** Probability that a swap goes to the hot pool. */
  hotPool: number;
}

/** Traffic options sized for a workload run of `txsPerBlock` transactions. */
export function trafficOptionsFor(seed: number, txsPerBlock: number, blocks: number, holders = 10_000): TrafficOptions {
  return { seed, holders, tokens: 5, pools: 10, swappers: Math.min(holders, 1000), payers: txsPerBlock * Math.max(1, Math.min(blocks, 2)) };
}

/** Generate `blocks` blocks of `txsPerBlock` transactions of one workload. */
export function workloadBlocks(gen: TrafficGenerator, name: WorkloadName, blocks: number, txsPerBlock: number, mix: MixOptions = { zipf: 1.0, hotPool: 0.3 }): Block[] {
  const out: Block[] = [];
  const r = gen.rng;
  const holders = new Zipf(gen.holders.length, mix.zipf);
  const swappers = Math.min(gen.opts.swappers, gen.holders.length);
  let payer = 0;
  for (let b = 0; b < blocks; b++) {
    const txs: TypedTransaction[] = [];
    for (let i = 0; i < txsPerBlock; i++) {
      const kind = name === 'mix' ? pickMix(r.next()) : name;
      switch (kind) {
        case 'transfers':
          txs.push(gen.ethTransfer(gen.payers[payer++ % gen.payers.length]));
          break;
        case 'erc20': {
          const from = gen.holders[holders.sample(r)];
          const to = gen.holders[holders.sample(r)];
          txs.push(gen.erc20Transfer(from, 0, to, 1n + BigInt(r.int(1_000_000))));
          break;
        }
        case 'uniswap': {
          const from = gen.holders[r.int(swappers)];
          const pool = r.next() < mix.hotPool ? 0 : 1 + r.int(gen.pools.length - 1);
          txs.push(gen.swap(from, pool, r.next() < 0.5, 10n ** 15n * BigInt(1 + r.int(1000))));
          break;
        }
        case 'contended':
          txs.push(gen.swap(gen.holders[r.int(swappers)], 0, r.next() < 0.5, 10n ** 15n * BigInt(1 + r.int(1000))));
          break;
      }
    }
    out.push(gen.block(txs));
  }
  return out;
}

function pickMix(u: number): 'transfers' | 'erc20' | 'uniswap' {
  return u < 0.34 ? 'transfers' : u < 0.67 ? 'erc20' : 'uniswap';
}

/**
 * Randomised blocks for the equivalence property: every kind of traffic with tunable contention, plus nonce chains
 * from one sender, contract creations, reverts, self-destructs and transfers to fresh accounts.
 */
export function randomBlocks(gen: TrafficGenerator, blocks: number, txsPerBlock: number, mix: MixOptions): Block[] {
  const r = gen.rng;
  const holders = new Zipf(gen.holders.length, mix.zipf);
  const tokens = new Zipf(gen.tokens.length, mix.zipf);
  const swappers = Math.min(gen.opts.swappers, gen.holders.length);
  const out: Block[] = [];
  for (let b = 0; b < blocks; b++) {
    const txs: TypedTransaction[] = [];
    while (txs.length < txsPerBlock) {
      const u = r.next();
      const from = gen.holders[r.int(swappers)];
      if (u < 0.2) txs.push(gen.erc20Transfer(gen.holders[holders.sample(r) % swappers], tokens.sample(r), gen.holders[holders.sample(r)], 1n + BigInt(r.int(10 ** 6))));
      else if (u < 0.4) {
        const pool = r.next() < mix.hotPool ? 0 : r.int(gen.pools.length);
        txs.push(gen.swap(from, pool, r.next() < 0.5, 10n ** 15n * BigInt(1 + r.int(1000))));
      } else if (u < 0.5) txs.push(gen.ethTransfer(gen.payers[r.int(gen.payers.length)]));
      else if (u < 0.58) {
        // A nonce chain: one sender, several transactions in a row.
        const k = 2 + r.int(3);
        for (let j = 0; j < k; j++) txs.push(gen.erc20Transfer(from, tokens.sample(r), gen.holders[r.int(gen.holders.length)], 1n + BigInt(j)));
      } else if (u < 0.63) txs.push(gen.createToken(from));
      else if (u < 0.7) txs.push(gen.selfDestruct(from));
      else if (u < 0.78) {
        // Reverts: a transfer above the balance, and a swap whose minimum output cannot be met.
        if (r.next() < 0.5) txs.push(gen.erc20Transfer(from, tokens.sample(r), gen.holders[0], 10n ** 30n));
        else txs.push(gen.swap(from, r.int(gen.pools.length), true, 10n ** 15n, 10n ** 30n));
      } else if (u < 0.85) txs.push(gen.wrap(from, 10n ** 15n));
      else {
        // Plain value transfers between holders (recipient balances contend like the hot keys of real blocks).
        txs.push(gen.tx(from, gen.holders[holders.sample(r)].address, new Uint8Array(0), 21_000n, 1n + BigInt(r.int(1000))));
      }
    }
    out.push(gen.block(txs));
  }
  return out;
}
