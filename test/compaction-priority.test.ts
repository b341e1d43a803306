/**
 * LevelDB's compaction thread at a lower CPU priority (src/state/compaction-priority.ts), on a real LevelDB. LevelDB
 * starts one compaction thread per process, at its first flush or compaction, so this file keeps a process to itself
 * (node's test runner runs each file in its own) and opens one database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../src/state/store.ts';
import { createDatabase } from '../src/state/db.ts';
import { threadNice } from '../src/state/compaction-priority.ts';
import { threadsNamed } from '../src/util/threads.ts';
import { devCommon } from './helpers/chain.ts';

test("LevelDB's compaction thread: found when it appears, given the nice value asked; libuv's pool and the main thread keep theirs", { skip: process.platform !== 'linux' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-compaction-'));
  let told: number | undefined;
  const store = await StateStore.open(createDatabase(dir), devCommon(), { undoDepth: 4, compactionNice: 15, onCompactionLowered: (t) => (told = t) });
  try {
    const pool = threadsNamed('libuv-worker') ?? [];
    assert.ok(pool.length >= 1, "libuv's pool has started");
    assert.equal(store.compactionThread(), undefined, 'no compaction yet, no thread');
    // 16 MB of random values: the 4 MiB write buffer is flushed to tables, on LevelDB's background thread.
    for (let b = 0; b < 16; b++) {
      const batch = store.db.batch();
      for (let i = 0; i < 1024; i++) batch.put(crypto.getRandomValues(new Uint8Array(33)), crypto.getRandomValues(new Uint8Array(1024)));
      await batch.write();
    }
    const deadline = Date.now() + 30_000;
    while (store.compactionThread() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const tid = store.compactionThread();
    assert.ok(tid !== undefined, 'the compaction thread was found');
    assert.equal(told, tid);
    assert.ok(!pool.includes(tid), 'not one of the pool threads that were there before LevelDB compacted');
    assert.ok((threadsNamed('libuv-worker') ?? []).includes(tid), 'named after the pool thread that started it');
    assert.equal(threadNice(tid), 15);
    for (const t of pool) assert.equal(threadNice(t), 0, `pool thread ${t}`);
    assert.equal(threadNice(process.pid), 0, 'the main thread');
    assert.ok((store.levelDbStats()?.files ?? 0) >= 1, 'LevelDB flushed tables');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
