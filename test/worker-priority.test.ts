/**
 * The workers' threads at a lower CPU priority than the main thread (`ParallelOptions.workerNice`, `engine.workerNice`):
 * each worker lowers its own thread as it starts, a replacement too, and the main thread keeps its priority. Linux
 * only: elsewhere nice values are not per thread. A file of its own, so that no other engine's threads are about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadNice } from '../src/state/compaction-priority.ts';
import { DEFAULT_WORKER_NICE } from '../src/exec/parallel.ts';
import { threadIds } from '../src/util/threads.ts';
import { generator, node } from './helpers/traffic.ts';

/** This process's threads at each nice value. */
function threadsByNice(): Map<number, number[]> {
  const by = new Map<number, number[]>();
  for (const t of threadIds() ?? []) {
    const n = threadNice(t);
    if (n !== undefined) by.set(n, [...(by.get(n) ?? []), t]);
  }
  return by;
}

test('worker threads run at the nice value asked (the default without one, none at 0); the main thread and the rest keep 0', { skip: process.platform !== 'linux' }, async () => {
  assert.ok(DEFAULT_WORKER_NICE > 0 && DEFAULT_WORKER_NICE <= 19);
  const before = threadsByNice();
  assert.deepEqual([...before.keys()], [0], 'every thread at 0 before any engine');
  for (const [asked, expected] of [[7, 7], [undefined, DEFAULT_WORKER_NICE], [0, 0]] as const) {
    const gen = generator({ seed: 5 });
    const { store, engine } = await node(gen, gen.setup(50), 2, asked === undefined ? {} : { workerNice: asked });
    try {
      assert.deepEqual(engine.workerNice, [expected, expected], `asked ${asked}`);
      const by = threadsByNice();
      assert.equal(threadNice(process.pid), 0, 'the main thread');
      if (expected === 0) assert.deepEqual([...by.keys()], [0], 'no thread lowered');
      else {
        assert.equal(by.get(expected)?.length, 2, `two threads at ${expected}: ${JSON.stringify([...by])}`);
        assert.deepEqual([...by.keys()].sort((a, b) => a - b), [0, expected]);
      }
    } finally {
      await engine.close();
      await store.close();
    }
  }
});

test('a worker that replaces a crashed one runs at the same nice value', { skip: process.platform !== 'linux' }, async () => {
  const gen = generator({ seed: 6 });
  const { store, engine } = await node(gen, gen.setup(50), 2, { workerNice: 6, txTimeoutMs: 5000 });
  try {
    const txs = Array.from({ length: 40 }, (_, i) => gen.ethTransfer(gen.payers[i % gen.payers.length]));
    engine.injectFaults({ crashAtTx: 3 });
    const r = await engine.execute(gen.block(txs));
    assert.equal(r.stats.mode, 'fallback');
    assert.equal(engine.replacements, 1);
    assert.deepEqual(engine.workerNice, [6, 6]);
    assert.equal(threadsByNice().get(6)?.length, 2, 'the replacement and the survivor; the crashed one is gone');
  } finally {
    await engine.close();
    await store.close();
  }
});
