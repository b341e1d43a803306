/**
 * Progress of an engine run, from the benchmark's engine process (engine-process.ts) to the benchmark, which prints
 * it: a reference block of the contract workloads takes tens of seconds, and a run with `--blocks 40` minutes, with
 * nothing else to show meanwhile. At most one note per interval (10 s unless the job says otherwise), so the measured
 * blocks carry one IPC message per interval at most; none outside an engine process.
 */

/** Where a run is: which pass, and blocks done of the pass's total. */
export interface ProgressNote {
  progress: { pass: 'setup' | 'warm-up' | 'measured'; done: number; total: number };
}

export const PROGRESS_EVERY_MS = 10_000;

let sink: ((note: ProgressNote) => void) | undefined;
let everyMs = PROGRESS_EVERY_MS;
let last = 0;

/** Send progress notes to `send` (the engine process sets this up; nothing is sent otherwise). */
export function reportProgressTo(send: (note: ProgressNote) => void, intervalMs = PROGRESS_EVERY_MS): void {
  sink = send;
  everyMs = intervalMs;
  last = performance.now();
}

/** Block `done` of `total` of a pass has finished: a note if the interval since the last one has passed. */
export function blockDone(pass: ProgressNote['progress']['pass'], done: number, total: number): void {
  if (sink === undefined) return;
  const now = performance.now();
  if (now - last < everyMs) return;
  last = now;
  sink({ progress: { pass, done, total } });
}

export function isProgressNote(m: unknown): m is ProgressNote {
  return typeof m === 'object' && m !== null && 'progress' in m;
}

/** "measured block 12 of 40". */
export function progressLine(note: ProgressNote): string {
  const p = note.progress;
  return `${p.pass} block ${p.done} of ${p.total}`;
}
