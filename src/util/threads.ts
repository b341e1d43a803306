/**
 * This process's threads as Linux lists them (`/proc/self/task`): their ids, names and scheduler fields. Used by the
 * benchmark's CPU meter (bench/cpu.ts) and to find LevelDB's compaction thread (state/compaction-priority.ts).
 * Elsewhere than Linux, or where /proc cannot be read, the list is undefined.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The ids of this process's threads; undefined where /proc/self/task cannot be read. */
export function threadIds(): number[] | undefined {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return undefined;
  }
}

/** A thread's name (`comm`: set by the thread, or inherited from the one that started it); undefined if it ended. */
export function threadName(tid: number): string | undefined {
  try {
    return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * A thread's `stat` fields from the third on (the state), past the command name, which may hold spaces: index 11 and
 * 12 are utime and stime in clock ticks, 16 the nice value. Undefined if the thread ended.
 */
export function threadStat(tid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The calling thread's id (the main thread's is the process id); undefined where /proc/thread-self cannot be read. */
export function currentThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

/** The ids of this process's threads named `name`; undefined where /proc/self/task cannot be read. */
export function threadsNamed(name: string): number[] | undefined {
  return threadIds()?.filter((t) => threadName(t) === name);
}
