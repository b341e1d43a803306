import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { BatchTrie, EMPTY_ROOT, NodeCache, type Node } from '../src/state/mpt.ts';
import { Rng } from '../src/bench/traffic.ts';
import { keccak256 } from '../src/crypto/index.ts';
import { hex } from '../src/util/bytes.ts';
import type { StateTrie } from '../src/state/trie.ts';
import { RLP } from '@ethereumjs/rlp';

type Diff = Parameters<StateTrie['update']>[1];

/**
 * Blocks of account changes (`Diff['accounts']`) applied by `here` and by `other` from the empty trie: the same root and
 * account records after each block. The new nodes go into `nodes` (what both read); `contract`'s storage root is
 * carried from block to block.
 */
async function sameRoots(label: string, blocks: Diff['accounts'][], here: StateTrie, other: StateTrie, nodes: Map<string, Uint8Array>, contract: string): Promise<void> {
  let root = EMPTY_ROOT;
  let storageRoot: Uint8Array | undefined;
  for (const [i, accounts] of blocks.entries()) {
    const diff = { accounts, codes: new Map() } as unknown as Diff;
    const base = (a: Uint8Array) => (hex(a) === contract ? storageRoot : undefined);
    const x = await here.update(root, diff, base);
    const y = await other.update(root, diff, base);
    assert.equal(hex(y.stateRoot), hex(x.stateRoot), `${label}block ${i}`);
    assert.deepEqual([...y.accounts].sort(), [...x.accounts].sort(), `${label}block ${i}`);
    for (const [h, n] of x.nodes) nodes.set(h, n);
    root = x.stateRoot;
    const record = x.accounts.get(contract);
    if (record) storageRoot = RLP.decode(record)[2] as Uint8Array;
  }
}

/** Random batches of puts and deletes (keys reused so deletes hit and branches collapse), over several commits. */
test('BatchTrie gives @ethereumjs/mpt roots across batches of inserts, updates and deletes, and its nodes serve reads', async () => {
  for (let seed = 1; seed <= 24; seed++) {
    // Half the seeds keep decoded nodes across batches (as the state store does), half read every node afresh; of
    // those that keep them, every other one in a cache too small for the trie (entries evicted between batches).
    const decoded = seed % 2 === 0 ? new NodeCache(seed % 4 === 0 ? 16 : 100_000) : undefined;
    const rng = new Rng(seed);
    const store = new Map<string, Uint8Array>();
    const reference = new MerklePatriciaTrie();
    let root = EMPTY_ROOT;
    const keySpace = 5 + rng.int(200);
    const live = new Map<string, Uint8Array>();
    for (let batch = 0; batch < 6; batch++) {
      const trie = new BatchTrie(root, (h) => store.get(h), decoded);
      const ops = 1 + rng.int(80);
      for (let i = 0; i < ops; i++) {
        // Short keys too (not only 32-byte hashes), so embedded nodes under 32 bytes occur.
        const k = seed % 3 === 0 ? Uint8Array.of(rng.int(keySpace) & 0xff, rng.int(3)) : keccak256(Uint8Array.of(rng.int(keySpace)));
        const del = rng.next() < 0.3;
        const v = del ? new Uint8Array(0) : Uint8Array.from({ length: 1 + rng.int(40) }, () => rng.int(256));
        trie.put(k, v);
        if (del) {
          await reference.del(k);
          live.delete(hex(k));
        } else {
          await reference.put(k, v);
          live.set(hex(k), v);
        }
      }
      root = trie.commit();
      for (const [h, n] of trie.nodes) store.set(h, n);
      assert.equal(hex(root), hex(reference.root()), `seed ${seed} batch ${batch}`);
      if (decoded !== undefined && batch > 0) assert.ok(decoded.size > 0, 'decoded nodes are kept');
    }
    // Read every live key back through @ethereumjs/mpt from the nodes BatchTrie wrote.
    const db = { get: async (k: string) => store.get(k), put: async () => {}, del: async () => {}, batch: async () => {}, shallowCopy() { return this; }, open: async () => {} };
    const reader = new MerklePatriciaTrie({ db, root, valueEncoding: 'view' });
    for (const [k, v] of live) assert.deepEqual(await reader.get(Buffer.from(k, 'hex')), v);
    assert.ok(live.size > 0 || hex(root) === hex(EMPTY_ROOT));
  }
});

