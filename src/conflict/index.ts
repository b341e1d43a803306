/**
 * Conflict detector: predicts each transaction's access set before execution and partitions the block.
 *
 * Predicted keys: the sender (its nonce and balance always change), the recipient when value moves, the address a
 * creation will occupy, access-list entries, and hints learned from earlier blocks: per contract and function
 * selector, the storage slots and accounts that made earlier speculative runs conflict. Transactions whose predicted
 * sets intersect are grouped (union-find) and run in block order on one worker; groups are spread over the workers
 * by expected cost (longest first onto the least loaded worker). A wrong prediction costs a re-execution, never a
 * wrong result: the rollback manager validates every speculative run against the state it should have seen.
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import { Capability } from '@ethereumjs/tx';
import { createContractAddress } from '@ethereumjs/util';
import { hex } from '../util/bytes.ts';

export interface PartitionStats {
  groups: number;
  largestGroup: number;
  /** Share of transactions outside the largest group: what the prediction lets run side by side. */
  predictedParallelFraction: number;
}

export interface Partition {
  /** Per worker, the transaction indices it runs, in block order. */
  assignment: number[][];
  stats: PartitionStats;
}

/** Per (contract, selector): keys that made runs conflict before, and the gas such calls used. */
export class HintBook {
  private keys = new Map<string, Map<string, number>>();
  private gas = new Map<string, bigint>();
  private readonly maxKeys: number;
  constructor(maxKeysPerCall = 32) {
    this.maxKeys = maxKeysPerCall;
  }

  static callKey(tx: TypedTransaction): string | undefined {
    if (tx.to === undefined) return undefined;
    const sel = tx.data.length >= 4 ? hex(tx.data.subarray(0, 4)) : '';
    return hex(tx.to.bytes) + sel;
  }

  /** Remember that calls like `tx` touched the contended `key` (an 'a'/'s' key of the overlay's tracking). */
  learnConflict(call: string | undefined, key: string): void {
    if (call === undefined) return;
    let m = this.keys.get(call);
    if (m === undefined) {
      m = new Map();
      this.keys.set(call, m);
    }
    m.set(key, (m.get(key) ?? 0) + 1);
    if (m.size > this.maxKeys) {
      // Forget the least seen key.
      let worst: string | undefined;
      let min = Infinity;
      for (const [k, c] of m) if (c < min) ((min = c), (worst = k));
      if (worst !== undefined) m.delete(worst);
    }
  }

  learnGas(call: string | undefined, gas: bigint): void {
    if (call === undefined) return;
    const prev = this.gas.get(call);
    this.gas.set(call, prev === undefined ? gas : (prev * 3n + gas) / 4n);
  }

  predictKeys(call: string | undefined): Iterable<string> {
    return call === undefined ? [] : (this.keys.get(call)?.keys() ?? []);
  }

  expectedGas(tx: TypedTransaction, call: string | undefined): bigint {
    return (call !== undefined ? this.gas.get(call) : undefined) ?? (tx.to === undefined || tx.data.length > 0 ? tx.gasLimit : 21_000n);
  }
}

class UnionFind {
  parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]];
      i = this.parent[i];
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** The keys a transaction is predicted to write or depend on. `sender` is the recovered sender (hex). */
export function predictAccess(tx: TypedTransaction, sender: string, hints: HintBook): string[] {
  const keys = ['a' + sender];
  if (tx.to === undefined) {
    keys.push('a' + hex(createContractAddress(tx.getSenderAddress(), tx.nonce).bytes));
  } else if (tx.value > 0n) {
    keys.push('a' + hex(tx.to.bytes));
  }
  if (tx.supports(Capability.EIP2930AccessLists)) {
    for (const [addr, slots] of (tx as unknown as { accessList: [Uint8Array, Uint8Array[]][] }).accessList) {
      const a = hex(addr);
      if (slots.length === 0) keys.push('a' + a);
      for (const s of slots) keys.push('s' + a + hex(s));
    }
  }
  for (const k of hints.predictKeys(HintBook.callKey(tx))) keys.push(k);
  return keys;
}

/** Group transactions with intersecting predicted sets and spread the groups over `workers`. */
export function partition(txs: TypedTransaction[], senders: string[], hints: HintBook, workers: number): Partition {
  const n = txs.length;
  const uf = new UnionFind(n);
  const owner = new Map<string, number>();
  const cost: bigint[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const call = HintBook.callKey(txs[i]);
    cost[i] = hints.expectedGas(txs[i], call);
    for (const k of predictAccess(txs[i], senders[i], hints)) {
      const o = owner.get(k);
      if (o === undefined) owner.set(k, i);
      else uf.union(o, i);
    }
  }
  const groups = new Map<number, { txs: number[]; cost: bigint }>();
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    let g = groups.get(r);
    if (g === undefined) {
      g = { txs: [], cost: 0n };
      groups.set(r, g);
    }
    g.txs.push(i);
    g.cost += cost[i];
  }
  const ordered = [...groups.values()].sort((a, b) => (b.cost > a.cost ? 1 : b.cost < a.cost ? -1 : a.txs[0] - b.txs[0]));
  const load = new Array<bigint>(workers).fill(0n);
  const assignment: number[][] = Array.from({ length: workers }, () => []);
  for (const g of ordered) {
    let w = 0;
    for (let j = 1; j < workers; j++) if (load[j] < load[w]) w = j;
    load[w] += g.cost;
    for (const i of g.txs) assignment[w].push(i);
  }
  for (const a of assignment) a.sort((x, y) => x - y);
  const largest = ordered.length === 0 ? 0 : Math.max(...ordered.map((g) => g.txs.length));
  return {
    assignment,
    stats: { groups: groups.size, largestGroup: largest, predictedParallelFraction: n === 0 ? 0 : 1 - largest / n },
  };
}
