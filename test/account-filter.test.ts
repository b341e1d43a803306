/**
 * The account filter (src/state/account-filter.ts): reads of accounts that do not exist skip LevelDB, and no account
 * that exists is ever read as missing (after commits, at reopen, after an unwind).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountFilter } from '../src/state/account-filter.ts';
import { StateStore, type KVStore } from '../src/state/store.ts';
import { createDatabase } from '../src/state/db.ts';
import { allocToDiff, commitGenesis } from '../src/state/genesis.ts';
import { P_ACCOUNT } from '../src/state/keys.ts';
import type { StateDiff } from '../src/state/types.ts';
import { BlockExecutor } from '../src/exec/executor.ts';
import { fromHex, hex } from '../src/util/bytes.ts';
import { devCommon } from './helpers/chain.ts';
import { buildTestChain } from './helpers/workload.ts';

const common = devCommon();

const randomHex = () => hex(crypto.getRandomValues(new Uint8Array(20)));
/** Addresses that differ only in their last digits (as generated test accounts do): 0x00..00<n>. */
const sequential = (n: number) => n.toString(16).padStart(40, '0');

test('account filter: every address added passes, in a view of its buffer too; absent ones are ruled out but for a few', () => {
  const f = AccountFilter.create(100_000);
  const view = AccountFilter.view(f.buffer);
  const added = [...Array.from({ length: 50_000 }, randomHex), ...Array.from({ length: 50_000 }, (_, i) => sequential(i))];
  for (const a of added) f.add(a);
  for (const a of added) {
    assert.ok(f.mayContain(a), a);
    assert.ok(view.mayContain(a), `view: ${a}`);
  }
  const absent = [...Array.from({ length: 50_000 }, randomHex), ...Array.from({ length: 50_000 }, (_, i) => sequential(50_000 + i))];
  const passed = absent.filter((a) => view.mayContain(a)).length;
  // Sized for 100,000 at 16 bits each with 4 probes: about 0.24% pass. Sequential addresses must spread as well.
  assert.ok(passed < 1_000, `${passed} of 100,000 absent addresses passed`);
  assert.ok(absent.slice(50_000).filter((a) => view.mayContain(a)).length < 500, 'sequential addresses are told apart');
  assert.ok(f.added > 99_000 && f.added <= 100_000, `about as many counted as added: ${f.added}`);
  assert.equal(f.full(), false);
  f.add(randomHex());
  assert.throws(() => AccountFilter.view(new SharedArrayBuffer(12)), /power of two/);
});

test('account filter: a filter holding more than it was sized for says so', () => {
  const f = AccountFilter.create(1);
  for (let i = 0; i < f.capacity; i++) f.add(sequential(i));
  assert.equal(f.full(), false, `${f.added} of ${f.capacity}`);
  for (let i = 0; i < f.capacity / 4; i++) f.add(randomHex());
  assert.ok(f.full(), `${f.added} of ${f.capacity}`);
});

/** A database whose synchronous reads of account records are counted. */
function counting(db: KVStore): { db: KVStore; accountReads: () => number } {
  let reads = 0;
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'getSync') {
        return (key: Uint8Array) => {
          if (key[0] === P_ACCOUNT) reads++;
          return target.getSync(key);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db: wrapped, accountReads: () => reads };
}