test('a BatchTrie goes on after a commit: the nodes it made serve its later puts before anything stores them', async () => {
  // No decoded-node cache and a store that stays empty: the nodes of the first commit are found among the trie's own.
  const trie = new BatchTrie(EMPTY_ROOT, () => undefined);
  const reference = new MerklePatriciaTrie();
  const key = (i: number) => keccak256(Uint8Array.of(i));
  for (let i = 0; i < 40; i++) {
    trie.put(key(i), Uint8Array.of(i, 1));
    await reference.put(key(i), Uint8Array.of(i, 1));
  }
  assert.equal(hex(trie.commit()), hex(reference.root()));
  // Twice more: the second round finds the first's nodes, the third also the second's (made after the first lookup).
  for (let round = 2; round <= 3; round++) {
    const before = trie.nodes.size;
    for (let i = 10 * round; i < 40 + 10 * round; i++) {
      trie.put(key(i), Uint8Array.of(i, round));
      await reference.put(key(i), Uint8Array.of(i, round));
    }
    assert.equal(hex(trie.commit()), hex(reference.root()), `round ${round}`);
    assert.ok(trie.nodes.size > before, `round ${round} adds nodes`);
  }
  // Every node listed is the one its hash names.
  for (const [h, n] of trie.nodes) assert.equal(hex(keccak256(n)), h);
  assert.equal(trie.nodes.get('00'.repeat(32)), undefined);
});

test('NodeCache: a hash that shares its key bits with another never returns the other\'s node; the older half goes when full', () => {
  const cache = new NodeCache(8);
  const a = keccak256(Uint8Array.of(1));
  // The same first 30 bits (the cache key), a different hash.
  const b = a.slice();
  b[3] ^= 0x01;
  b[31] ^= 0xff;
  const leaf = (v: number): Node => ({ t: 0, path: new Uint8Array(0), value: Uint8Array.of(v) });
  const na = leaf(1);
  const nb = leaf(2);
  cache.set(a, na);
  assert.equal(cache.get(a), na);
  assert.equal(cache.get(b), undefined);
  // A copy of the hash (another array, the same bytes) finds the entry.
  assert.equal(cache.get(a.slice()), na);
  cache.set(b, nb);
  assert.equal(cache.get(b), nb);
  assert.equal(cache.get(a), undefined);
  // Fill past the bound: the oldest entries go, the newest stay.
  const hashes = Array.from({ length: 12 }, (_, i) => keccak256(Uint8Array.of(100 + i)));
  hashes.forEach((h, i) => cache.set(h, leaf(i)));
  assert.ok(cache.size <= 8, `size ${cache.size}`);
  assert.equal((cache.get(hashes[11]) as { value: Uint8Array }).value[0], 11);
  assert.equal(cache.get(hashes[0]), undefined);
});

