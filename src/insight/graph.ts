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

/** The dependencies of a transaction that has none: one array for all of them (frozen: never added to). */
const NO_DEPS: number[] = Object.freeze([] as number[]) as number[];

/**
 * A block's dependencies, found as its transactions commit in block order: each transaction's reads are looked up
 * before its writes are noted. Only a write that changed something counts: one that leaves the value the
 * transaction read (the EVM re-stores every called account even for a zero-value call; an SSTORE of the same
 * value) is no dependency for later readers. The coinbase's lazy fee credit counts as a write of its balance, but
 * is kept apart from the other writes: `writerOf` answers which transaction's own code changed a key.
 *
 * Writers are kept by address (an account's nonce and code, its balance) and by slot key ('s' + addr + slot): the
 * address strings are the ones the state layers and the transactions hold for the whole block anyway, so noting a
 * transaction run here makes no key string (keyed by a string per key and transaction, this bookkeeping and the
 * tracking took about 11 us of the main thread per transfer: see docs/performance.md, eighteenth session).
 */
export class DependencyTracker {
  private accountWriter = new Map<string, number>();
  private balanceWriter = new Map<string, number>();
  private slotWriter = new Map<string, number>();
  private wipedBy = new Map<string, number>();
  private coinbase = '';
  private feeCreditBy = -1;

  /** Start a block whose coinbase is `coinbase` (hex). */
  reset(coinbase: string): void {
    this.accountWriter.clear();
    this.balanceWriter.clear();
    this.slotWriter.clear();
    this.wipedBy.clear();
    this.coinbase = coinbase;
    this.feeCreditBy = -1;
  }

  /**
   * The direct dependencies, ascending, of the transaction that read `reads` (tracking keys: 'a' / 'b' + addr,
   * 's' + addr + slot), before its writes are noted.
   */
  depsOf(reads: Iterable<string>): number[] {
    let deps = NO_DEPS;
    const wiped = this.wipedBy.size > 0;
    for (const k of reads) {
      const c = k.charCodeAt(0);
      if (c === 97 /* 'a' */) deps = add(deps, this.accountWriter.get(k.slice(1)));
      else if (c === 98 /* 'b' */) deps = add(deps, this.balanceOf(k.slice(1)));
      else deps = this.addSlot(deps, k, wiped);
    }
    return ascending(deps);
  }

  /** `depsOf` for a transaction run and tracked on this thread (see `OverlayStateManager.endTxHere`). */
  depsOfLocal(local: LocalAccess): number[] {
    let deps = NO_DEPS;
    for (const a of local.readAccounts) deps = add(deps, this.accountWriter.get(a));
    for (const a of local.readBalances) deps = add(deps, this.balanceOf(a));
    const wiped = this.wipedBy.size > 0;
    for (const k of local.readSlots) deps = this.addSlot(deps, k, wiped);
    return ascending(deps);
  }

  /** `deps` with the writers of slot key `k` added: its last writer, and the wipe of its account's storage if any. */
  private addSlot(deps: number[], k: string, wiped: boolean): number[] {
    deps = add(deps, this.slotWriter.get(k));
    return wiped ? add(deps, this.wipedBy.get(k.slice(1, 41))) : deps;
  }

  /** The last writer of `addr`'s balance: its own writes, or the coinbase's fee credit where that came later. */
  private balanceOf(addr: string): number | undefined {
    const w = this.balanceWriter.get(addr);
    return addr === this.coinbase && this.feeCreditBy > (w ?? -1) ? this.feeCreditBy : w;
  }

  /** Note what transaction `i` changed. */
  noteWrites(i: number, access: TxAccess): void {
    const reads = access.reads;
    for (const a of access.cleared) this.wipedBy.set(a, i);
    for (const [a, v] of access.accounts) {
      if (v === null) this.wipedBy.set(a, i);
      const before = reads.get('a' + a);
      if (before === undefined || before !== accountToken(v)) this.accountWriter.set(a, i);
      // A balance the transaction never touched is no write of it; one written back unchanged is none either.
      if (v?.keepBalance === true) continue;
      const seen = reads.get('b' + a);
      if (seen === undefined || seen !== balanceToken(v)) this.balanceWriter.set(a, i);
    }
    for (const [k, v] of access.slots) {
      const key = 's' + k;
      const before = reads.get(key);
      if (before !== undefined && before === hex(v)) continue;
      this.slotWriter.set(key, i);
    }
    if (access.coinbaseDelta !== 0n) this.feeCreditBy = i;
  }

  /** Note what transaction `i`, run and tracked on this thread, changed (see `OverlayStateManager.endTxHere`). */
  noteChanged(i: number, local: LocalAccess): void {
    for (const a of local.wiped) this.wipedBy.set(a, i);
    for (const a of local.changedAccounts) this.accountWriter.set(a, i);
    for (const a of local.changedBalances) this.balanceWriter.set(a, i);
    for (const k of local.changedSlots) this.slotWriter.set(k, i);
    if (local.coinbaseDelta !== 0n) this.feeCreditBy = i;
  }

  /** The last transaction whose own writes changed tracking key `key` (a lazy fee credit to the coinbase is not one). */
  writerOf(key: string): number | undefined {
    const c = key.charCodeAt(0);
    if (c === 97) return this.accountWriter.get(key.slice(1));
    if (c === 98) return this.balanceWriter.get(key.slice(1));
    return this.slotWriter.get(key);
  }
}

/** A dependency list in ascending order. */
function ascending(deps: number[]): number[] {
  return deps.length > 1 ? deps.sort((a, b) => a - b) : deps;
}

/** `deps` with writer `w` added (a copy of the shared empty list at the first). */
function add(deps: number[], w: number | undefined): number[] {
  if (w === undefined) return deps;
  if (deps === NO_DEPS) return [w];
  if (!deps.includes(w)) deps.push(w);
  return deps;
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
