import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { BatchTrie, EMPTY_ROOT } from '../src/state/mpt.ts';
import { Rng } from '../src/bench/traffic.ts';
import { keccak256 } from '../src/crypto/index.ts';
import { hex } from '../src/util/bytes.ts';

/** Random batches of puts and deletes (keys reused so deletes hit and branches collapse), over several commits. */
test('BatchTrie gives @ethereumjs/mpt roots across batches of inserts, updates and deletes, and its nodes serve reads', async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rng = new Rng(seed);
    const store = new Map<string, Uint8Array>();
    const reference = new MerklePatriciaTrie();
    let root = EMPTY_ROOT;
    const keySpace = 5 + rng.int(200);
    const live = new Map<string, Uint8Array>();
    for (let batch = 0; batch < 6; batch++) {
      const trie = new BatchTrie(root, async (h) => store.get(h));
      const ops = 1 + rng.int(80);
      for (let i = 0; i < ops; i++) {
        // Short keys too (not only 32-byte hashes), so embedded nodes under 32 bytes occur.
        const k = seed % 3 === 0 ? Uint8Array.of(rng.int(keySpace) & 0xff, rng.int(3)) : keccak256(Uint8Array.of(rng.int(keySpace)));
        const del = rng.next() < 0.3;
        const v = del ? new Uint8Array(0) : Uint8Array.from({ length: 1 + rng.int(40) }, () => rng.int(256));
        await trie.put(k, v);
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
    }
    // Read every live key back through @ethereumjs/mpt from the nodes BatchTrie wrote.
    const db = { get: async (k: string) => store.get(k), put: async () => {}, del: async () => {}, batch: async () => {}, shallowCopy() { return this; }, open: async () => {} };
    const reader = new MerklePatriciaTrie({ db, root, valueEncoding: 'view' });
    for (const [k, v] of live) assert.deepEqual(await reader.get(Buffer.from(k, 'hex')), v);
    assert.ok(live.size > 0 || hex(root) === hex(EMPTY_ROOT));
  }
});
