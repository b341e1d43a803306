/**
 * An engine run of the benchmark in a process of its own (see `inChild` in run.ts): receives one job, runs it, sends
 * back its result or its error, and exits.
 */
import { isParallaxError, errorMessage } from '../errors.ts';
import { isReferenceJob, runReferenceJob } from './reference-jobs.ts';
import { reportProgressTo } from './progress.ts';
import type { ChildAnswer, ChildJob } from './run.ts';

if (process.send === undefined) {
  process.stderr.write('engine-process.ts is started by the benchmark (parallax bench), not by hand\n');
  process.exit(2);
}
const send = (a: ChildAnswer) => new Promise<void>((resolve) => process.send!(a, undefined, {}, () => resolve()));

process.once('message', async ({ progressMs, ...job }: ChildJob) => {
  reportProgressTo((note) => process.send!(note), progressMs);
  let answer: ChildAnswer;
  try {
    // The reference's process never loads run.ts, whose executor patches the library (see reference-jobs.ts).
    const result = isReferenceJob(job) ? await runReferenceJob(job) : await (await import('./run.ts')).runJob(job);
    answer = { ok: true, result };
  } catch (e) {
    answer = isParallaxError(e) ? { ok: false, message: e.message, code: e.code, details: e.details } : { ok: false, message: errorMessage(e) };
  }
  await send(answer);
  // Engines close their workers and databases; exiting here also ends anything a failed run left open.
  process.exit(answer.ok ? 0 : 1);
});
