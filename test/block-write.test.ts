/**
 * A block run on the main thread beside an idle worker has its LevelDB batch written by that worker while the next
 * block runs (see StateStore.writeOn and block-write.ts): the database must be, byte for byte, the one the main thread
 * writes itself, whatever the timing, and a worker that fails on a batch leaves it to the main thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import { workloadBlocks } from '../src/bench/workloads.ts';
import { NODE_FILE } from '../src/state/node-file.ts';
import { unpackNodes } from '../src/state/trie.ts';
import type { StateStore } from '../src/state/store.ts';
import { hex } from '../src/util/bytes.ts';
import { fingerprint, generator, node } from './helpers/traffic.ts';

/** Every key and value in the store's LevelDB (hex), once its last batch is written. */
async function entries(store: StateStore): Promise<string[]> {
  await store.flushed();
  const out: string[] = [];
  for await (const [k, v] of store.db.iterator({ gte: new Uint8Array([0]), lt: new Uint8Array([0xff]) })) out.push(`${hex(k)}=${hex(v)}`);
  return out;
}

/** The records of the trie node file in `dir` (hex), sorted. */
async function nodes(dir: string): Promise<string[]> {
  const out: string[] = [];
  unpackNodes(new Uint8Array(await readFile(join(dir, NODE_FILE))), (key, node) => out.push(`${hex(key)}=${hex(node)}`));
  return out.sort();
}

test("blocks run beside an idle worker: their batches written by it while the next block runs give the main thread's database byte for byte; a crash there leaves the batch to the main thread", async () => {
  const gen = generator({ seed: 41, holders: 3000, payers: 400 });
  const setup = gen.setup(400);
  const made = workloadBlocks(gen, 'erc20', 6, 300);
  // Decoded afresh for each engine: a run pins the senders on the objects it ran.
  const fresh = (): Block[] => made.map((x) => createBlockFromRLP(x.serialize(), { common: x.common }));
  const dirs = [await mkdtemp(join(tmpdir(), 'parallax-write-main-')), await mkdtemp(join(tmpdir(), 'parallax-write-worker-'))];
  // minSpeculativeGas 200,000: the token transfers run on the main thread whatever their senders, one worker recovering
  // the next block's beside them and the other idle. A cache of 64 entries sends most reads past it: while a batch is
  // still being written they must find the block's writes, which LevelDB does not have yet.
  const opts = { cores: 2, minSpeculativeGas: 200_000 };
  const failures: bigint[] = [];
  const serial = await node(gen, setup, 1, opts, dirs[0]);
  const two = await node(gen, setup, 2, opts, dirs[1], { cacheEntries: 64, onWriterFailed: (n) => failures.push(n) });
  const pool = (two.engine as unknown as { pool: { send(w: number, m: { t: string }, ...rest: unknown[]): void } }).pool;
  const send = pool.send.bind(pool);
  const writes: number[] = [];
  pool.send = (w, m, ...rest) => {
    if (m.t === 'write') writes.push(w);
    send(w, m, ...rest);
  };
  try {
    const serialBlocks = fresh();
    const blocks = fresh();
    const records = async (i: number) => {
      const number = blocks[i].header.number;
      assert.equal(hex((await two.store.blockRecord(number))!.stateRoot), hex((await serial.store.blockRecord(number))!.stateRoot), `block ${i}'s record`);
      assert.equal((await two.store.receipts(number))!.length, blocks[i].transactions.length, `block ${i}'s receipts`);
    };
    for (const [i, b] of blocks.entries()) {
      const s = await serial.engine.execute(serialBlocks[i], { next: serialBlocks[i + 1] });
      await serial.engine.commit(s.result);
      // Block 1's batch: the worker crashes on it. Blocks 2 and 4: written late, while the next block runs.
      if (i === 1) two.engine.injectFaults({ crashInWrite: true });
      if (i === 2 || i === 4) two.engine.injectFaults({ writeDelayMs: 400 });
      const r = await two.engine.execute(b, { next: blocks[i + 1] });
      assert.equal(r.stats.mode, 'serial', `block ${i}`);
      assert.deepEqual(fingerprint(r.result), fingerprint(s.result), `block ${i}`);
      // What only LevelDB answers waits for the previous block's batch, perhaps still being written.
      if (i > 0) await records(i - 1);
      await two.engine.commit(r.result);
    }
    await records(blocks.length - 1);
    // Every block's batch went to the idle worker; the one it crashed on was written here, the worker replaced.
    assert.equal(writes.length, blocks.length, `batches handed to a worker: ${writes.length}`);
    assert.ok(writes.every((w) => w === 1), `written by the idle worker: ${writes.join(', ')}`);
    assert.deepEqual(failures, [blocks[1].header.number]);
    assert.ok(two.engine.replacements >= 1);
    const [a, b] = [await entries(serial.store), await entries(two.store)];
    assert.ok(a.length > 5000, `${a.length} records`);
    assert.deepEqual(b, a);
    // The same trie nodes (one worker and two append a block's in different orders: the workers' shares come packed).
    assert.deepEqual(await nodes(dirs[1]), await nodes(dirs[0]));
    // The undo journals the worker wrote restore what the main thread's restore.
    await serial.store.unwind(3);
    await two.store.unwind(3);
    assert.equal(hex(two.store.stateRoot()), hex(serial.store.stateRoot()));
    assert.deepEqual(await entries(two.store), await entries(serial.store));
  } finally {
    await serial.engine.close();
    await two.engine.close();
    await serial.store.close();
    await two.store.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
