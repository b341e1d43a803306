import { test } from 'node:test';
import { createBlock, createBlockFromRLP, type Block } from '@ethereumjs/block';
import { createTx } from '@ethereumjs/tx';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCall } from '../src/bench/abi.ts';
import { randomBlocks, workloadBlocks } from '../src/bench/workloads.ts';
import { RECOVER_CHUNK } from '../src/exec/protocol.ts';
import { HintBook, partition } from '../src/conflict/index.ts';
import { hex } from '../src/util/bytes.ts';
import { isParallaxError } from '../src/errors.ts';
import type { ParallelOptions } from '../src/exec/parallel.ts';
import { fingerprint, generator, node, type BlockStats } from './helpers/traffic.ts';

/** The block's results on one worker, after the setup: what every parallel run of it must give. */
async function serialFingerprint(gen: ReturnType<typeof generator>, setup: Block[], block: Block) {
  const serial = await node(gen, setup, 1);
  try {
    return fingerprint((await serial.engine.execute(block)).result);
  } finally {
    await serial.store.close();
  }
}

const SEEDS = Number(process.env.PARALLAX_PROPERTY_SEEDS ?? 6);

test(`property: over ${SEEDS} seeds of random contended blocks, workers 1, 2 and 4 give identical roots, receipts, bloom and gas`, async () => {
  let blocksChecked = 0;
  let reexecuted = 0;
  let reverted = 0;
  let parallelBlocks = 0;
  let split = 0;
  let prepared = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const gen = generator({ seed });
    const setup = gen.setup(400);
    // Contention varies with the seed: from uniform (zipf 0) to heavily skewed, hot pool from 10% to 60%.
    const mix = { zipf: (seed % 4) * 0.6, hotPool: 0.1 + (seed % 3) * 0.25 };
    const blocks = randomBlocks(gen, 3, 60 + seed * 10, mix);
    const runs = new Map<number, ReturnType<typeof fingerprint>[]>();
    for (const workers of [1, 2, 4]) {
      // Two workers on LevelDB read committed state directly; four, on an in-memory database, ask the main thread.
      const dir = workers === 2 ? await mkdtemp(join(tmpdir(), 'parallax-property-')) : undefined;
      // On LevelDB the workers also update the state trie's subtrees (here for blocks however small).
      const { store, engine } = await node(gen, setup, workers, dir !== undefined ? { minShardedAccounts: 1 } : {}, dir ?? ':memory:');
      // Once the setup's last batch is in LevelDB (a worker may still be writing it).
      await store.flushed();
      if (dir !== undefined) assert.equal(store.sharedReads(), dir);
      const prints = [];
      for (const [i, b] of blocks.entries()) {
        // Multi-worker runs name the next block, whose senders the workers recover ahead. The first names the third
        // block, not the second: the second runs without the ahead pass, the third uses the one made two blocks early.
        const next = workers === 1 ? undefined : blocks[i === 0 ? 2 : i + 1];
        const { result, stats } = await engine.execute(b, { next });
        // With workers, a block runs in parallel unless predicted to be one dependency chain; never a fallback.
        if (workers === 1) assert.equal(stats.mode, 'serial');
        else assert.notEqual(stats.mode, 'fallback', `seed ${seed}: ${stats.fallbackReason ?? ''}`);
        if (stats.mode === 'parallel') parallelBlocks++;
        // The third block's schedule (senders, partition) is prepared while the second block's commit is written.
        if (stats.preparedAhead) prepared++;
        if (workers === 1 || i !== 2) assert.equal(stats.preparedAhead, false, `seed ${seed}, ${workers} workers, block ${i}`);
        // Split only on LevelDB, and not when one contract's slots are most of the block (then it stays whole).
        if (stats.rootSharded) split++;
        if (dir === undefined) assert.equal(stats.rootSharded, false);
        reexecuted += stats.reexecuted;
        if (workers === 1) reverted += result.txs.filter((t) => t.reverted).length;
        prints.push(fingerprint(result));
        await engine.commit(result);
      }
      runs.set(workers, prints);
      await engine.close();
      await store.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(runs.get(2), runs.get(1), `seed ${seed}: 2 workers differ from 1`);
    assert.deepEqual(runs.get(4), runs.get(1), `seed ${seed}: 4 workers differ from 1`);
    blocksChecked += blocks.length;
  }
  // The blocks did exercise rollbacks and reverts: equality under conflicts, not just in their absence.
  assert.ok(reexecuted > 0, 'no transaction was ever re-executed');
  assert.ok(parallelBlocks >= SEEDS * 3, `only ${parallelBlocks} of the multi-worker runs were parallel`);
  assert.ok(reverted > 0, 'no transaction reverted');
  assert.ok(split >= SEEDS, `only ${split} of the ${SEEDS * 3} blocks on LevelDB had their state root split among the workers`);
  assert.equal(prepared, SEEDS * 2, `${prepared} of the ${SEEDS * 2} third blocks of multi-worker runs started on a prepared schedule`);
  assert.equal(blocksChecked, SEEDS * 3);
});

test('the same block under random worker delays gives identical results every time', async () => {
  const gen = generator({ seed: 99 });
  const setup = gen.setup(400);
  const [block] = randomBlocks(gen, 1, 120, { zipf: 0.8, hotPool: 0.4 });
  const expected = await serialFingerprint(gen, setup, block);
  const { store, engine } = await node(gen, setup, 2, { delayMs: 3 });
  const orders = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const { result, stats } = await engine.execute(block); // not committed: the same head each time
    assert.deepEqual(fingerprint(result), expected, `run ${i}`);
    orders.add(stats.conflictKeys.map(([k]) => k).join(','));
  }
  await engine.close();
  await store.close();
});

