/**
 * CPU time of this process by kind of thread, for the benchmark: where the cores went while blocks were measured.
 *
 * Wall-clock profiles of several threads sharing two cores count a thread that waits for a core as busy; the kernel's
 * per-thread counters (Linux `/proc/self/task/<tid>/stat`, user + system time) do not. Threads are told apart by the
 * name the kernel has for them: the main thread (its id is the process id; threads it starts inherit its name, so the
 * name alone would not do), Node's worker threads ('WorkerThread': the execution workers), V8's helper threads
 * ('V8Worker': parallel and concurrent garbage collection, background compilation), libuv's pool ('libuv-worker':
 * LevelDB's asynchronous reads and batch writes), and the rest (LevelDB's compaction thread among them).
 *
 * The counters tick in clock ticks (`_SC_CLK_TCK`, 100 per second on Linux), so a figure is good to about 10 ms per
 * thread. A thread that ends between two readings takes its time with it: read before the engine's workers stop.
 */
import { threadIds, threadName, threadStat } from '../util/threads.ts';

export interface CpuByThread {
  /** Milliseconds of CPU, user + system. */
  main: number;
  workers: number;
  /** V8's helper threads: garbage collection and background compilation. */
  v8: number;
  /** libuv's thread pool (LevelDB batch writes and asynchronous reads). */
  libuv: number;
  other: number;
  total: number;
}

/** Per thread id: its kind and CPU milliseconds so far. */
export type CpuReading = Map<number, { kind: keyof Omit<CpuByThread, 'total'>; ms: number }>;

const TICK_MS = 10;

function kindOf(tid: number, comm: string): keyof Omit<CpuByThread, 'total'> {
  if (tid === process.pid) return 'main';
  if (comm === 'WorkerThread') return 'workers';
  if (comm === 'V8Worker') return 'v8';
  if (comm === 'libuv-worker') return 'libuv';
  return 'other';
}

/** The CPU time of every thread of this process now; undefined where the kernel does not say (not Linux). */
export function readCpu(): CpuReading | undefined {
  const tids = threadIds();
  if (tids === undefined) return undefined;
  const out: CpuReading = new Map();
  for (const tid of tids) {
    const comm = threadName(tid);
    const f = threadStat(tid);
    // The thread ended while we looked.
    if (comm === undefined || f === undefined) continue;
    // utime + stime (the 14th and 15th fields).
    out.set(tid, { kind: kindOf(tid, comm), ms: (Number(f[11]) + Number(f[12])) * TICK_MS });
  }
  return out;
}

export function zeroCpu(): CpuByThread {
  return { main: 0, workers: 0, v8: 0, libuv: 0, other: 0, total: 0 };
}

/** Add the CPU used between two readings (threads that started in between count from zero) to `into`. */
export function addCpu(into: CpuByThread, before: CpuReading | undefined, after: CpuReading | undefined): void {
  if (before === undefined || after === undefined) return;
  for (const [tid, a] of after) {
    const d = a.ms - (before.get(tid)?.ms ?? 0);
    if (d <= 0) continue;
    into[a.kind] += d;
    into.total += d;
  }
}

/** Accumulates CPU over several measured intervals. */
export class CpuMeter {
  readonly used = zeroCpu();
  private from: CpuReading | undefined;
  /** Whether this platform reports per-thread CPU time. */
  readonly supported = readCpu() !== undefined;

  start(): void {
    this.from = readCpu();
  }

  stop(): void {
    addCpu(this.used, this.from, readCpu());
    this.from = undefined;
  }
}