/** Random nested items with strings of every size class (single byte under 0x80, short, and over 55 bytes). */
test('encodeRlp and serializeTx write the bytes @ethereumjs/rlp and @ethereumjs/tx do', async () => {
  const { encodeRlp } = await import('../src/util/rlp.ts');
  const rng = new Rng(7);
  const item = (depth: number): Uint8Array | unknown[] => {
    if (depth > 3 || rng.next() < 0.6) {
      const size = [0, 1, 1, 2, 31, 55, 56, 300, 70_000][rng.int(9)];
      return Uint8Array.from({ length: size }, () => rng.int(256));
    }
    return Array.from({ length: rng.int(20) }, () => item(depth + 1));
  };
  for (let i = 0; i < 300; i++) {
    const x = item(0) as Parameters<typeof encodeRlp>[0];
    assert.equal(hex(encodeRlp(x)), hex(RLP.encode(x as never)), `item ${i}`);
  }
  // Real transactions of every kind the traffic generator makes (typed, with access lists, contract creations).
  const { serializeTx, uintBytes } = await import('../src/util/rlp.ts');
  const { createCommon } = await import('../src/chain/profile.ts');
  const { nativeCrypto } = await import('../src/crypto/index.ts');
  const { TRAFFIC_CHAIN, TrafficGenerator } = await import('../src/bench/traffic.ts');
  const gen = new TrafficGenerator(createCommon(TRAFFIC_CHAIN, nativeCrypto()), { seed: 3, holders: 20, tokens: 2, pools: 1, swappers: 5, payers: 5 });
  const txs = gen.setup(1000).flatMap((b) => b.transactions);
  txs.push(gen.ethTransfer(gen.payers[0]), gen.erc20Transfer(gen.holders[0], 0, gen.holders[1], 5n), gen.selfDestruct(gen.payers[1]));
  // Encodings are cut from shared slabs: every one must still hold its own bytes after all the others were made.
  const made = txs.map((tx) => serializeTx(tx));
  for (const [i, tx] of txs.entries()) assert.equal(hex(made[i]), hex(tx.serialize()), `transaction ${i} of ${txs.length}`);

  // Legacy (with and without EIP-155), EIP-2930 and EIP-1559 transactions, signed and unsigned, with integer fields
  // at every byte-length boundary up to 2^256 - 1 (serializeTx converts integers itself, not through the library).
  const { createLegacyTx, createAccessList2930Tx, createFeeMarket1559Tx } = await import('@ethereumjs/tx');
  const { Common, Mainnet, Hardfork } = await import('@ethereumjs/common');
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun });
  const edges = [0n, 1n, 127n, 128n, 255n, 256n, 2n ** 32n - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 255n, 2n ** 256n - 1n];
  const key = keccak256(Uint8Array.of(1));
  const to = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
  const accessList: { address: `0x${string}`; storageKeys: `0x${string}`[] }[] = [{ address: `0x${hex(to)}`, storageKeys: [`0x${'00'.repeat(31)}07`, `0x${'ff'.repeat(32)}`] }];
  let checked = 0;
  for (const [i, e] of edges.entries()) {
    const other = edges[(i * 5 + 3) % edges.length];
    const data = Uint8Array.from({ length: i * 7 }, (_, j) => (j * 31 + i) % 256);
    const made = [
      createLegacyTx({ nonce: e % (2n ** 64n - 1n), gasPrice: 1n, gasLimit: e % (2n ** 64n - 1n), to, value: e, data }, { common }),
      createLegacyTx({ nonce: 1n, gasPrice: e, gasLimit: 1n, value: other, v: 27n, r: e === 0n ? 1n : e, s: other === 0n ? 1n : other }),
      createAccessList2930Tx({ chainId: 1n, nonce: e % (2n ** 64n - 1n), gasPrice: e, gasLimit: 1n, to, value: other, data, accessList }, { common }),
      createFeeMarket1559Tx({ chainId: 1n, nonce: 3n, maxPriorityFeePerGas: other < e ? other : e, maxFeePerGas: e, gasLimit: 1n, value: e, data, accessList: i % 2 === 0 ? accessList : [] }, { common }),
    ];
    for (const tx of made) {
      assert.equal(hex(serializeTx(tx)), hex(tx.serialize()), `unsigned type ${tx.type}, integer ${e}`);
      const signed = tx.type === 0 && tx.v !== undefined ? tx : tx.sign(key);
      assert.equal(hex(serializeTx(signed)), hex(signed.serialize()), `signed type ${tx.type}, integer ${e}`);
      checked += 2;
    }
  }
  assert.equal(checked, edges.length * 8);
  // Every transaction of two real mainnet blocks (legacy, EIP-2930 and EIP-1559 as the chain carried them).
  const { readFixture, decodeFixture } = await import('../src/replay/fixture.ts');
  const { fixturesDir } = await import('../src/util/paths.ts');
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = join(fixturesDir(), 'mainnet-blocks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz')).sort((a, b) => parseInt(a) - parseInt(b));
  const types = new Set<number>();
  const { loadKzg } = await import('../src/crypto/index.ts');
  const { MAINNET } = await import('../src/chain/profile.ts');
  const mainnet = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  for (const f of files.slice(-2)) {
    const { block } = decodeFixture(await readFixture(join(dir, f)), mainnet);
    for (const tx of block.transactions) {
      types.add(tx.type);
      assert.equal(hex(serializeTx(tx)), hex(tx.serialize()), `${f} transaction type ${tx.type}`);
    }
  }
  assert.ok(types.has(0) && types.has(2), `mainnet transaction types seen: ${[...types]}`);
  assert.throws(() => uintBytes(2n ** 256n), RangeError);
  assert.throws(() => uintBytes(-1n), RangeError);
});

type StateTrieModule = typeof import('../src/state/trie.ts');
type Sharder = NonNullable<InstanceType<StateTrieModule['StateTrie']>['sharder']>;