test('low contention: rollback rate under 5% and parallel fraction at least 70%; learned hints remove repeat conflicts', async () => {
  const gen = generator({ seed: 5, holders: 2000, payers: 400, swappers: 20 });
  const setup = gen.setup(1000);
  const n = 300;
  const transfers = workloadBlocks(gen, 'transfers', 1, n)[0];
  // ERC-20 transfers between distinct holders: pairs drawn from a shuffled list, no holder twice in the block.
  const order = Array.from({ length: 2 * n }, (_, i) => i).sort(() => gen.rng.next() - 0.5);
  const distinct = gen.block(Array.from({ length: n }, (_, i) => gen.erc20Transfer(gen.holders[order[2 * i]], 0, gen.holders[order[2 * i + 1]], 5n)));
  // Uniform random holders: the first such block has real collisions; the second must not re-learn them.
  const [uniform1, uniform2] = workloadBlocks(gen, 'erc20', 2, n, { zipf: 0, hotPool: 0 });
  const { store, engine } = await node(gen, setup, 2);
  try {
    const stats: BlockStats[] = [];
    for (const b of [transfers, distinct, uniform1, uniform2]) {
      const r = await engine.execute(b);
      stats.push(r.stats);
      await engine.commit(r.result);
    }
    for (const s of [stats[0], stats[1], stats[3]]) {
      assert.equal(s.mode, 'parallel');
      assert.ok(s.rollbackRate < 0.05, `rollback rate ${s.rollbackRate}`);
      assert.ok(s.parallelFraction >= 0.7, `parallel fraction ${s.parallelFraction}`);
    }
    // The collisions of the first uniform block were real, and what they taught groups the second block's.
    assert.ok(stats[2].reexecuted > 0);
    assert.ok(stats[3].largestGroup > 1 && stats[3].groups > n / 2, `groups ${stats[3].groups}, largest ${stats[3].largestGroup}`);
  } finally {
    await engine.close();
    await store.close();
  }
});

test('a block whose transactions are expected to use less gas than minSpeculativeGas on average runs on the main thread; results as serial', async () => {
  // 120 plain transfers from distinct payers: 21,000 expected gas each, every one its own group (nothing dominant).
  const gen = generator({ seed: 26, payers: 400 });
  const setup = gen.setup(400);
  const [block] = workloadBlocks(gen, 'transfers', 1, 120);
  const expected = await serialFingerprint(gen, setup, block);
  // undefined: the engine's default (50,000).
  for (const [minSpeculativeGas, mode] of [[undefined, 'serial'], [21_000, 'parallel'], [21_001, 'serial']] as const) {
    const { store, engine } = await node(gen, setup, 2, { minSpeculativeGas });
    try {
      const { result, stats } = await engine.execute(createBlockFromRLP(block.serialize(), { common: block.common }));
      assert.equal(stats.mode, mode, `minSpeculativeGas ${minSpeculativeGas}`);
      assert.deepEqual(fingerprint(result), expected);
    } finally {
      await engine.close();
      await store.close();
    }
  }
});

test("where a block's header has its gas used, that decides whether the block is too cheap to speculate on: token transfers whose gas limits look heavy run on the main thread", async () => {
  const gen = generator({ seed: 29, holders: 300, payers: 100 });
  const setup = gen.setup(400);
  // Uniform holders: no component dominates the block, so only the gas decides where it runs.
  const [block] = workloadBlocks(gen, 'erc20', 1, 120, { zipf: 0, hotPool: 0 });
  const serial = await node(gen, setup, 1);
  const { result } = await serial.engine.execute(block);
  await serial.store.close();
  const expected = fingerprint(result);
  const n = BigInt(block.transactions.length);
  // 120,000 of gas limit each, which a fresh engine expects a call it has not seen to use, but far less used.
  assert.ok(block.transactions.every((t) => t.gasLimit >= 100_000n) && result.gasUsed / n < 50_000n, `${result.gasUsed / n} gas used per transaction`);
  assert.equal(block.header.gasUsed, 0n);
  const withGas = createBlock({ header: { ...block.header.toJSON(), gasUsed: `0x${result.gasUsed.toString(16)}` }, transactions: block.transactions, withdrawals: [] }, { common: block.common });
  for (const [b, mode] of [[block, 'parallel'], [withGas, 'serial']] as const) {
    // The engine's own rule (minSpeculativeGas 50,000).
    const { store, engine } = await node(gen, setup, 2, { minSpeculativeGas: undefined });
    try {
      const r = await engine.execute(createBlockFromRLP(b.serialize(), { common: b.common }));
      assert.equal(r.stats.mode, mode, `header gas used ${b.header.gasUsed}`);
      assert.deepEqual(fingerprint(r.result), expected);
    } finally {
      await engine.close();
      await store.close();
    }
  }
});

test('groups are whole predicted components however large they grow; a block whose busiest worker would get 80% or more of its expected gas runs on the main thread; results as serial', async () => {
  const gen = generator({ seed: 31, payers: 40 });
  const setup = gen.setup(400);
  const [a, b] = gen.holders;
  let next = 1; // payers[0] is the coinbase
  const payer = () => gen.payers[next++];
  const pay = (from: (typeof gen.payers)[number], to: (typeof gen.holders)[number]) => gen.tx(from, to.address, new Uint8Array(0), 21_000n, 1n);
  const linked = (k: number) => Array.from({ length: k }, () => pay(payer(), a));
  const apart = (k: number) => Array.from({ length: k }, () => gen.ethTransfer(payer()));
  const blocks = [
    // Four transfers into a, three into b, then b pays a: the last one joins b's group through its sender, then a's
    // through its recipient, and all eight are one component (two groups of four each before, validated apart).
    { txs: [...linked(4), ...Array.from({ length: 3 }, () => pay(payer(), b)), pay(b, a)], groups: 1, share: 1, mode: 'serial' },
    { txs: [...linked(6), ...apart(2)], groups: 3, share: 0.75, mode: 'parallel' },
    { txs: [...linked(8), ...apart(2)], groups: 3, share: 0.8, mode: 'serial' },
  ].map((x) => ({ ...x, block: gen.block(x.txs) }));
  const serial = await node(gen, setup, 1);
  const parallel = await node(gen, setup, 2);
  try {
    for (const [i, x] of blocks.entries()) {
      const senders = x.block.transactions.map((tx) => hex(tx.getSenderAddress().bytes));
      const part = partition(x.block.transactions, senders, new HintBook(), 2);
      assert.equal(part.groups.length, x.groups, `block ${i}: groups`);
      assert.equal(part.stats.heaviestShare, x.share, `block ${i}: the busiest worker's share of the expected gas`);
      const s = await serial.engine.execute(x.block);
      const p = await parallel.engine.execute(x.block);
      assert.equal(p.stats.mode, x.mode, `block ${i}: mode`);
      assert.deepEqual(fingerprint(p.result), fingerprint(s.result), `block ${i}: results`);
      await serial.engine.commit(s.result);
      await parallel.engine.commit(p.result);
    }
  } finally {
    await parallel.engine.close();
    await parallel.store.close();
    await serial.store.close();
  }
});

