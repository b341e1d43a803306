/**
 * The dependency graph of an executed block, built from what each transaction actually read and wrote (not from
 * predictions). Transaction i depends on j < i when i read a key whose last writer before i was j (or a slot of an
 * account whose storage j wiped): those are the only orderings serial semantics force. Write-after-write and
 * write-after-read pairs are not dependencies here, because commits happen in block order anyway.
 *
 * The critical path is the heaviest chain of such dependencies, weighted by gas or by measured execution time. No
 * schedule, with any number of workers, can finish the block faster than its critical path, so
 * total / critical is an upper bound on the speedup parallel execution can achieve on the block.
 */
import { accountToken, balanceToken, type TxAccess } from '../state/overlay.ts';
import { hex } from '../util/bytes.ts';

/** What one committed transaction did, as far as the graph is concerned. */
export interface GraphNode {
  /** Keys read ('a' + address, 's' + address + slot). */
  reads: Iterable<string>;
  /** Keys written. */
  writes: Iterable<string>;
  /** Accounts whose storage was wiped (self-destruct, deletion, re-creation). */
  wiped: Iterable<string>;
  gas: bigint;
  /** Execution time of the attempt that was committed. */
  ms: number;
}

export interface CriticalPath<T> {
  /** Transaction indices along the path, in block order. */
  txs: number[];
  weight: T;
}

export interface DependencyGraph {
  /** Direct dependencies of each transaction (indices of earlier transactions), ascending. */
  deps: number[][];
  totalGas: bigint;
  totalMs: number;
  byGas: CriticalPath<bigint>;
  byTime: CriticalPath<number>;
}

/**
 * Graph node of a transaction from its tracked access. A write that leaves the value the transaction read unchanged
 * (the EVM re-stores every called account even for a zero-value call, an SSTORE of the same value) is no
 * dependency for later readers and is left out; the coinbase's lazy fee credit counts as a write.
 */
export function nodeOf(access: TxAccess, coinbase: string, gas: bigint, ms: number): GraphNode {
  const writes: string[] = [];
  const wiped: string[] = [...access.cleared];
  for (const [a, v] of access.accounts) {
    if (v === null) wiped.push(a);
    const k = 'a' + a;
    const before = access.reads.get(k);
    if (before === undefined || before !== accountToken(v)) writes.push(k);
    // A balance the transaction never touched is no write of it; one written back unchanged is none either.
    if (v?.keepBalance === true) continue;
    const seen = access.reads.get('b' + a);
    if (seen === undefined || seen !== balanceToken(v)) writes.push('b' + a);
  }
  for (const [k, v] of access.slots) {
    const before = access.reads.get('s' + k);
    if (before !== undefined && before === hex(v)) continue;
    writes.push('s' + k);
  }
  if (access.coinbaseDelta !== 0n) writes.push('b' + coinbase);
  return { reads: access.reads.keys(), writes, wiped, gas, ms };
}

export function dependencyGraph(nodes: GraphNode[]): DependencyGraph {
  const n = nodes.length;
  const lastWriter = new Map<string, number>();
  const wipedBy = new Map<string, number>();
  const deps: number[][] = new Array(n);
  const bestGas: bigint[] = new Array(n);
  const bestMs: number[] = new Array(n);
  const prevGas = new Int32Array(n).fill(-1);
  const prevMs = new Int32Array(n).fill(-1);
  let totalGas = 0n;
  let totalMs = 0;
  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    const d = new Set<number>();
    for (const k of node.reads) {
      const w = lastWriter.get(k);
      if (w !== undefined) d.add(w);
      if (k.charCodeAt(0) === 115 /* 's' */) {
        const c = wipedBy.get(k.slice(1, 41));
        if (c !== undefined) d.add(c);
      }
    }
    const list = [...d].sort((a, b) => a - b);
    deps[i] = list;
    let g = 0n;
    let t = 0;
    for (const j of list) {
      if (bestGas[j] > g) {
        g = bestGas[j];
        prevGas[i] = j;
      }
      if (bestMs[j] > t) {
        t = bestMs[j];
        prevMs[i] = j;
      }
    }
    bestGas[i] = g + node.gas;
    bestMs[i] = t + node.ms;
    totalGas += node.gas;
    totalMs += node.ms;
    for (const a of node.wiped) wipedBy.set(a, i);
    for (const k of node.writes) lastWriter.set(k, i);
  }
  return { deps, totalGas, totalMs, byGas: heaviest(bestGas, prevGas, 0n), byTime: heaviest(bestMs, prevMs, 0) };
}

function heaviest<T extends bigint | number>(best: T[], prev: Int32Array, zero: T): CriticalPath<T> {
  if (best.length === 0) return { txs: [], weight: zero };
  let end = 0;
  for (let i = 1; i < best.length; i++) if (best[i] > best[end]) end = i;
  const txs: number[] = [];
  for (let i = end; i >= 0; i = prev[i]) txs.push(i);
  return { txs: txs.reverse(), weight: best[end] };
}

/** Upper bound on the speedup: total work over the critical path (1 for an empty or fully serial block). */
export function speedupBound(total: number, critical: number): number {
  return critical > 0 ? total / critical : 1;
}
