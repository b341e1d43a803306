import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Account, Address, KECCAK256_RLP } from '@ethereumjs/util';
import { Rng } from '../src/bench/traffic.ts';
import { keccak256 } from '../src/crypto/index.ts';
import { SLOT_BATCH, SlotStream } from '../src/exec/slot-stream.ts';
import { BatchTrie, NodeCache } from '../src/state/mpt.ts';
import { OverlayStateManager } from '../src/state/overlay.ts';
import { LiveStorageTries, type SlotStreamResult } from '../src/state/trie-stream.ts';
import { slotLeaf } from '../src/state/trie.ts';
import type { StateReader } from '../src/state/types.ts';
import { fromHex, hex } from '../src/util/bytes.ts';

const address = (i: number) => new Address(keccak256(Uint8Array.of(0xaa, i)).subarray(12));
const slot = (i: number) => keccak256(Uint8Array.of(0x51, i & 0xff, i >> 8));

/**
 * Committed state for the overlay: `contracts` accounts, the first with a committed storage trie of 300 slots (its
 * nodes in `nodes`), the others with none.
 */
function committed(contracts: number) {
  const nodes = new Map<string, Uint8Array>();
  const base = new BatchTrie(KECCAK256_RLP, (h) => nodes.get(h));
  for (let i = 0; i < 300; i++) base.put(keccak256(slot(i)), slotLeaf(Uint8Array.of(i + 1)));
  const root = base.commit();
  for (const [h, n] of base.nodes) nodes.set(h, n);
  const accounts = new Map<string, Account>();
  for (let c = 0; c < contracts; c++) accounts.set(hex(address(c).bytes), new Account(1n, 0n, c === 0 ? root : KECCAK256_RLP, keccak256(Uint8Array.of(c))));
  const reader: StateReader = {
    getAccount: async (a) => accounts.get(hex(a)),
    getStorage: async () => new Uint8Array(0),
    getCode: async () => new Uint8Array(0),
  };
  return { nodes, accounts, reader };
}

/** A stream whose batches go to a `LiveStorageTries` on this thread, as a worker would get them. */
function streamInto(state: OverlayStateManager, accounts: Map<string, Account>, nodes: Map<string, Uint8Array>) {
  const tries = new LiveStorageTries((h) => nodes.get(h), new NodeCache(100_000));
  const sent: boolean[] = [];
  let result: SlotStreamResult | undefined;
  const stream = new SlotStream(state, {
    committedStorageRoot: (a) => accounts.get(hex(a))?.storageRoot,
    send: (batch, last) => {
      sent.push(last);
      result = tries.apply(batch, last);
    },
    result: async () => result,
  });
  return { stream, sent };
}

/**
 * A block of transactions writing slots of three contracts (one with committed storage), some of them in frames that
 * revert (a slot first written there is never sent), the same slots again and again across batches: the storage
 * roots the stream's tries give are those of one update of each trie with the block's final slots.
 */
test('the slots streamed batch by batch give the storage roots of the block\'s final slots', async () => {
  const { nodes, accounts, reader } = committed(3);
  const state = new OverlayStateManager(reader);
  const { stream, sent } = streamInto(state, accounts, nodes);
  const rng = new Rng(7);
  const txs = 2 * SLOT_BATCH + 37;
  let reverted = 0;
  for (let t = 1; t <= txs; t++) {
    for (let w = 0; w < 3; w++) {
      const to = address(rng.int(3));
      const value = rng.next() < 0.15 ? new Uint8Array(0) : Uint8Array.of(rng.int(256), 1 + rng.int(255));
      const inFrame = rng.next() < 0.2;
      if (inFrame) await state.checkpoint();
      await state.putStorage(to, slot(rng.int(400)), value);
      if (inFrame) {
        await state.revert();
        reverted++;
      }
    }
    stream.recorded(t);
  }
  assert.ok(reverted > 0);
  const diff = state.diff();
  const away = stream.finish(diff);
  assert.equal(stream.stopped, undefined);
  assert.ok(away !== undefined);
  assert.deepEqual(sent, [false, false, true], 'two batches while the block runs, the last at its end');
  const done = await away.done;
  assert.ok(done !== undefined);
  assert.deepEqual([...done.roots.keys()].sort(), [...diff.accounts.keys()].filter((a) => diff.accounts.get(a)!.storage.size > 0).sort());
  for (const [addr, d] of diff.accounts) {
    const one = new BatchTrie(accounts.get(addr)!.storageRoot, (h) => nodes.get(h));
    for (const [s, v] of d.storage) one.put(keccak256(fromHex(s)), slotLeaf(v));
    assert.equal(hex(done.roots.get(addr)!), hex(one.commit()), `account ${addr}`);
  }
});

/**
 * Storages wiped as the block runs: the account with committed storage wiped after a batch had gone (its trie starts
 * over from the empty root with the slots written after the wipe), another wiped in a frame that reverts (nothing
 * changes), one wiped twice, one deleted (its trie dropped, as its leaf is): the roots are those of one update of each
 * trie from where the block leaves it.
 */
test('storages wiped as the block runs start their tries over; a deleted account\'s trie is dropped', async () => {
  const { nodes, accounts, reader } = committed(5);
  const state = new OverlayStateManager(reader);
  const { stream, sent } = streamInto(state, accounts, nodes);
  const events: Record<number, () => Promise<void>> = {
    [SLOT_BATCH + 5]: () => state.clearStorage(address(0)),
    [SLOT_BATCH + 9]: async () => {
      await state.checkpoint();
      await state.clearStorage(address(1));
      await state.revert();
    },
    [20]: () => state.clearStorage(address(2)),
    [SLOT_BATCH + 20]: () => state.clearStorage(address(2)),
    [SLOT_BATCH + 30]: () => state.deleteAccount(address(3)),
  };
  const txs = SLOT_BATCH + 40;
  for (let t = 1; t <= txs; t++) {
    await events[t]?.();
    for (let c = 0; c < 5; c++) if (!(c === 3 && t >= SLOT_BATCH + 30)) await state.putStorage(address(c), slot((7 * t + c) % 350), Uint8Array.of(t & 0xff, c + 1));
    stream.recorded(t);
  }
  const diff = state.diff();
  assert.deepEqual([0, 1, 2, 3, 4].map((c) => diff.accounts.get(hex(address(c).bytes))?.storageCleared), [true, false, true, true, false]);
  const away = stream.finish(diff);
  assert.equal(stream.stopped, undefined);
  assert.deepEqual(sent, [false, true]);
  const done = await away!.done;
  assert.ok(done !== undefined);
  for (const [addr, d] of diff.accounts) {
    if (d.account === null) {
      assert.equal(done.roots.has(addr), false, 'the deleted account has no storage root');
      continue;
    }
    const one = new BatchTrie(d.storageCleared ? KECCAK256_RLP : accounts.get(addr)!.storageRoot, (h) => nodes.get(h));
    for (const [s, v] of d.storage) one.put(keccak256(fromHex(s)), slotLeaf(v));
    assert.equal(hex(done.roots.get(addr)!), hex(one.commit()), `account ${addr}`);
  }
  assert.equal(done.roots.size, 4);
});