test('fully contended block (every transaction swaps on one pool): identical to serial', async () => {
  const gen = generator({ seed: 11 });
  const setup = gen.setup(400);
  const blocks = workloadBlocks(gen, 'contended', 2, 150);
  const serial = await node(gen, setup, 1);
  const parallel = await node(gen, setup, 2);
  for (const b of blocks) {
    const s = await serial.engine.execute(b);
    const p = await parallel.engine.execute(b);
    assert.deepEqual(fingerprint(p.result), fingerprint(s.result));
    assert.equal(p.result.txs.filter((t) => t.reverted).length, 0, 'swaps must succeed');
    await serial.engine.commit(s.result);
    await parallel.engine.commit(p.result);
  }
  await parallel.engine.close();
  await parallel.store.close();
  await serial.store.close();
});

test('blocks run on the main thread: the block after the next goes to the workers during the commit, not on their path; results as serial', async () => {
  const gen = generator({ seed: 12 });
  const setup = gen.setup(400);
  // Five blocks: the three middle ones can be checked, and one of them missing its prepared plan (the first
  // block's successor, recovered while that block ran in parallel) still leaves two.
  const blocks = workloadBlocks(gen, 'contended', 5, 60);
  // Each engine decodes its own copy of the blocks: no engine finds senders another one recovered. The two-worker
  // engines run on LevelDB, which their workers read themselves, as a daemon's do.
  const copy = () => blocks.map((b) => createBlockFromRLP(b.serialize(), { common: b.common }));
  const dirs = [await mkdtemp(join(tmpdir(), 'parallax-later-')), await mkdtemp(join(tmpdir(), 'parallax-later-'))];
  const engines = [
    { name: 'one worker', ...(await node(gen, setup, 1)), blocks: copy(), lookahead: 0, stats: [] as BlockStats[] },
    { name: 'next only', ...(await node(gen, setup, 2, {}, dirs[0])), blocks: copy(), lookahead: 1, stats: [] as BlockStats[] },
    { name: 'next and after', ...(await node(gen, setup, 2, {}, dirs[1])), blocks: copy(), lookahead: 2, stats: [] as BlockStats[] },
  ];
  try {
    for (let i = 0; i < blocks.length; i++) {
      const prints = [];
      for (const e of engines) {
        const next = e.lookahead >= 1 ? e.blocks[i + 1] : undefined;
        const after = e.lookahead >= 2 ? e.blocks[i + 2] : undefined;
        const { result, stats } = await e.engine.execute(e.blocks[i], { next, after });
        assert.notEqual(stats.mode, 'fallback', `${e.name}, block ${i}: ${stats.fallbackReason ?? ''}`);
        prints.push(fingerprint(result));
        e.stats.push(stats);
        await e.engine.commit(result);
      }
      assert.deepEqual(prints[1], prints[0], `block ${i}: two workers (next only) differ from one`);
      assert.deepEqual(prints[2], prints[0], `block ${i}: two workers (next and after) differ from one`);
    }
    // A block planned (during its predecessor's commit) to run on the main thread, with a successor: with `after`
    // given, the successor's transactions went to the workers during the predecessor's commit; with `next` only, on
    // the block's path.
    const modes = (e: (typeof engines)[number]) => e.stats.map((s) => `${s.mode}${s.preparedAhead ? ' (prepared)' : ''}`).join(', ');
    const [, one, two] = engines;
    let checked = 0;
    for (let i = 1; i < blocks.length - 1; i++) {
      if (two.stats[i].mode === 'serial' && two.stats[i].preparedAhead) {
        checked++;
        assert.equal(two.stats[i].aheadOnPath, 0, `block ${i}: the next block's transactions were serialized on its path`);
      }
      if (one.stats[i].mode === 'serial') assert.equal(one.stats[i].aheadOnPath, blocks[i + 1].transactions.length, `block ${i}, next only`);
    }
    assert.ok(checked >= 2, `only ${checked} blocks were planned ahead to run on the main thread: ${modes(two)}`);
  } finally {
    for (const e of engines) {
      await e.engine.close();
      await e.store.close();
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});

test('closing the engine while its workers recover the next block\'s senders stops them between two tasks', async () => {
  const gen = generator({ seed: 13, payers: 1000 });
  const setup = gen.setup(50);
  const blocks = workloadBlocks(gen, 'transfers', 2, 1000);
  const { store, engine } = await node(gen, setup, 2);
  try {
    await engine.execute(blocks[0], { next: blocks[1] });
  } finally {
    // The workers are still recovering the next block's 1,000 senders (native secp256k1 and keccak): asked to stop,
    // each exits at its next message; none has to be terminated from outside, where a native call can be cut.
    const t0 = performance.now();
    await engine.close();
    await store.close();
    assert.equal(engine.terminatedWorkers, 0, `workers terminated from outside after ${Math.round(performance.now() - t0)} ms`);
  }
});

/** Blocks after a setup (by default two moderately contended ones), and their results on one worker (what a faulty run must still give). */
async function faultCase(gen: ReturnType<typeof generator>, setup = gen.setup(400), blocks = randomBlocks(gen, 2, 80, { zipf: 0.5, hotPool: 0.2 })) {
  const serial = await node(gen, setup, 1);
  const expected = [];
  for (const b of blocks) {
    const r = await serial.engine.execute(b);
    expected.push(fingerprint(r.result));
    await serial.engine.commit(r.result);
  }
  await serial.store.close();
  return { setup, blocks, expected };
}

/**
 * Two workers on LevelDB with `opts`: the first block's state-root job crashes a worker, which is replaced and the root computed on the main thread; the replacement takes its part of the second
 * block's root. Both blocks give one worker's results.
 */
async function crashOnTrieJob(gen: ReturnType<typeof generator>, { setup, blocks, expected }: Awaited<ReturnType<typeof faultCase>>, opts: Parameters<typeof node>[3]) {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-trie-fault-'));
  const { store, engine } = await node(gen, setup, 2, opts, dir);
  try {
    engine.injectFaults({ crashInTrie: true });
    const r1 = await engine.execute(blocks[0], { next: blocks[1] });
    assert.equal(r1.stats.rootSharded, false);
    assert.match(r1.stats.fallbackReason ?? '', /worker \d failed on its state-root share: .*injected worker crash in a state-root share.*computed on the main thread/);
    assert.equal(engine.replacements >= 1, true);
    assert.deepEqual(fingerprint(r1.result), expected[0]);
    await engine.commit(r1.result);
    const r2 = await engine.execute(blocks[1]);
    assert.equal(r2.stats.rootSharded, true, `second block (${r2.stats.mode})`);
    assert.equal(r2.stats.fallbackReason, undefined);
    assert.deepEqual(fingerprint(r2.result), expected[1]);
  } finally {
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a worker that crashes on its share of the state root is replaced and the root computed on the main thread', async () => {
  const gen = generator({ seed: 4 });
  await crashOnTrieJob(gen, await faultCase(gen), { minShardedAccounts: 1 });
});

/**
 * ERC-20 blocks whose token changes more slots than `minOffloadedSlots` (too few accounts for the sharded update):
 * the workers update the token's storage trie, each its share of the trie root's children, while the main thread
 * updates the rest of the state trie, with one worker's results; a worker that crashes on its share is replaced and
 * the trie updated on the main thread.
 */
test("the hottest contract's storage trie is updated on the workers; a crash there leaves it to the main thread", async () => {
  const gen = generator({ seed: 21, holders: 3000, payers: 400 });
  const setup = gen.setup(400);
  await crashOnTrieJob(gen, await faultCase(gen, setup, workloadBlocks(gen, 'erc20', 2, 300)), { minOffloadedSlots: 50 });
});

/**
 * A worker that crashes with a state-root share and a block's receipts on it is replaced by both paths at once: they
 * share one replacement. Two at once had each started a worker, and the first one's, left outside the pool, kept the
 * process from exiting after the engine closed.
 */
test('two replacements of one worker at once share one; a later one is its own', async () => {
  const gen = generator({ seed: 4 });
  const { store, engine } = await node(gen, gen.setup(50), 2);
  try {
    const pool = (engine as unknown as { pool: { replace(w: number): Promise<void> } }).pool;
    await Promise.all([pool.replace(1), pool.replace(1)]);
    assert.equal(engine.replacements, 1);
    await pool.replace(1);
    assert.equal(engine.replacements, 2);
  } finally {
    await engine.close();
    await store.close();
  }
});

/**
 * ERC-20 blocks of 300 transactions (more than `MIN_OFFLOADED_RECEIPTS`): their receipts are made on the last worker
 * from batches sent as the transactions are recorded, and come out as one worker's (blooms, encodings, root). A
 * worker that crashes on them is replaced and the receipts made on the main thread, the same again.
 */
test("a block's receipts are made on a worker; a crash there leaves them to the main thread", async () => {
  const gen = generator({ seed: 22, holders: 3000, payers: 400 });
  const { setup, blocks, expected } = await faultCase(gen, gen.setup(400), workloadBlocks(gen, 'erc20', 3, 300));
  assert.ok(expected.every((e) => e.receipts.length === 300 && /[1-9a-f]/.test(e.logsBloom.slice(2))), 'blocks of 300 receipts with logs');
  const dir = await mkdtemp(join(tmpdir(), 'parallax-receipts-fault-'));
  const { store, engine } = await node(gen, setup, 2, {}, dir);
  try {
    const r0 = await engine.execute(blocks[0], { next: blocks[1] });
    assert.equal(r0.stats.receiptsOffloaded, true);
    assert.equal(r0.stats.fallbackReason, undefined);
    assert.deepEqual(fingerprint(r0.result), expected[0]);
    await engine.commit(r0.result);
    engine.injectFaults({ crashInReceipts: true });
    const r1 = await engine.execute(blocks[1], { next: blocks[2] });
    assert.equal(r1.stats.receiptsOffloaded, false);
    assert.match(r1.stats.fallbackReason ?? '', /injected worker crash in a block's receipts/);
    assert.ok(engine.replacements >= 1);
    assert.deepEqual(fingerprint(r1.result), expected[1]);
    await engine.commit(r1.result);
    const r2 = await engine.execute(blocks[2]);
    assert.equal(r2.stats.receiptsOffloaded, true, `third block (${r2.stats.mode})`);
    assert.equal(r2.stats.fallbackReason, undefined);
    assert.deepEqual(fingerprint(r2.result), expected[2]);
  } finally {
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * A contract whose storage trie the workers update, each its share of the root's children, in a block that zeroes all
 * its slots but one: the root would collapse into one child, so the shares are dropped and the trie updated on the main
 * thread, and the block's stats say so. Both blocks give one worker's results.
 */
test("a storage trie whose root would collapse is updated on the main thread, and the block's stats say so", async () => {
  const { STORE_INIT } = await import('./helpers/workload.ts');
  const { createContractAddress, setLengthLeft, bigIntToBytes, concatBytes } = await import('@ethereumjs/util');
  const gen = generator({ seed: 23 });
  const setup = gen.setup(400);
  const deployer = gen.payers[1];
  const store = createContractAddress(deployer.address, deployer.nonce);
  setup.push(gen.block([gen.tx(deployer, undefined, STORE_INIT, 200_000n)]));
  const word = (n: number) => setLengthLeft(bigIntToBytes(BigInt(n)), 32);
  const put = (payer: number, slot: number, value: number) => gen.tx(gen.payers[payer], store, concatBytes(word(slot), word(value)), 100_000n);
  // Eight slots set (a new trie: one worker updates it whole), then seven of them zeroed.
  const blocks = [gen.block(Array.from({ length: 8 }, (_, k) => put(2 + k, k + 1, 100 + k))), gen.block(Array.from({ length: 7 }, (_, k) => put(2 + k, k + 2, 0)))];
  const { expected } = await faultCase(gen, setup, blocks);
  const dir = await mkdtemp(join(tmpdir(), 'parallax-trie-collapse-'));
  const { store: db, engine } = await node(gen, setup, 2, { minOffloadedSlots: 4 }, dir);
  try {
    const r1 = await engine.execute(blocks[0], { next: blocks[1] });
    assert.deepEqual(fingerprint(r1.result), expected[0]);
    assert.equal(r1.stats.rootSharded, true, 'the new storage trie went to a worker');
    await engine.commit(r1.result);
    const r2 = await engine.execute(blocks[1]);
    assert.deepEqual(fingerprint(r2.result), expected[1]);
    assert.equal(r2.stats.rootSharded, false, 'the shares were dropped');
    assert.equal(r2.stats.fallbackReason, undefined);
  } finally {
    await engine.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * A block whose plan was prepared during its predecessor's commit and that runs on the workers starts with one message
 * per worker: its start (header, pre-writes) goes with that worker's runs, no 'block' broadcast before them; the results
 * equal one worker's.
 */
test("a parallel block planned ahead sends each worker its start with its runs, one message per worker", async () => {
  let checked = 0;
  for (let seed = 1; seed <= 6 && checked === 0; seed++) {
    const gen = generator({ seed });
    const setup = gen.setup(400);
    const blocks = randomBlocks(gen, 3, 60 + seed * 10, { zipf: (seed % 4) * 0.6, hotPool: 0.1 + (seed % 3) * 0.25 });
    const { expected } = await faultCase(gen, setup, blocks);
    const { store, engine } = await node(gen, setup, 2);
    type Sent = { t: string; block?: { seq: number; header: { number?: string } } };
    const pool = (engine as unknown as { pool: { broadcast(m: Sent): void; send(w: number, m: Sent, transfer?: ArrayBuffer[]): void } }).pool;
    const broadcast = pool.broadcast.bind(pool);
    const send = pool.send.bind(pool);
    let sent: { to: string; m: Sent }[] = [];
    pool.broadcast = (m) => (sent.push({ to: 'all', m }), broadcast(m));
    pool.send = (w, m, transfer) => (sent.push({ to: `worker ${w}`, m }), send(w, m, transfer));
    try {
      for (const [i, b] of blocks.entries()) {
        sent = [];
        // As in the property test: the third block's plan is made during the second block's commit.
        const r = await engine.execute(b, { next: blocks[i === 0 ? 2 : i + 1] });
        assert.deepEqual(fingerprint(r.result), expected[i], `seed ${seed}, block ${i}`);
        if (r.stats.mode === 'parallel' && r.stats.preparedAhead) {
          const log = sent.map((x) => `${x.to}: ${x.m.t}${x.m.block === undefined ? '' : ' + block'}`).join(', ');
          assert.ok(!sent.some((x) => x.m.t === 'block'), `seed ${seed}, block ${i}: ${log}`);
          const runs = sent.filter((x) => x.m.t === 'run');
          assert.deepEqual(runs.map((x) => x.to), ['worker 0', 'worker 1'], log);
          for (const x of runs) assert.equal(BigInt(x.m.block!.header.number!), b.header.number, log);
          assert.equal(new Set(runs.map((x) => x.m.block!.seq)).size, 1, log);
          checked++;
        }
        await engine.commit(r.result);
      }
    } finally {
      await engine.close();
      await store.close();
    }
  }
  assert.ok(checked > 0, 'no block of seeds 1-6 ran in parallel on a plan prepared ahead');
});

/**
 * A block run serially on the main thread whose senders were recovered and planned before it started needs nothing of
 * the workers: no 'block' message goes out (it would only wake them), unless test faults wait for one; the results
 * equal one worker's.
 */
test("a serially run block prepared ahead sends the workers no 'block' message, unless faults wait for one", async () => {
  const gen = generator({ seed: 25, holders: 300, payers: 100 });
  const setup = gen.setup(400);
  const blocks = workloadBlocks(gen, 'erc20', 5, 200);
  const { expected } = await faultCase(gen, setup, blocks);
  const { store, engine } = await node(gen, setup, 2);
  const pool = (engine as unknown as { pool: { broadcast(m: { t: string }, ...rest: unknown[]): void } }).pool;
  const broadcast = pool.broadcast.bind(pool);
  let sent: string[] = [];
  pool.broadcast = (m, ...rest) => (sent.push(m.t), broadcast(m, ...rest));
  try {
    for (const [i, b] of blocks.entries()) {
      if (i === 3) engine.injectFaults({ recoverChunkMs: 1 });
      sent = [];
      const r = await engine.execute(b, { next: blocks[i + 1], after: blocks[i + 2] });
      assert.deepEqual(fingerprint(r.result), expected[i], `block ${i}`);
      // The first block runs on the workers (no conflict learned yet); from the second on the token's holders are
      // predicted and each block, planned during its predecessor's commit, runs here.
      assert.equal(r.stats.mode, i === 0 ? 'parallel' : 'serial', `block ${i}`);
      assert.equal(r.stats.preparedAhead, i > 0, `block ${i}`);
      assert.equal(sent.includes('block'), i === 0 || i === 3, `block ${i}: messages ${sent.join(', ')}`);
      await engine.commit(r.result);
    }
  } finally {
    await engine.close();
    await store.close();
  }
});

test('a worker that crashes or hangs is replaced and the block re-executed serially, with the serial result', async () => {
  const gen = generator({ seed: 3 });
  const { setup, blocks, expected } = await faultCase(gen);
  for (const faults of [{ crashAtTx: 17 }, { hangAtTx: 17 }]) {
    const { store, engine } = await node(gen, setup, 2, { txTimeoutMs: 1500 });
    try {
      engine.injectFaults(faults);
      const r1 = await engine.execute(blocks[0]);
      assert.equal(r1.stats.mode, 'fallback');
      assert.match(r1.stats.fallbackReason ?? '', 'crashAtTx' in faults ? /injected worker crash at transaction 17/ : /no answer from workers .* transaction 17/);
      assert.deepEqual(fingerprint(r1.result), expected[0]);
      assert.equal(engine.replacements, 1);
      await engine.commit(r1.result);
      // The next block runs in parallel again on the replacement and is still right.
      const r2 = await engine.execute(blocks[1]);
      assert.equal(r2.stats.mode, 'parallel');
      assert.deepEqual(fingerprint(r2.result), expected[1]);
    } finally {
      await engine.close();
      await store.close();
    }
  }
});

test('a worker held up on one transaction leaves its unstarted groups to the other, which takes them from the end; results equal serial', async () => {
  // Distinct payers: every transfer its own group.
  const gen = generator({ seed: 21, payers: 400 });
  const setup = gen.setup(400);
  const [block] = workloadBlocks(gen, 'transfers', 1, 120);
  const expected = await serialFingerprint(gen, setup, block);
  const { store, engine } = await node(gen, setup, 2);
  try {
    // Transaction 0 is first in its home worker's list: that worker stalls before anything else, the other runs its
    // own 60 transfers and then the stalled one's groups, last first.
    engine.injectFaults({ stallAtTx: { index: 0, ms: 1500 } });
    const { result, stats, trace } = await engine.execute(block);
    assert.equal(stats.mode, 'parallel');
    assert.deepEqual(fingerprint(result), expected);
    assert.ok(stats.takenGroups > 0, 'no group was taken by the idle worker');
    const ranBy = trace!.txs.map((t) => t.attempts[0].worker);
    const stalled = ranBy[0];
    const n = block.transactions.length;
    // 120 equal transfers, each its own group, split 60/60: the other worker ran its own and the taken ones.
    assert.equal(ranBy.filter((w) => w !== stalled).length, n / 2 + stats.takenGroups);
    // Taken from the block's end: both last transactions (one of them the stalled worker's) ran on the other.
    assert.notEqual(ranBy[n - 1], stalled);
    assert.notEqual(ranBy[n - 2], stalled);
  } finally {
    await engine.close();
    await store.close();
  }
});

/**
 * Two blocks of `n` transfers from distinct payers (every transfer its own group), their serial results, and a copy
 * of each decoded anew (the serial run pinned its senders on the originals), with a two-worker node at the setup.
 */
async function twoTransferBlocks(seed: number, n: number, extra: Partial<ParallelOptions> = {}) {
  const { blocks, ...rest } = await transferBlocks(seed, n, 2, extra);
  const [a, b] = blocks;
  return { a, b, ...rest };
}

/**
 * `count` blocks of `n` transfers, or (`n` a list) one block of each `n[i]` transfers; each copy decoded afresh for a
 * two-worker engine (`extra` its options), with their fingerprints from a one-worker engine.
 */
async function transferBlocks(seed: number, n: number | number[], count = 1, extra: Partial<ParallelOptions> = {}) {
  const gen = generator({ seed, payers: 400 });
  const setup = gen.setup(400);
  const blocks = typeof n === 'number' ? workloadBlocks(gen, 'transfers', count, n) : n.map((k) => workloadBlocks(gen, 'transfers', 1, k)[0]);
  const serial = await node(gen, setup, 1);
  const expected: ReturnType<typeof fingerprint>[] = [];
  try {
    for (const b of blocks) {
      const { result } = await serial.engine.execute(b);
      expected.push(fingerprint(result));
      await serial.engine.commit(result);
    }
  } finally {
    await serial.store.close();
  }
  const copies = blocks.map((x) => createBlockFromRLP(x.serialize(), { common: x.common }));
  return { blocks: copies, expected, ...(await node(gen, setup, 2, extra)) };
}

test("beside a block the main thread runs alone, the next block's senders go to one worker fewer than the cores", async () => {
  // Two cores: the main thread keeps one, one worker recovers on the other.
  const { a, b, expected, store, engine } = await twoTransferBlocks(24, 160, { cores: 2 });
  try {
    const first = await engine.execute(a, { serial: true, next: b });
    assert.equal(first.stats.mode, 'serial');
    assert.deepEqual(fingerprint(first.result), expected[0]);
    // One worker recovering 160 senders takes about as long as the main thread's 160 transfers: give it the time to
    // finish before the commit, so that the next block's plan is made during the commit however loaded the machine.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await engine.commit(first.result);
    const second = await engine.execute(b);
    assert.equal(second.stats.mode, 'parallel');
    assert.deepEqual(fingerprint(second.result), expected[1]);
    // Ten chunks of 16, every one claimed by worker 0: worker 1 never had the job. (Both had it before: idle
    // alike, they shared the chunks.)
    assert.deepEqual(second.stats.recoveredBy, [b.transactions.length, 0]);
    assert.equal(second.stats.preparedAhead, true);
  } finally {
    await engine.close();
    await store.close();
  }
});

test("beside a block of plain transfers run on the main thread every worker recovers the block after it; beside a block of token transfers one worker fewer than the cores", async () => {
  const gen = generator({ seed: 28, holders: 300, payers: 400 });
  const setup = gen.setup(400);
  const made = [...workloadBlocks(gen, 'transfers', 3, 160), ...workloadBlocks(gen, 'erc20', 3, 160)];
  const { expected } = await faultCase(gen, setup, made);
  // Decoded afresh: the serial run above pinned the senders on the objects it ran.
  const blocks = made.map((x) => createBlockFromRLP(x.serialize(), { common: x.common }));
  // minSpeculativeGas 200,000: the token transfers (120,000 gas limit each, about 35,000 used) run on the main thread
  // too, whatever their senders, so each block's successor's senders go to the workers during its predecessor's commit.
  const { store, engine } = await node(gen, setup, 2, { cores: 2, minSpeculativeGas: 200_000 });
  const pool = (engine as unknown as { pool: { send(w: number, m: { t: string; ahead?: boolean }, ...rest: unknown[]): void } }).pool;
  const send = pool.send.bind(pool);
  let recovering: number[] = [];
  pool.send = (w, m, ...rest) => {
    if (m.t === 'recover' && m.ahead === true) recovering.push(w);
    send(w, m, ...rest);
  };
  try {
    for (const [i, b] of blocks.entries()) {
      const r = await engine.execute(b, { next: blocks[i + 1], after: blocks[i + 2] });
      assert.equal(r.stats.mode, 'serial', `block ${i}`);
      assert.deepEqual(fingerprint(r.result), expected[i], `block ${i}`);
      recovering = [];
      await engine.commit(r.result);
      // During block i's commit, block i + 2's senders went to the workers, to be recovered beside block i + 1.
      if (i + 2 >= blocks.length) continue;
      const beside = i + 1 < 3 ? 'transfers' : 'tokens';
      assert.deepEqual(recovering, beside === 'transfers' ? [0, 1] : [0], `block ${i + 2}'s senders, recovered beside block ${i + 1} (${beside})`);
    }
  } finally {
    await engine.close();
    await store.close();
  }
});

test("senders are claimed in chunks: a worker held up on a block's transactions leaves the next block's recovery to the other", async () => {
  // Every transfer its own group, so the stall holds up only its worker.
  const { a, b, expected, store, engine } = await twoTransferBlocks(22, 120);
  try {
    // The worker running transaction 0 sleeps 1.5 s in it, before it could look at the next block's senders, sent to
    // both workers at the main thread's first wait; the other runs its share and the taken groups, then claims them.
    engine.injectFaults({ stallAtTx: { index: 0, ms: 1500 } });
    const first = await engine.execute(a, { next: b });
    assert.equal(first.stats.mode, 'parallel');
    assert.deepEqual(fingerprint(first.result), expected[0]);
    await engine.commit(first.result);
    const stalled = first.trace!.txs[0].attempts[0].worker;
    const second = await engine.execute(b);
    assert.equal(second.stats.mode, 'parallel');
    assert.deepEqual(fingerprint(second.result), expected[1]);
    // Every sender of the second block was recovered ahead, all by the worker that was free.
    assert.equal(second.stats.recoveredBy.reduce((x, y) => x + y, 0), b.transactions.length);
    assert.equal(second.stats.recoveredBy[stalled], 0, `recovered per worker: ${second.stats.recoveredBy.join(', ')}`);
  } finally {
    await engine.close();
    await store.close();
  }
});

test("a block whose senders are still being recovered when it starts is partitioned as they come in, not after the last", async () => {
  const { a, b, expected, store, engine } = await twoTransferBlocks(23, 320);
  try {
    // Every worker sleeps 25 ms after each chunk of senders it recovers: the second block's 20 chunks, recovered
    // ahead while the first block finishes, take about 250 ms, far past the first block's commit.
    engine.injectFaults({ recoverChunkMs: 25 });
    const first = await engine.execute(a, { next: b });
    assert.deepEqual(fingerprint(first.result), expected[0]);
    await engine.commit(first.result);
    const second = await engine.execute(b);
    assert.equal(second.stats.mode, 'parallel');
    assert.deepEqual(fingerprint(second.result), expected[1]);
    assert.equal(second.stats.preparedAhead, false, 'the recovery was meant to be late');
    assert.equal(second.stats.recoveredBy.reduce((x, y) => x + y, 0), b.transactions.length);
    // Partitioned chunk by chunk: when the last sender came in, at most the workers' last chunks were left (a
    // partition made after the last sender, or only from what was there at the block's start, fails this).
    const n = b.transactions.length;
    assert.ok(second.stats.partitionedEarly >= n - 2 * RECOVER_CHUNK, `${second.stats.partitionedEarly} of ${n} partitioned before the last sender`);
  } finally {
    await engine.close();
    await store.close();
  }
});

test("a main-thread block whose senders are late at its predecessor's commit runs as they come in, and has its successor's sent then, not on its path", async () => {
  // The engine's own rule for plain transfers (21,000 gas each): the main thread runs them.
  const { blocks, expected, store, engine } = await transferBlocks(25, 320, 3, { minSpeculativeGas: undefined });
  const [a, b, c] = blocks;
  try {
    // Every worker sleeps 25 ms after each chunk of senders it recovers: the second block's, recovered ahead while
    // the first block runs, are not all in when the first block's commit begins, so its plan cannot be made then.
    engine.injectFaults({ recoverChunkMs: 25 });
    const first = await engine.execute(a, { next: b, after: c });
    assert.equal(first.stats.mode, 'serial');
    assert.deepEqual(fingerprint(first.result), expected[0]);
    await engine.commit(first.result);
    const second = await engine.execute(b, { next: c });
    assert.equal(second.stats.mode, 'serial');
    assert.equal(second.stats.preparedAhead, false, 'the recovery was meant to be late');
    assert.equal(second.stats.aheadOnPath, 0, "the third block's transactions were serialized on the second block's path");
    // Nothing to partition: it ran each transaction as its sender came in, not after the last (a block that waited
    // for all of them, or ran only those in at its start before waiting, fails this).
    const n = b.transactions.length;
    assert.ok(second.stats.ranEarly >= n - 2 * RECOVER_CHUNK, `${second.stats.ranEarly} of ${n} run before the last sender`);
    assert.deepEqual(fingerprint(second.result), expected[1]);
    await engine.commit(second.result);
    const third = await engine.execute(c);
    assert.deepEqual(fingerprint(third.result), expected[2]);
  } finally {
    await engine.close();
    await store.close();
  }
});

test('a main-thread block started before its senders were in: a signature no key recovers from makes it invalid, named by transaction; nothing of it stays', async () => {
  const gen = generator({ seed: 27, payers: 400 });
  const setup = gen.setup(400);
  const [a, b] = workloadBlocks(gen, 'transfers', 2, 320);
  // Transaction 300 of b with r = 0: no public key recovers from that signature, so the workers' recovery of it fails.
  const t = b.transactions[300];
  const unrecoverable = createTx({ ...t.toJSON(), r: '0x0' }, { common: gen.common });
  const bad = createBlock({ header: b.header.toJSON(), transactions: b.transactions.map((x, i) => (i === 300 ? unrecoverable : x)), withdrawals: [] }, { common: b.common });
  const serial = await node(gen, setup, 1);
  const expected: ReturnType<typeof fingerprint>[] = [];
  for (const x of [a, b]) {
    const { result } = await serial.engine.execute(x);
    expected.push(fingerprint(result));
    await serial.engine.commit(result);
  }
  await serial.store.close();
  const [a2, bad2, b2] = [a, bad, b].map((x) => createBlockFromRLP(x.serialize(), { common: x.common }));
  // The engine's own rule for plain transfers (21,000 gas each): the main thread runs them.
  const { store, engine } = await node(gen, setup, 2, { minSpeculativeGas: undefined });
  try {
    // As above: the bad block's senders are still being recovered when it starts.
    engine.injectFaults({ recoverChunkMs: 25 });
    const first = await engine.execute(a2, { next: bad2 });
    assert.equal(first.stats.mode, 'serial');
    await engine.commit(first.result);
    const head = store.head();
    await assert.rejects(engine.execute(bad2), (e: unknown) => {
      assert.ok(isParallaxError(e, 'BLOCK_INVALID'), String(e));
      assert.match(e.message, new RegExp(`^block ${bad2.header.number}: transaction 300 is invalid`));
      return true;
    });
    assert.deepEqual(store.head(), head, 'nothing committed');
    // The good block at the same height, on the same head: nothing of the bad block's first 300 transactions stayed.
    const second = await engine.execute(b2);
    assert.deepEqual(fingerprint(second.result), expected[1]);
  } finally {
    await engine.close();
    await store.close();
  }
});

test("a block too small for the workers has its successor's senders sent to them during its predecessor's commit, not on its path", async () => {
  // minParallelTxs 8: the middle block (3 transfers) runs on the main thread with no recovery ahead of its own.
  const { blocks, expected, store, engine } = await transferBlocks(26, [160, 3, 160], undefined, { minParallelTxs: 8 });
  const [a, b, c] = blocks;
  try {
    const first = await engine.execute(a, { next: b, after: c });
    assert.deepEqual(fingerprint(first.result), expected[0]);
    await engine.commit(first.result);
    const second = await engine.execute(b, { next: c });
    assert.equal(second.stats.mode, 'serial');
    assert.equal(second.stats.aheadOnPath, 0, "the third block's transactions were serialized on the second block's path");
    assert.deepEqual(fingerprint(second.result), expected[1]);
    await engine.commit(second.result);
    const third = await engine.execute(c);
    assert.equal(third.stats.recoveredBy.reduce((x, y) => x + y, 0), c.transactions.length, "the third block's senders were recovered by the workers");
    assert.deepEqual(fingerprint(third.result), expected[2]);
    // 160 plain transfers: more than MIN_OFFLOADED_RECEIPTS, but no calls, so their receipts stay on the main thread.
    assert.equal(first.stats.receiptsOffloaded || third.stats.receiptsOffloaded, false);
  } finally {
    await engine.close();
    await store.close();
  }
});

test('forgetLearned: a block partitions as it did before anything was learned', async () => {
  const gen = generator({ seed: 5, holders: 2000, payers: 400, swappers: 20 });
  const setup = gen.setup(1000);
  // Uniform random holders: real collisions the first time, grouped once learned.
  const [block] = workloadBlocks(gen, 'erc20', 1, 300, { zipf: 0, hotPool: 0 });
  const { store, engine } = await node(gen, setup, 2);
  try {
    const first = (await engine.execute(block)).stats; // not committed: the same head each time
    const learned = (await engine.execute(block)).stats;
    engine.forgetLearned();
    const forgotten = (await engine.execute(block)).stats;
    assert.ok(first.reexecuted > 0, 'the block had no conflicts to learn from');
    assert.notDeepEqual([learned.groups, learned.largestGroup], [first.groups, first.largestGroup]);
    assert.deepEqual([forgotten.groups, forgotten.largestGroup], [first.groups, first.largestGroup]);
    assert.ok(forgotten.reexecuted > learned.reexecuted, `re-executed ${forgotten.reexecuted} after forgetting, ${learned.reexecuted} with hints`);
  } finally {
    await engine.close();
    await store.close();
  }
});

test('forgetLearned between blocks: the next block, planned during the commit with what is forgotten, is planned again before it starts', async () => {
  const gen = generator({ seed: 5, holders: 2000, payers: 400, swappers: 20 });
  const setup = gen.setup(1000);
  // Uniform random holders: the first block's conflicts teach hints that change how the second one is grouped.
  const [x, y] = workloadBlocks(gen, 'erc20', 2, 300, { zipf: 0, hotPool: 0 });
  const plain = await node(gen, setup, 2);
  const prepared = await node(gen, setup, 2);
  try {
    // The second block as it partitions after the first one was learned, and after forgetting, neither prepared ahead.
    await plain.engine.commit((await plain.engine.execute(x)).result);
    const learned = await plain.engine.execute(y); // not committed: the same head for the next run
    plain.engine.forgetLearned();
    const forgotten = await plain.engine.execute(y);
    assert.notDeepEqual([learned.stats.groups, learned.stats.largestGroup], [forgotten.stats.groups, forgotten.stats.largestGroup], 'the hints did not change the partition');
    assert.equal(forgotten.stats.preparedAhead, false);

    // The same, with the second block known while the first runs: its plan is made during the first one's commit.
    const first = await prepared.engine.execute(x, { next: y });
    // 300 senders recovered ahead: given the time to be in before the commit, whatever the machine's load.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await prepared.engine.commit(first.result);
    prepared.engine.forgetLearned();
    const second = await prepared.engine.execute(y);
    assert.equal(second.stats.preparedAhead, true, 'the plan made before forgetting was not made again between blocks');
    assert.deepEqual([second.stats.groups, second.stats.largestGroup], [forgotten.stats.groups, forgotten.stats.largestGroup]);
    assert.deepEqual(fingerprint(second.result), fingerprint(forgotten.result));
  } finally {
    await plain.engine.close();
    await plain.store.close();
    await prepared.engine.close();
    await prepared.store.close();
  }
});

test("a call that moves no value does not depend on the callee's balance: calls into WETH commit beside deposits changing it", async () => {
  const gen = generator({ seed: 31, payers: 60 });
  const setup = gen.setup(400);
  // Deposits change WETH's balance; calls of balanceOf pass through WETH's account (read and re-stored) with no value.
  const txs = [];
  for (let i = 0; i < 40; i++) {
    if (i % 4 === 0) txs.push(gen.wrap(gen.payers[i], 10n ** 15n));
    else txs.push(gen.tx(gen.payers[i], gen.weth, encodeCall('balanceOf(address)', [{ address: gen.holders[0].address.bytes }]), 60_000n));
  }
  const block = gen.block(txs);
  const expected = await serialFingerprint(gen, setup, block);
  const { store, engine } = await node(gen, setup, 2);
  try {
    const { result, stats, trace } = await engine.execute(block);
    assert.equal(stats.mode, 'parallel');
    assert.deepEqual(fingerprint(result), expected);
    // Both workers ran calls after deposits on the other one: none had to run again.
    const ranBy = new Set(trace!.txs.map((t) => t.attempts[0].worker));
    assert.deepEqual([...ranBy].sort(), [0, 1], JSON.stringify({ stats, ranBy: [...ranBy] }));
    assert.equal(stats.reexecuted, 0, `re-executed ${stats.reexecuted}: ${stats.conflictKeys.map(([k]) => k).join(', ')}`);
  } finally {
    await engine.close();
    await store.close();
  }
});

test("workers' caches follow each committed block: the next block's runs read what the last one wrote, none run again", async () => {
  const gen = generator({ seed: 43, holders: 40, payers: 30 });
  const setup = gen.setup(400);
  const h = gen.holders;
  // Block A: twenty holders pay twenty others in one token (nonces, balances and token slots change), ten payers
  // send ether (not the first payer: it is the blocks' coinbase). The workers read all of it while running A.
  const a = gen.block([
    ...Array.from({ length: 20 }, (_, i) => gen.erc20Transfer(h[2 * i], 0, h[2 * i + 1], 5n + BigInt(i))),
    ...Array.from({ length: 10 }, (_, i) => gen.ethTransfer(gen.payers[i + 1])),
  ]);
  // Block B: the same senders and recipients again (the senders' next nonces, the balances A left): every run reads
  // values A wrote, and no run depends on another.
  const b = gen.block([
    ...Array.from({ length: 20 }, (_, i) => gen.erc20Transfer(h[2 * i], 0, h[2 * i + 1], 1n)),
    ...Array.from({ length: 10 }, (_, i) => gen.ethTransfer(gen.payers[i + 1])),
  ]);
  const expected = await serialFingerprint(gen, [...setup, a], b);
  const { store, engine } = await node(gen, setup, 2);
  try {
    const first = await engine.execute(a);
    assert.equal(first.stats.mode, 'parallel');
    await engine.commit(first.result);
    const { result, stats, trace } = await engine.execute(b);
    assert.equal(stats.mode, 'parallel');
    assert.deepEqual(fingerprint(result), expected);
    assert.deepEqual([...new Set(trace!.txs.map((t) => t.attempts[0].worker))].sort(), [0, 1]);
    assert.equal(stats.reexecuted, 0, `re-executed ${stats.reexecuted}: ${stats.conflictKeys.map(([k]) => k).join(', ')}`);
  } finally {
    await engine.close();
    await store.close();
  }
});