/**
 * Eight random blocks of account changes (new, changed and deleted accounts, storage written, deleted and cleared)
 * through a StateTrie on one thread and through one with `sharder` (made with the nodes committed so far); asserts
 * both give the same root, account records and node set, and returns how many calls `counted` reports per block.
 * `hot`: slots one contract changes in each block (its storage cleared in the fifth), beside the others' few.
 */
async function againstOneThread(seed: number, sharder: (nodes: Map<string, Uint8Array>) => Sharder, counted: () => number, hot: number[] = []): Promise<number[]> {
  const { StateTrie, unpackNodes } = await import('../src/state/trie.ts');
  const { createAccountFromRLP, KECCAK256_NULL } = await import('@ethereumjs/util');
  const { fromHex } = await import('../src/util/bytes.ts');
  const rng = new Rng(seed);
  const nodes = new Map<string, Uint8Array>();
  const source = { getNode: (h: string) => nodes.get(h) };
  const here = new StateTrie(source, new NodeCache(100_000));
  const split = new StateTrie(source, new NodeCache(100_000));
  split.sharder = sharder(nodes);
  const records = new Map<string, Uint8Array>();
  let root = EMPTY_ROOT;
  const pool = Array.from({ length: 1500 }, (_, i) => hex(keccak256(Uint8Array.of(i >> 8, i & 255)).subarray(12)));
  const slotOf = (n: number) => hex(Uint8Array.from({ length: 32 }, (_, j) => (j === 31 ? n & 255 : j === 30 ? n >> 8 : 0)));
  const value = () => (rng.next() < 0.2 ? new Uint8Array(0) : Uint8Array.from({ length: 1 + rng.int(32) }, () => 1 + rng.int(255)));
  const calls: number[] = [];
  for (let block = 0; block < 8; block++) {
    const accounts = new Map();
    if (hot.length > 0) {
      const storage = new Map<string, Uint8Array>();
      for (let s = 0; s < hot[block % hot.length]; s++) storage.set(slotOf(rng.int(4000)), value());
      const contract = pool[0];
      accounts.set(contract, { address: fromHex(contract), account: { nonce: 1n, balance: 0n, codeHash: keccak256(Uint8Array.of(1)) }, storageCleared: block === 4, storage });
    }
    const touched = 300 + rng.int(400);
    for (let i = 0; i < touched; i++) {
      const addr = pool[rng.int(pool.length)];
      if (accounts.has(addr)) continue;
      const exists = records.has(addr);
      const del = exists && rng.next() < 0.15;
      const storage = new Map<string, Uint8Array>();
      const slots = rng.next() < 0.3 ? 1 + rng.int(block % 2 === 0 ? 3 : 30) : 0;
      for (let s = 0; s < slots; s++) storage.set(slotOf(rng.int(40)), value());
      const account = del ? null : { nonce: BigInt(rng.int(1000)), balance: BigInt(rng.int(1e9)) * 10n ** 9n, codeHash: KECCAK256_NULL };
      accounts.set(addr, { address: fromHex(addr), account, storageCleared: exists && !del && rng.next() < 0.05, storage: del ? new Map() : storage });
    }
    const diff = { accounts, codes: new Map() } as unknown as Parameters<typeof here.update>[1];
    const base = (a: Uint8Array) => {
      const r = records.get(hex(a));
      return r === undefined ? undefined : createAccountFromRLP(r).storageRoot;
    };
    const before = counted();
    const a = await here.update(root, diff, base);
    const b = await split.update(root, diff, base);
    calls.push(counted() - before);
    assert.equal(hex(b.stateRoot), hex(a.stateRoot), `seed ${seed} block ${block}: root`);
    assert.deepEqual([...b.accounts].sort(), [...a.accounts].sort(), `seed ${seed} block ${block}: account records`);
    const splitNodes = new Map(b.nodes);
    for (const p of b.packed) unpackNodes(p, (k, v) => splitNodes.set(hex(k.subarray(1)), v.slice()));
    assert.deepEqual([...splitNodes.keys()].sort(), [...new Map(a.nodes).keys()].sort(), `seed ${seed} block ${block}: new nodes`);
    for (const [h, n] of a.nodes) assert.equal(hex(splitNodes.get(h)!), hex(n));
    for (const [h, n] of a.nodes) nodes.set(h, n);
    for (const [k, v] of a.accounts) v === null ? records.delete(k) : records.set(k, v);
    root = a.stateRoot;
  }
  return calls;
}

