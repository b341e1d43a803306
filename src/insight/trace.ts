/**
 * Execution trace of one block: where and when every transaction ran, every attempt that was thrown away and the
 * keys that invalidated it, the commit order, the dependency graph's critical path and the speedup bound it implies
 * beside the speedup achieved. Times are milliseconds from the start of the block's transaction phase.
 */
import type { ConservationReport } from './conservation.ts';
import { dependencyGraph, speedupBound, type GraphNode } from './graph.ts';

/** A state key, named: an account (nonce and code), an account's balance, or one storage slot of an account. */
export type KeyName = { kind: 'account' | 'balance'; address: string } | { kind: 'slot'; address: string; slot: string };

/** A tracking key's name: 'a' + addr an account (nonce, code), 'b' + addr its balance, 's' + addr + slot a slot. */
export function nameKey(key: string): KeyName {
  if (key[0] === 'a') return { kind: 'account', address: '0x' + key.slice(1) };
  if (key[0] === 'b') return { kind: 'balance', address: '0x' + key.slice(1) };
  return { kind: 'slot', address: '0x' + key.slice(1, 41), slot: '0x' + key.slice(41) };
}

export function keyLabel(k: KeyName): string {
  return k.kind === 'slot' ? `slot ${k.slot} of ${k.address}` : k.kind === 'balance' ? `balance of ${k.address}` : `account ${k.address}`;
}

/** Main thread: re-executions, serial blocks and serial tails run here. */
export const MAIN_THREAD = -1;

export interface Attempt {
  /** Worker index, or -1 for the main thread. */
  worker: number;
  kind: 'speculative' | 'reexecution' | 'serial';
  start: number;
  end: number;
  committed: boolean;
  /** For a discarded speculative run: every key whose committed value differed from what the run read. */
  invalidatedBy?: KeyName[];
}

export interface TxTrace {
  index: number;
  hash: string;
  gasUsed: string;
  attempts: Attempt[];
  /** Position in the commit order (block order: commits are sequential) and when it committed. */
  commitOrder: number;
  committedAt: number;
  /** Direct true dependencies: earlier transactions whose writes this one read. */
  deps: number[];
  onCriticalPath: boolean;
}

export interface BlockTrace {
  number: string;
  hash: string;
  mode: 'serial' | 'parallel' | 'fallback';
  workers: number;
  /** Wall-clock time (ms since the epoch) the transaction phase started. */
  startedAt: number;
  /** From the start of the transaction phase to the last commit. */
  spanMs: number;
  schedulingMs: number;
  txs: TxTrace[];
  critical: {
    gas: { txs: number[]; gas: string };
    time: { txs: number[]; ms: number };
  };
  speedup: {
    /** Total gas over the critical path's gas. */
    boundByGas: number;
    /** Total execution time over the critical path's time. */
    boundByTime: number;
    /** The time bound with this block's worker count: min(workers, boundByTime). */
    boundWithWorkers: number;
    /** Total execution time of the committed attempts over the span. */
    achieved: number;
  };
  totalGas: string;
  totalMs: number;
  conservation?: { minted: string; burned: string; destroyed: string; delta: string; ok: boolean };
}

/** One transaction's record while the block runs. */
export interface TxRecord {
  attempts: Attempt[];
  committedAt: number;
  node: GraphNode;
}

export function buildTrace(args: {
  number: bigint;
  hash: Uint8Array;
  txHashes: Uint8Array[];
  mode: BlockTrace['mode'];
  workers: number;
  startedAt: number;
  schedulingMs: number;
  records: TxRecord[];
  conservation?: ConservationReport;
}): BlockTrace {
  const { records } = args;
  const graph = dependencyGraph(records.map((r) => r.node));
  const onPath = new Set(graph.byGas.txs);
  const spanMs = records.length === 0 ? 0 : Math.max(...records.map((r) => r.committedAt));
  const boundByTime = speedupBound(graph.totalMs, graph.byTime.weight);
  const c = args.conservation;
  return {
    number: args.number.toString(),
    hash: hex0x(args.hash),
    mode: args.mode,
    workers: args.workers,
    startedAt: args.startedAt,
    spanMs: round(spanMs),
    schedulingMs: round(args.schedulingMs),
    txs: records.map((r, i) => ({
      index: i,
      hash: hex0x(args.txHashes[i]),
      gasUsed: r.node.gas.toString(),
      attempts: r.attempts.map((a) => ({ ...a, start: round(a.start), end: round(a.end) })),
      commitOrder: i,
      committedAt: round(r.committedAt),
      deps: graph.deps[i],
      onCriticalPath: onPath.has(i),
    })),
    critical: {
      gas: { txs: graph.byGas.txs, gas: graph.byGas.weight.toString() },
      time: { txs: graph.byTime.txs, ms: round(graph.byTime.weight) },
    },
    speedup: {
      boundByGas: ratio(Number(graph.totalGas), Number(graph.byGas.weight)),
      boundByTime: round(boundByTime),
      boundWithWorkers: round(Math.min(Math.max(1, args.workers), boundByTime)),
      achieved: spanMs > 0 ? round(graph.totalMs / spanMs) : 1,
    },
    totalGas: graph.totalGas.toString(),
    totalMs: round(graph.totalMs),
    conservation:
      c === undefined
        ? undefined
        : {
            minted: c.minted.toString(),
            burned: (c.baseFeeBurned + c.blobFeeBurned).toString(),
            destroyed: c.destroyed.toString(),
            delta: c.delta.toString(),
            ok: c.ok,
          },
  };
}

function ratio(a: number, b: number): number {
  return b > 0 ? round(a / b) : 1;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function hex0x(b: Uint8Array): string {
  return '0x' + Buffer.from(b).toString('hex');
}
