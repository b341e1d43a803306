/**
 * LevelDB's compactions at a lower CPU priority than execution.
 *
 * LevelDB (1.20, the one classic-level bundles) flushes and compacts on one background thread per process, started at
 * its first compaction by whichever thread scheduled it; started from libuv's pool, it inherits that pool's name
 * ('libuv-worker'). Left at the priority of execution, it competes for the cores with the main thread and the workers,
 * and it compacts promptly: each level-0 table is merged into level 1 as soon as reads that passed through it have
 * spent its allowance (a seek compaction), rewriting the whole of level 1 each time when keys are hashes (the trie's
 * nodes). At a lower priority it runs when the cores have room, and by then several level-0 tables wait, merged into
 * level 1 in one pass. Lab, 2,000-transfer blocks, 2 workers (docs/performance.md, "Longer runs"): over 12 blocks
 * 8,732-8,899 tx/s against 7,991-8,430, LevelDB writing 36-59 MB against 104-119; over 100 blocks 7,074 against 6,429,
 * 983 MB against 2,415, and the database the same size at the end (257 MB in 131 tables against 258 in 135). LevelDB
 * bounds what can wait (writes slow down at 8 level-0 tables and stop at 12 until compaction catches up), so the work
 * is less, not put off.
 *
 * The thread is told apart from libuv's pool by when it appears: the pool's threads all start together at its first
 * use, which `watchCompactionThread` forces before it looks; LevelDB's thread is the first 'libuv-worker' thread to
 * appear after that. Its nice value is then raised through setpriority(2) on its thread id (Linux's priorities are
 * per thread; raising one needs no privilege). Elsewhere than Linux, or where /proc cannot be read, nothing is done.
 */
import { stat } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { threadStat, threadsNamed } from '../util/threads.ts';

const POOL_NAME = 'libuv-worker';
const CHECK_MS = 500;

/** A thread's nice value (the 19th field of its stat); undefined if it ended. */
export function threadNice(tid: number): number | undefined {
  const f = threadStat(tid);
  return f === undefined ? undefined : Number(f[16]);
}

export interface CompactionWatch {
  /** The compaction thread's id once found and lowered. */
  readonly tid: number | undefined;
  stop(): void;
}

/**
 * Before LevelDB is opened: note libuv's pool, then look for LevelDB's compaction thread every `CHECK_MS` (off any
 * block's path; the timer keeps nothing alive) and give it nice `nice` when it appears. `nice` 0 does nothing.
 * `onLowered` is told the thread's id.
 */
export async function watchCompactionThread(nice: number, onLowered?: (tid: number) => void): Promise<CompactionWatch> {
  const none: CompactionWatch = { tid: undefined, stop: () => {} };
  if (nice === 0) return none;
  // An asynchronous file-system call runs on libuv's pool, which starts all its threads at its first use (whatever
  // the call's outcome).
  await stat('.').catch(() => undefined);
  const pool = threadsNamed(POOL_NAME);
  if (pool === undefined) return none;
  const known = new Set(pool);
  let found: number | undefined;
  const timer = setInterval(() => {
    const now = threadsNamed(POOL_NAME) ?? [];
    const tid = now.find((t) => !known.has(t));
    if (tid === undefined) return;
    clearInterval(timer);
    try {
      setPriority(tid, nice);
      found = tid;
      onLowered?.(tid);
    } catch {
      // The thread ended, or the system refused: compactions keep their priority.
    }
  }, CHECK_MS);
  timer.unref();
  return {
    get tid() {
      return found;
    },
    stop: () => clearInterval(timer),
  };
}