/** The state-trie update split by the root's children (as the workers run it) equals the update on one thread. */
test('a state-trie update split into shards equals the one-thread update, block after block', async () => {
  const { updateShard } = await import('../src/state/trie.ts');
  for (const shards of [2, 3]) {
    let calls = 0;
    // Each shard keeps its own decoded nodes across blocks, as a worker does.
    const shardCaches = Array.from({ length: shards }, () => new NodeCache(100_000));
    const perBlock = await againstOneThread(
      100 + shards,
      (nodes) => ({
        shards,
        minAccounts: 1,
        run: async (jobs) => {
          calls++;
          assert.equal(jobs.length, shards);
          return jobs.map((j, w) => updateShard(structuredClone(j), (h) => nodes.get(h), shardCaches[w]));
        },
        minStorageSlots: Infinity,
        storage: async () => assert.fail('no storage job expected'),
        discarded: () => assert.fail('no shares dropped expected'),
      }),
      () => calls,
    );
    // The first block's root is a leaf, not a branch: no split.
    assert.deepEqual(perBlock, [0, 1, 1, 1, 1, 1, 1, 1], `shards ${shards}`);
  }
});

/**
 * The hottest contract's storage trie updated by other threads (`updateStorage` on a copy of each job, as a worker
 * gets it: with several threads, each takes its share of the trie root's children; with one, the whole trie), the
 * rest here: the same update, whether its storage was cleared, and when the threads cannot (the trie is then updated
 * here). Blocks whose hottest contract changes fewer slots than the minimum send no job.
 */
test("a block's hottest storage trie updated on other threads equals the one-thread update, fallback included", async () => {
  const { updateStorage } = await import('../src/state/trie.ts');
  for (const [shards, declineEvery] of [
    [1, 0],
    [2, 0],
    [3, 3],
  ]) {
    let calls = 0;
    const sizes: number[] = [];
    const caches = Array.from({ length: shards }, () => new NodeCache(100_000));
    const perBlock = await againstOneThread(
      200 + shards,
      (nodes) => ({
        shards,
        minAccounts: Infinity,
        run: async () => assert.fail('no shard job expected'),
        minStorageSlots: 100,
        storage: async (jobs) => {
          calls++;
          sizes.push(jobs.length);
          assert.equal(jobs.every((j) => j.share === undefined), jobs.length === 1);
          if (declineEvery > 0 && calls % declineEvery === 0) return undefined;
          return jobs.map((j, w) => updateStorage(structuredClone(j), (h) => nodes.get(h), caches[w]));
        },
        discarded: () => assert.fail('no shares dropped expected'),
      }),
      () => calls,
      [300, 120, 99, 500],
    );
    assert.deepEqual(perBlock, [1, 1, 0, 1, 1, 1, 0, 1], `${shards} shards, decline every ${declineEvery}`);
    // Jobs per call: the whole trie when it has no root branch to split (new in the first block, cleared in the fifth).
    assert.deepEqual(sizes, [1, shards, shards, 1, shards, shards]);
  }
});

/**
 * A block that deletes every account but the hottest contract: the root branch would collapse into one child, so the
 * update made subtree by subtree is dropped and done again the usual way; the root equals the one-thread update's.
 */
test('the state trie updated subtree by subtree while a storage trie is away falls back when the root would collapse', async () => {
  const { StateTrie, updateStorage } = await import('../src/state/trie.ts');
  const { KECCAK256_NULL } = await import('@ethereumjs/util');
  const { fromHex } = await import('../src/util/bytes.ts');
  // Three addresses whose hashes start with different nibbles: three children under the root branch.
  const picked: string[] = [];
  for (let i = 0; picked.length < 3; i++) {
    const a = hex(keccak256(Uint8Array.of(i)).subarray(12));
    if (!picked.some((p) => keccak256(fromHex(p))[0] >> 4 === keccak256(fromHex(a))[0] >> 4)) picked.push(a);
  }
  const [contract, b, c] = picked;
  const slots = (k: number) => new Map(Array.from({ length: 6 }, (_, i) => [hex(Uint8Array.from({ length: 32 }, (_, j) => (j === 31 ? i : 0))), Uint8Array.of(k + i + 1)]));
  const account = (nonce: bigint) => ({ nonce, balance: 10n ** 18n, codeHash: KECCAK256_NULL });
  const nodes = new Map<string, Uint8Array>();
  const source = { getNode: (h: string) => nodes.get(h) };
  const here = new StateTrie(source, new NodeCache(1000));
  const away = new StateTrie(source, new NodeCache(1000));
  let jobs = 0;
  away.sharder = {
    shards: 1,
    minAccounts: Infinity,
    run: async () => assert.fail('no shard job expected'),
    minStorageSlots: 3,
    storage: async (list) => (jobs++, list.map((j) => updateStorage(structuredClone(j), (h) => nodes.get(h)))),
    discarded: () => assert.fail('the storage trie keeps its root branch'),
  };
  const entry = (a: string, acc: ReturnType<typeof account> | null, storage = new Map<string, Uint8Array>()) => [a, { address: fromHex(a), account: acc, storageCleared: false, storage }] as const;
  const blocks = [
    new Map([entry(contract, account(1n), slots(0)), entry(b, account(0n)), entry(c, account(0n))]),
    new Map([entry(contract, account(1n), slots(7)), entry(b, null), entry(c, null)]),
  ];
  await sameRoots('', blocks as unknown as Diff['accounts'][], here, away, nodes, contract);
  assert.equal(jobs, 2);
});

