/**
 * The benchmark's CPU accounting by kind of thread (`CpuMeter`): CPU burned on a worker thread is counted as the
 * workers', CPU burned on the main thread as the main thread's, and a reading taken after a thread ended no longer
 * holds it. The work is measured by each thread's own counter (`process.threadCpuUsage`), not by a clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { CpuMeter, readCpu } from '../src/bench/cpu.ts';

/** Spin on the calling thread until it has used `ms` of CPU by its own count (the worker runs this same source). */
function spin(ms: number): number {
  const t0 = process.threadCpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 1e5; i++) x += Math.sqrt(i);
    const u = process.threadCpuUsage(t0);
    if ((u.user + u.system) / 1000 >= ms) return x;
  }
}

test('CpuMeter: a worker thread\'s CPU is the workers\', the main thread\'s is main\'s', { skip: readCpu() === undefined ? 'no per-thread CPU counters on this platform' : false }, async () => {
  const meter = new CpuMeter();
  assert.equal(meter.supported, true);
  // The worker waits for a message before spinning, so that the reading before it sees the thread at (near) zero.
  // It keeps listening afterwards: a worker with no listener left would end on its own, and an ended thread's CPU
  // is gone from the next reading (under load the main thread may read only after that).
  const worker = new Worker(`const spin = ${spin.toString()}; const { parentPort } = require('node:worker_threads');
    parentPort.on('message', () => { spin(300); parentPort.postMessage('done'); });`, { eval: true });
  await new Promise((resolve) => worker.once('online', resolve));
  meter.start();
  worker.postMessage('go');
  assert.ok(spin(200) > 0);
  await new Promise((resolve) => worker.once('message', resolve));
  meter.stop();
  const used = meter.used;
  // Kernel counters tick every 10 ms per thread: allow two ticks either way.
  assert.ok(used.workers >= 280, `workers ${used.workers} ms (the worker spun 300 ms of CPU)`);
  assert.ok(used.main >= 180, `main ${used.main} ms (the main thread spun 200 ms of CPU)`);
  // Neither spin is counted twice or on the other side (either would put a side at 480 ms or more).
  assert.ok(used.workers < 420, `workers ${used.workers} ms: the main thread's spin counted as the worker's?`);
  assert.ok(used.main < 420, `main ${used.main} ms: the worker's spin counted as the main thread's?`);
  assert.equal(used.total, used.main + used.workers + used.v8 + used.libuv + used.other);

  // Once the worker has ended, its thread is gone from a reading: measure before stopping the workers.
  await worker.terminate();
  const after = readCpu()!;
  assert.ok(![...after.values()].some((t) => t.kind === 'workers'), 'no worker thread left after terminate');
  assert.ok([...after.entries()].some(([tid, t]) => tid === process.pid && t.kind === 'main'));
});
