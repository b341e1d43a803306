import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { BatchTrie, EMPTY_ROOT, type Node } from '../src/state/mpt.ts';
import { Rng } from '../src/bench/traffic.ts';
import { keccak256 } from '../src/crypto/index.ts';
import { hex } from '../src/util/bytes.ts';

/** Random batches of puts and deletes (keys reused so deletes hit and branches collapse), over several commits. */
test('BatchTrie gives @ethereumjs/mpt roots across batches of inserts, updates and deletes, and its nodes serve reads', async () => {
  for (let seed = 1; seed <= 24; seed++) {
    // Half the seeds keep decoded nodes across batches (as the state store does), half read every node afresh.
    const decoded = seed % 2 === 0 ? new Map<string, Node>() : undefined;
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

/** Random nested items with strings of every size class (single byte under 0x80, short, and over 55 bytes). */
test('encodeRlp and serializeTx write the bytes @ethereumjs/rlp and @ethereumjs/tx do', async () => {
  const { RLP } = await import('@ethereumjs/rlp');
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
  const { serializeTx } = await import('../src/util/rlp.ts');
  const { createCommon } = await import('../src/chain/profile.ts');
  const { nativeCrypto } = await import('../src/crypto/index.ts');
  const { TRAFFIC_CHAIN, TrafficGenerator } = await import('../src/bench/traffic.ts');
  const gen = new TrafficGenerator(createCommon(TRAFFIC_CHAIN, nativeCrypto()), { seed: 3, holders: 20, tokens: 2, pools: 1, swappers: 5, payers: 5 });
  const txs = gen.setup(1000).flatMap((b) => b.transactions);
  txs.push(gen.ethTransfer(gen.payers[0]), gen.erc20Transfer(gen.holders[0], 0, gen.holders[1], 5n), gen.selfDestruct(gen.payers[1]));
  for (const tx of txs) assert.equal(hex(serializeTx(tx)), hex(tx.serialize()));
});

/**
 * The state-trie update split by the root's children (as the workers run it) gives the same root, account records
 * and node set as the update on one thread: new, changed and deleted accounts, storage written, deleted and cleared.
 */
test('a state-trie update split into shards equals the one-thread update, block after block', async () => {
  const { StateTrie, updateShard, unpackNodes } = await import('../src/state/trie.ts');
  const { createAccountFromRLP, KECCAK256_NULL } = await import('@ethereumjs/util');
  const { fromHex } = await import('../src/util/bytes.ts');
  for (const shards of [2, 3]) {
    const rng = new Rng(100 + shards);
    const nodes = new Map<string, Uint8Array>();
    const source = { getNode: (h: string) => nodes.get(h) };
    const here = new StateTrie(source, new Map());
    const split = new StateTrie(source, new Map());
    let calls = 0;
    // Each shard keeps its own decoded nodes across blocks, as a worker does.
    const shardCaches = Array.from({ length: shards }, () => new Map<string, Node>());
    split.sharder = {
      shards,
      minAccounts: 1,
      run: async (jobs) => {
        calls++;
        assert.equal(jobs.length, shards);
        return jobs.map((j, w) => updateShard(structuredClone(j), (h) => nodes.get(h), shardCaches[w]));
      },
    };
    const records = new Map<string, Uint8Array>();
    let root = EMPTY_ROOT;
    const pool = Array.from({ length: 1500 }, (_, i) => hex(keccak256(Uint8Array.of(i >> 8, i & 255)).subarray(12)));
    for (let block = 0; block < 8; block++) {
      const accounts = new Map();
      const touched = 300 + rng.int(400);
      for (let i = 0; i < touched; i++) {
        const addr = pool[rng.int(pool.length)];
        if (accounts.has(addr)) continue;
        const exists = records.has(addr);
        const del = exists && rng.next() < 0.15;
        const storage = new Map<string, Uint8Array>();
        const slots = rng.next() < 0.3 ? 1 + rng.int(block % 2 === 0 ? 3 : 30) : 0;
        for (let s = 0; s < slots; s++) {
          const slot = hex(Uint8Array.from({ length: 32 }, (_, j) => (j === 31 ? rng.int(40) : 0)));
          storage.set(slot, rng.next() < 0.2 ? new Uint8Array(0) : Uint8Array.from({ length: 1 + rng.int(32) }, () => 1 + rng.int(255)));
        }
        const account = del ? null : { nonce: BigInt(rng.int(1000)), balance: BigInt(rng.int(1e9)) * 10n ** 9n, codeHash: KECCAK256_NULL };
        accounts.set(addr, { address: fromHex(addr), account, storageCleared: exists && !del && rng.next() < 0.05, storage: del ? new Map() : storage });
      }
      const diff = { accounts, codes: new Map() } as unknown as Parameters<typeof here.update>[1];
      const base = (a: Uint8Array) => {
        const r = records.get(hex(a));
        return r === undefined ? undefined : createAccountFromRLP(r).storageRoot;
      };
      const before = calls;
      const a = await here.update(root, diff, base);
      const b = await split.update(root, diff, base);
      if (block > 0) assert.equal(calls, before + 1, `shards ${shards} block ${block}: the split update ran`);
      assert.equal(hex(b.stateRoot), hex(a.stateRoot), `shards ${shards} block ${block}: root`);
      assert.deepEqual([...b.accounts].sort(), [...a.accounts].sort(), `shards ${shards} block ${block}: account records`);
      const splitNodes = new Map(b.nodes);
      for (const p of b.packed) unpackNodes(p, (k, v) => splitNodes.set(hex(k.subarray(1)), v.slice()));
      assert.deepEqual([...splitNodes.keys()].sort(), [...a.nodes.keys()].sort(), `shards ${shards} block ${block}: new nodes`);
      for (const [h, n] of a.nodes) assert.equal(hex(splitNodes.get(h)!), hex(n));
      for (const [h, n] of a.nodes) nodes.set(h, n);
      for (const [k, v] of a.accounts) v === null ? records.delete(k) : records.set(k, v);
      root = a.stateRoot;
    }
  }
});