test('store: reads of missing accounts skip LevelDB; every account is found again after a reopen builds the filter from the records', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-account-filter-'));
  const chain = buildTestChain(common, 4);
  try {
    let store = await StateStore.open(createDatabase(dir), common, { undoDepth: 8 });
    await commitGenesis(store, chain.alloc, chain.genesis, 'test genesis');
    const executor = await BlockExecutor.create({ common, store });
    for (const block of chain.blocks) await executor.commit(await executor.execute(block));
    const existing: [string, bigint][] = [];
    for await (const { address, account } of store.accounts()) existing.push([hex(address), account.balance]);
    assert.ok(existing.length >= 10, `${existing.length} accounts`);
    await store.close();

    const missing = Array.from({ length: 2_000 }, randomHex);
    for (const filtered of [true, false]) {
      const c = counting(createDatabase(dir));
      let built: { accounts: number } | undefined;
      store = await StateStore.open(c.db, common, { undoDepth: 8, accountFilter: filtered, onAccountFilter: (b) => (built = b) });
      assert.equal(await store.accountFilterBuilt(), filtered);
      if (filtered) assert.equal(built?.accounts, existing.length, 'built from every account record');
      for (const [a, balance] of existing) assert.equal((await store.getAccount(fromHex(a)))?.balance, balance, `0x${a}`);
      const before = c.accountReads();
      for (const a of missing) assert.equal(await store.getAccount(fromHex(a)), undefined);
      const reads = c.accountReads() - before;
      if (filtered) assert.ok(reads < 20, `${reads} LevelDB reads for 2,000 missing accounts`);
      else assert.equal(reads, 2_000, 'without the filter, every missing account is read');
      assert.equal(store.accountFilter() !== undefined, filtered);
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store: an account deleted, then restored by an unwind after a reopen, is found (the unwind adds it to the filter)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-account-filter-'));
  const a = fromHex('00000000000000000000000000000000000000aa');
  const b = fromHex('00000000000000000000000000000000000000bb');
  try {
    let store = await StateStore.open(createDatabase(dir), common, { undoDepth: 8 });
    const genesis = await commitGenesis(store, { ['0x' + hex(a)]: { balance: '0x11' }, ['0x' + hex(b)]: { balance: '0x22' } }, { number: 0n, hash: new Uint8Array(32).fill(1), parentHash: new Uint8Array(32), timestamp: 0n }, 'test genesis');
    const diff: StateDiff = { accounts: new Map([[hex(a), { address: a, account: null, storageCleared: false, storage: new Map() }]]), codes: new Map() };
    const trie = await store.computeTrie(diff);
    const record = { ...genesis, number: 1n, hash: new Uint8Array(32).fill(2), parentHash: genesis.hash, stateRoot: trie.stateRoot, timestamp: 1n };
    await store.commit({ record, diff, trie, receipts: [] });
    assert.equal(await store.getAccount(a), undefined, 'deleted');
    await store.close();

    // Reopened: the filter is built from the records, which no longer hold the deleted account.
    store = await StateStore.open(createDatabase(dir), common, { undoDepth: 8 });
    assert.ok(await store.accountFilterBuilt());
    assert.equal(await store.getAccount(a), undefined);
    const head = await store.unwind(1);
    assert.equal(head.number, 0n);
    assert.equal((await store.getAccount(a))?.balance, 0x11n, 'restored by the unwind');
    assert.equal((await store.getAccount(b))?.balance, 0x22n);
    assert.equal(hex(store.head()!.stateRoot), hex(genesis.stateRoot));
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store: a filter outgrown by commits is built again larger, holding every account, those committed during the build too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-account-filter-'));
  const addr = (i: number) => (0xa0000000 + i).toString(16).padStart(40, '0');
  const alloc = (from: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => ['0x' + addr(from + i), { balance: '0x1' }]));
  const builds: { accounts: number; bytes: number }[] = [];
  try {
    const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 8, accountFilterEntries: 1024, onAccountFilter: (b) => builds.push(b) });
    assert.ok(await store.accountFilterBuilt());
    const first = store.accountFilter()!.byteLength;
    const genesis = await commitGenesis(store, alloc(0, 3_000), { number: 0n, hash: new Uint8Array(32).fill(1), parentHash: new Uint8Array(32), timestamp: 0n }, 'test genesis');
    // The genesis outgrew the filter; these blocks commit while the larger one is being built.
    let parent = genesis;
    for (let b = 1; b <= 3; b++) {
      const diff = allocToDiff(alloc(3_000 * b, 1_000), `block ${b}`);
      const trie = await store.computeTrie(diff);
      parent = { ...parent, number: BigInt(b), hash: new Uint8Array(32).fill(b + 1), parentHash: parent.hash, stateRoot: trie.stateRoot };
      await store.commit({ record: parent, diff, trie, receipts: [] });
    }
    assert.ok(await store.accountFilterBuilt());
    assert.ok(builds.length >= 2, `${builds.length} builds`);
    const filter = AccountFilter.view(store.accountFilter()!);
    assert.ok(filter.buffer.byteLength >= first * 4, `${filter.buffer.byteLength} bytes against ${first}`);
    for (let i = 0; i < 3_000; i++) assert.ok(filter.mayContain(addr(i)), addr(i));
    for (let b = 1; b <= 3; b++) for (let i = 0; i < 1_000; i++) assert.ok(filter.mayContain(addr(3_000 * b + i)), addr(3_000 * b + i));
    const passed = Array.from({ length: 10_000 }, randomHex).filter((a) => filter.mayContain(a)).length;
    assert.ok(passed < 100, `${passed} of 10,000 absent addresses passed`);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

