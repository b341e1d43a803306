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
import { accountToken, balanceToken, type LocalAccess, type TxAccess } from '../state/overlay.ts';
import { hex } from '../util/bytes.ts';

/** What one committed transaction did, as far as the graph is concerned. */
export interface GraphNode {
  /** Direct dependencies (indices of earlier transactions, ascending): see `DependencyTracker`. */
  deps: number[];
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
 * A block's dependencies, found as its transactions commit in block order: each transaction's reads are looked up
 * before its writes are noted. Only a write that changed something counts: one that leaves the value the
 * transaction read (the EVM re-stores every called account even for a zero-value call; an SSTORE of the same
 * value) is no dependency for later readers. The coinbase's lazy fee credit counts as a write of its balance, but
 * is kept apart from the other writes: `writerOf` answers which transaction's own code changed a key.
 */
export class DependencyTracker {
  private lastWriter = new Map<string, number>();
  private wipedBy = new Map<string, number>();
  private coinbaseBalance = '';
  private feeCreditBy = -1;

  /** Start a block whose coinbase is `coinbase` (hex). */
  reset(coinbase: string): void {
    this.lastWriter.clear();
    this.wipedBy.clear();
    this.coinbaseBalance = 'b' + coinbase;
    this.feeCreditBy = -1;
  }

  /** The direct dependencies, ascending, of the transaction that read `reads` (before its writes are noted). */
  depsOf(reads: Iterable<string>): number[] {
    const deps: number[] = [];
    const wiped = this.wipedBy.size > 0;
    for (const k of reads) {
      let w = this.lastWriter.get(k);
      if (k === this.coinbaseBalance && this.feeCreditBy > (w ?? -1)) w = this.feeCreditBy;
      if (w !== undefined && !deps.includes(w)) deps.push(w);
      if (wiped && k.charCodeAt(0) === 115 /* 's' */) {
        const c = this.wipedBy.get(k.slice(1, 41));
        if (c !== undefined && !deps.includes(c)) deps.push(c);
      }
    }
    return deps.length > 1 ? deps.sort((a, b) => a - b) : deps;
  }

  /** Note what transaction `i` changed. */
  noteWrites(i: number, access: TxAccess): void {
    const reads = access.reads;
    const lastWriter = this.lastWriter;
    for (const a of access.cleared) this.wipedBy.set(a, i);
    for (const [a, v] of access.accounts) {
      if (v === null) this.wipedBy.set(a, i);
      const k = 'a' + a;
      const before = reads.get(k);
      if (before === undefined || before !== accountToken(v)) lastWriter.set(k, i);
      // A balance the transaction never touched is no write of it; one written back unchanged is none either.
      if (v?.keepBalance === true) continue;
      const b = 'b' + a;
      const seen = reads.get(b);
      if (seen === undefined || seen !== balanceToken(v)) lastWriter.set(b, i);
    }
    for (const [k, v] of access.slots) {
      const key = 's' + k;
      const before = reads.get(key);
      if (before !== undefined && before === hex(v)) continue;
      lastWriter.set(key, i);
    }
    if (access.coinbaseDelta !== 0n) this.feeCreditBy = i;
  }

  /** Note what transaction `i`, run and tracked on this thread, changed (see `OverlayStateManager.endTxHere`). */
  noteChanged(i: number, local: LocalAccess): void {
    const lastWriter = this.lastWriter;
    for (const a of local.wiped) this.wipedBy.set(a, i);
    for (const k of local.changed) lastWriter.set(k, i);
    if (local.coinbaseDelta !== 0n) this.feeCreditBy = i;
  }

  /** The last transaction whose own writes changed `key` (a lazy fee credit to the coinbase is not one). */
  writerOf(key: string): number | undefined {
    return this.lastWriter.get(key);
  }
}

export function dependencyGraph(nodes: GraphNode[]): DependencyGraph {
  const n = nodes.length;
  const deps: number[][] = new Array(n);
  const bestGas: bigint[] = new Array(n);
  const bestMs: number[] = new Array(n);
  const prevGas = new Int32Array(n).fill(-1);
  const prevMs = new Int32Array(n).fill(-1);
  let totalGas = 0n;
  let totalMs = 0;
  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    const list = node.deps;
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