/**
 * Shares that came back but cannot be used: a block deleting every account but those under one child of the root
 * branch (the state trie's, with the update split by the root's children; the hottest contract's storage trie, split
 * the same way) would collapse that root into its child. The sharder is told the shares were dropped, and the update
 * is done on this thread: the roots equal the one-thread update's.
 */
test('shares whose root would collapse are dropped, the sharder told, the update done here', async () => {
  const { StateTrie, updateShard, updateStorage } = await import('../src/state/trie.ts');
  const { KECCAK256_NULL } = await import('@ethereumjs/util');
  const { fromHex } = await import('../src/util/bytes.ts');
  /** `n` keys (hex, `bytes` long) whose keccaks start with different nibbles. */
  const spread = (n: number, bytes: number) => {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) {
      const k = hex(keccak256(Uint8Array.of(i, bytes)).subarray(32 - bytes));
      if (!out.some((o) => keccak256(fromHex(o))[0] >> 4 === keccak256(fromHex(k))[0] >> 4)) out.push(k);
    }
    return out;
  };
  const account = (nonce: bigint) => ({ nonce, balance: 10n ** 18n, codeHash: KECCAK256_NULL });
  const entry = (a: string, acc: ReturnType<typeof account> | null, storage = new Map<string, Uint8Array>()) => [a, { address: fromHex(a), account: acc, storageCleared: false, storage }] as const;
  const addrs = spread(4, 20);
  const slots = spread(4, 32);
  const contract = addrs[0];
  const cases = {
    // The state trie split by the root's children: 4 accounts, then 3 deleted.
    state: [new Map(addrs.map((a) => entry(a, account(1n)))), new Map(addrs.slice(1).map((a) => entry(a, null)))],
    // The contract's storage trie: 4 slots, then 3 of them zeroed (its account the only one changed).
    storage: [
      new Map([entry(contract, account(1n), new Map(slots.map((k, i) => [k, Uint8Array.of(i + 1)])))]),
      new Map([entry(contract, account(1n), new Map(slots.slice(1).map((k) => [k, new Uint8Array(0)])))]),
    ],
  };
  for (const [name, blocks] of Object.entries(cases)) {
    const nodes = new Map<string, Uint8Array>();
    const source = { getNode: (h: string) => nodes.get(h) };
    const here = new StateTrie(source, new NodeCache(1000));
    const split = new StateTrie(source, new NodeCache(1000));
    const calls: string[] = [];
    split.sharder = {
      shards: 2,
      minAccounts: name === 'state' ? 1 : Infinity,
      run: async (jobs) => (calls.push('run'), jobs.map((j) => updateShard(structuredClone(j), (h) => nodes.get(h), new NodeCache(1000)))),
      minStorageSlots: name === 'storage' ? 1 : Infinity,
      storage: async (jobs) => (calls.push(`storage ${jobs.length}`), jobs.map((j) => updateStorage(structuredClone(j), (h) => nodes.get(h)))),
      discarded: () => calls.push('discarded'),
    };
    await sameRoots(`${name}, `, blocks as unknown as Diff['accounts'][], here, split, nodes, contract);
    // The first block's root is new (no root branch to split: the whole trie, or nothing, goes out); the second's
    // shares come back and are dropped.
    assert.deepEqual(calls, name === 'state' ? ['run', 'discarded'] : ['storage 1', 'storage 2', 'discarded'], name);
  }
});
