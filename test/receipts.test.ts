import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { Bloom } from '@ethereumjs/vm';
import { randomBlocks } from '../src/bench/workloads.ts';
import { keccak256 } from '../src/crypto/index.ts';
import { isParallaxError } from '../src/errors.ts';
import { libraryBloomAdd } from '../src/exec/bloom.ts';
import { packReceipts, unpackReceipts } from '../src/state/receipts.ts';
import { hex } from '../src/util/bytes.ts';
import { encodeRlp, uintBytes } from '../src/util/rlp.ts';
import { generator, node } from './helpers/traffic.ts';

/** The receipts root of `receipts` by @ethereumjs/mpt: keys rlp(index), values the consensus encodings. */
async function receiptsRoot(receipts: Uint8Array[]): Promise<string> {
  const trie = new MerklePatriciaTrie();
  for (const [i, r] of receipts.entries()) await trie.put(RLP.encode(i), r);
  return hex(trie.root());
}

test('stored receipts: blocks with logs, reverts and creations read back as their exact consensus encodings, and are stored without blooms', async () => {
  const gen = generator({ seed: 5 });
  const setup = gen.setup(200);
  const blocks = randomBlocks(gen, 3, 90, { zipf: 0.6, hotPool: 0.3 });
  const { store, engine } = await node(gen, setup, 1);
  let logs = 0;
  let failed = 0;
  try {
    for (const block of blocks) {
      const { result } = await engine.execute(block);
      await engine.commit(result);
      const full = result.encodedReceipts;
      const back = await store.receipts(block.header.number);
      assert.ok(back !== undefined);
      assert.deepEqual(back.map(hex), full.map(hex), `block ${block.header.number}`);
      // What was read back hashes to the block's receipts root in the library's trie.
      assert.equal(await receiptsRoot(back), hex(result.receiptsRoot));
      // Each bloom (259 bytes as an RLP item) is left out of the stored value.
      assert.ok(packReceipts(full).length <= encodeRlp(full).length - 256 * full.length, 'stored without blooms');
      for (const t of result.txs) {
        logs += t.receipt.logs.length;
        if (t.reverted) failed++;
      }
    }
  } finally {
    await store.close();
  }
  assert.ok(logs > 100, `the blocks have logs (${logs})`);
  assert.ok(failed > 0, 'and failed transactions');
});

test('stored receipts: typed and pre-Byzantium receipts round-trip, the earlier stored format reads as it was, corrupt values are DB_CORRUPT', () => {
  const log = (a: number, topics: number, data: number): [Uint8Array, Uint8Array[], Uint8Array] => [
    new Uint8Array(20).fill(a),
    Array.from({ length: topics }, (_, j) => keccak256(Uint8Array.of(a, j))),
    new Uint8Array(data).fill(7),
  ];
  const receipt = (first: Uint8Array, gas: bigint, logs: ReturnType<typeof log>[], type?: number): Uint8Array => {
    // The bloom as the library (unpatched) builds it.
    const bloom = new Bloom();
    for (const [address, topics] of logs) {
      libraryBloomAdd.call(bloom as never, address);
      for (const t of topics) libraryBloomAdd.call(bloom as never, t);
    }
    return encodeRlp([first, uintBytes(gas), bloom.bitvector, logs as never], type);
  };
  const full = [
    receipt(Uint8Array.of(1), 21_000n, []),
    receipt(new Uint8Array(0), 90_000n, [log(1, 0, 0)], 2),
    receipt(Uint8Array.of(1), 150_000n, [log(2, 3, 32), log(3, 4, 200), log(4, 1, 0)], 1),
    receipt(keccak256(Uint8Array.of(9)), 400_000n, [log(5, 2, 64)]), // pre-Byzantium: the post-state root
    receipt(Uint8Array.of(1), 10n ** 12n, Array.from({ length: 40 }, (_, k) => log(6 + k, k % 5, k * 3)), 3),
  ];
  const stored = packReceipts(full);
  assert.deepEqual(unpackReceipts(stored, 'block 1').map(hex), full.map(hex));
  assert.deepEqual(unpackReceipts(packReceipts([]), 'block 2'), []);
  // Values written before this format (the list of full encodings) are read as they are.
  assert.deepEqual(unpackReceipts(encodeRlp(full), 'block 3').map(hex), full.map(hex));
  const corrupt = (v: Uint8Array, what: string) =>
    assert.throws(() => unpackReceipts(v, 'block 7'), (e) => isParallaxError(e, 'DB_CORRUPT') && /block 7/.test(e.message), what);
  corrupt(stored.subarray(0, stored.length - 5), 'truncated');
  corrupt(Uint8Array.of(0x01, 0xc1, 0x05), 'a receipt that is no list');
  corrupt(Uint8Array.of(0x02, 0xc0), 'an unknown format byte');
  // A receipt with a bloom where none should be (four fields) is refused, not read with a second bloom.
  corrupt(encodeRlp([full[0]], 0x01), 'four fields');
  // Packing refuses what is no receipt encoding.
  assert.throws(() => packReceipts([Uint8Array.of(0xc2, 0x01, 0x02)]), /receipt 0 is no receipt encoding/);
});
