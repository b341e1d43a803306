import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitGenesis } from '../src/state/genesis.ts';
import { StateStore, type KVStore, type KVOp } from '../src/state/store.ts';
import { createDatabase } from '../src/state/db.ts';
import { parseLevelDbStats } from '../src/state/leveldb-stats.ts';
import { isParallaxError } from '../src/errors.ts';
import { fromHex, hex } from '../src/util/bytes.ts';
import { Account, Address } from '@ethereumjs/util';
import { OverlayStateManager } from '../src/state/overlay.ts';
import { NOT_NOW, type StateReader } from '../src/state/types.ts';
import { devCommon } from './helpers/chain.ts';
import { buildTestChain } from './helpers/workload.ts';
import { dumpState, openStore, startChain } from './helpers/store.ts';

const common = devCommon();
const chain = buildTestChain(common, 12);

/** Roots and flat state after each block of the test chain, executed once without interruption. */
async function referenceRun() {
  const { store, executor } = await startChain(common, chain);
  const roots: string[] = [hex(store.head()!.stateRoot)];
  const dumps: string[] = [JSON.stringify(await dumpState(store))];
  for (const block of chain.blocks) {
    const r = await executor.execute(block);
    await executor.commit(r);
    roots.push(hex(r.stateRoot));
    dumps.push(JSON.stringify(await dumpState(store)));
  }
  await store.close();
  return { roots, dumps };
}
const reference = referenceRun();

test('flat records and the trie agree: the dump of every block re-roots to its state root', async () => {
  const { roots, dumps } = await reference;
  // The chain exercises creation, storage set/overwrite/zero and self-destruct: roots must all differ.
  assert.equal(new Set(roots).size, roots.length);
  for (const i of [1, 6, 12]) {
    const fresh = await openStore(common);
    const rec = await commitGenesis(fresh, JSON.parse(dumps[i]), { number: 0n, hash: new Uint8Array(32), parentHash: new Uint8Array(32), timestamp: 0n }, 'dump');
    assert.equal(hex(rec.stateRoot), roots[i], `block ${i}`);
    await fresh.close();
  }
});

test('undo journal: unwind 5 blocks gives the earlier root and state; re-executing gives the same roots', async () => {
  const { roots, dumps } = await reference;
  const { store, executor } = await startChain(common, chain);
  for (const block of chain.blocks) await executor.commit(await executor.execute(block));
  assert.equal(store.head()!.number, 12n);
  assert.equal(await store.unwindableDepth(), 12);
  const head = await store.unwind(5);
  assert.equal(head.number, 7n);
  assert.equal(hex(head.stateRoot), roots[7]);
  assert.equal(JSON.stringify(await dumpState(store)), dumps[7]);
  assert.equal(await store.receipts(8n), undefined);
  for (const block of chain.blocks.slice(7)) {
    const r = await executor.execute(block);
    assert.equal(hex(r.stateRoot), roots[Number(block.header.number)]);
    await executor.commit(r);
  }
  assert.equal(JSON.stringify(await dumpState(store)), dumps[12]);
  await store.close();
});

test('undo journal: an unwind deeper than undoDepth is refused with UNWIND_TOO_DEEP and changes nothing', async () => {
  const { roots } = await reference;
  const { store, executor } = await startChain(common, chain, ':memory:', 3);
  for (const block of chain.blocks) await executor.commit(await executor.execute(block));
  assert.equal(await store.unwindableDepth(), 3);
  await assert.rejects(store.unwind(4), (e) => isParallaxError(e, 'UNWIND_TOO_DEEP') && /last 3/.test(e.message));
  assert.equal(hex(store.head()!.stateRoot), roots[12]);
  assert.equal(hex((await store.unwind(3)).stateRoot), roots[9]);
  await store.close();
});

test('a block whose batch fails, written or while built, leaves the database exactly as it was', async () => {
  const { roots, dumps } = await reference;
  const inner = createDatabase(':memory:');
  let fail: 'write' | 'put' | undefined;
  let closed = 0;
  // Fault injection: the one thing a real LevelDB will not do on demand is fail a write.
  const faulty: KVStore = {
    get status() {
      return inner.status;
    },
    open: () => inner.open(),
    close: () => inner.close(),
    get: (k) => inner.get(k),
    getSync: (k) => inner.getSync(k),
    getMany: (k) => inner.getMany(k),
    iterator: (o) => inner.iterator(o),
    batch: ((ops?: KVOp[], o?: { sync?: boolean }) => {
      if (ops !== undefined) return inner.batch(ops, o);
      const b = inner.batch();
      let puts = 0;
      return {
        put(k: Uint8Array, v: Uint8Array) {
          if (fail === 'put' && ++puts === 5) {
            fail = undefined;
            throw new Error('injected failure while building the batch');
          }
          return b.put(k, v);
        },
        del: (k: Uint8Array) => b.del(k),
        close() {
          closed++;
          return b.close();
        },
        async write(wo?: { sync?: boolean }) {
          if (fail === 'write') {
            fail = undefined;
            await b.close();
            throw new Error('injected write failure');
          }
          return b.write(wo);
        },
      };
    }) as KVStore['batch'],
  };
  const store = await StateStore.open(faulty, common, { undoDepth: 8 });
  await commitGenesis(store, chain.alloc, chain.genesis, 'genesis');
  const { BlockExecutor } = await import('../src/exec/executor.ts');
  const executor = await BlockExecutor.create({ common, store });
  for (const block of chain.blocks.slice(0, 4)) await executor.commit(await executor.execute(block));
  const r5 = await executor.execute(chain.blocks[4]);
  fail = 'write';
  await assert.rejects(executor.commit(r5), /injected write failure/);
  assert.equal(store.head()!.number, 4n);
  assert.equal(JSON.stringify(await dumpState(store)), dumps[4]);
  // A failure while the batch is built: the commit fails, the batch is discarded (closed, never written).
  fail = 'put';
  await assert.rejects(executor.commit(await executor.execute(chain.blocks[4])), /injected failure while building/);
  assert.equal(closed, 1, 'the unwritten batch is closed');
  assert.equal(store.head()!.number, 4n);
  assert.equal(JSON.stringify(await dumpState(store)), dumps[4]);
  // Cached reads must not have seen the failed block either.
  const again = await executor.execute(chain.blocks[4]);
  assert.equal(hex(again.stateRoot), roots[5]);
  await executor.commit(again);
  assert.equal(JSON.stringify(await dumpState(store)), dumps[5]);
  await store.close();
});

test('crash: kill -9 while blocks commit; reopening yields the last committed block and execution goes on', async () => {
  const { roots, dumps } = await reference;
  const trials = Number(process.env.PARALLAX_CRASH_TRIALS ?? 4);
  for (let trial = 0; trial < trials; trial++) {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-crash-'));
    try {
      const child = spawn(process.execPath, [join(import.meta.dirname, 'helpers', 'crash-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let last = -1;
      const killAfter = 1 + ((trial * 5) % 10); // kill after a varying number of commits, mid-write of the next
      await new Promise<void>((resolve) => {
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s: string) => {
          for (const m of s.matchAll(/committed (\d+)/g)) last = Number(m[1]);
          if (last >= killAfter && child.exitCode === null) setTimeout(() => child.kill('SIGKILL'), trial % 3);
        });
        child.on('exit', () => resolve());
      });
      assert.equal(child.signalCode, 'SIGKILL', 'the writer must die by kill -9, not finish');
      const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 64 });
      const head = store.head()!;
      const n = Number(head.number);
      assert.ok(n >= last, `head ${n} is behind the last acknowledged commit ${last}`);
      assert.equal(hex(head.stateRoot), roots[n]);
      assert.equal(JSON.stringify(await dumpState(store)), dumps[n]);
      const { BlockExecutor } = await import('../src/exec/executor.ts');
      const executor = await BlockExecutor.create({ common, store });
      for (const block of chain.blocks.slice(n)) {
        const r = await executor.execute(block);
        assert.equal(hex(r.stateRoot), roots[Number(block.header.number)]);
        await executor.commit(r);
      }
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('the overlay answers reads of the store on the call, as its asynchronous reads do', async () => {
  const { store, executor } = await startChain(common, chain);
  for (const block of chain.blocks) await executor.commit(await executor.execute(block));
  const alloc = await dumpState(store);
  const refuse = () => Promise.reject(new Error('an asynchronous read where the store could answer at once'));
  // One overlay whose base only answers on the call (its asynchronous reads fail), one whose base has no such reads.
  const nowOnly: StateReader = { accountNow: (a) => store.accountNow(a), storageNow: (a, k) => store.storageNow(a, k), getAccount: refuse, getStorage: refuse, getCode: (h) => store.getCode(h) };
  const laterOnly: StateReader = { getAccount: (a) => store.getAccount(a), getStorage: (a, k) => store.getStorage(a, k), getCode: (h) => store.getCode(h) };
  const now = new OverlayStateManager(nowOnly);
  const later = new OverlayStateManager(laterOnly);
  const entries = Object.entries(alloc).map(([a, v]) => ({ addr: a.slice(2), ...v }));
  const contract = entries.find((e) => e.code !== '0x' && Object.keys(e.storage ?? {}).length >= 2);
  const eoas = entries.filter((e) => e.code === '0x' && BigInt(e.balance ?? 0) > 0n);
  assert.ok(contract !== undefined && eoas.length >= 3, `test chain state: a contract with two slots, ${eoas.length} funded accounts`);
  const [changed, deleted, untouched] = eoas;
  const [writtenSlot, keptSlot] = Object.keys(contract.storage!).map((k) => k.slice(2));
  const fresh = 'ab'.repeat(20);
  const absent = 'cd'.repeat(20);
  const addr = (a: string) => new Address(fromHex(a));
  const keys = [fresh, absent, ...entries.map((e) => e.addr)].flatMap((a) => ['a' + a, 'b' + a]);
  for (const slot of Object.keys(contract.storage!)) keys.push('s' + contract.addr + slot.slice(2));
  keys.push('s' + contract.addr + '11'.repeat(32));
  const sameBothWays = async (when: string) => {
    for (const k of keys) {
      const v = now.valueNow(k);
      assert.notEqual(v, NOT_NOW, `${when}: ${k}`);
      assert.equal(v, await later.valueOf(k), `${when}: ${k}`);
    }
  };
  // The same writes on both: an account changed, one deleted, one created, a slot changed.
  for (const o of [now, later]) {
    await o.putAccount(addr(changed.addr), new Account(7n, 123n));
    await o.deleteAccount(addr(deleted.addr));
    await o.putAccount(addr(fresh), new Account(0n, 5n));
    await o.putStorage(addr(contract.addr), fromHex(writtenSlot), fromHex('2a'));
  }
  await sameBothWays('after the writes');
  // An account without code: its nonce alone (see `accountToken`).
  assert.equal(now.valueNow('a' + changed.addr), '7');
  assert.equal(now.valueNow('b' + changed.addr), '123');
  assert.equal(now.valueNow('a' + deleted.addr), '');
  assert.equal(now.valueNow('b' + fresh), '5');
  assert.equal(now.valueNow('a' + absent), '');
  assert.equal(now.valueNow('b' + untouched.addr), BigInt(untouched.balance!).toString());
  assert.equal(now.valueNow('s' + contract.addr + writtenSlot), '2a');
  assert.equal(now.valueNow('s' + contract.addr + keptSlot), hex(fromHex(contract.storage!['0x' + keptSlot])));
  // Reads through the state manager's interface come out the same both ways.
  for (const e of entries) {
    const [a, b] = [await now.getAccount(addr(e.addr)), await later.getAccount(addr(e.addr))];
    assert.equal(a?.balance, b?.balance, e.addr);
    assert.equal(a?.nonce, b?.nonce, e.addr);
  }
  // The contract destroyed: its slots read as empty both ways.
  for (const o of [now, later]) await o.deleteAccount(addr(contract.addr));
  await sameBothWays('after the contract was destroyed');
  assert.equal(now.valueNow('s' + contract.addr + keptSlot), '');
  // A base without reads on the call leaves the overlay to read later what this block has not read or written.
  const cold = new OverlayStateManager(laterOnly);
  assert.equal(cold.valueNow('a' + untouched.addr), NOT_NOW);
  assert.equal(cold.valueNow('s' + contract.addr + keptSlot), NOT_NOW);
  await cold.getAccount(addr(untouched.addr));
  assert.equal(cold.valueNow('b' + untouched.addr), BigInt(untouched.balance!).toString());
  await store.close();
});

test('tracking: reading the balance of an account the overlay handed out is a read of that balance, in either mode, only while its transaction is tracked', async () => {
  const { store, executor } = await startChain(common, chain);
  for (const block of chain.blocks) await executor.commit(await executor.execute(block));
  const alloc = await dumpState(store);
  const funded = Object.entries(alloc).filter(([, v]) => v.code === '0x' && BigInt(v.balance ?? 0) > 0n);
  assert.ok(funded.length >= 2, `test chain state: ${funded.length} funded accounts`);
  const [[x, xState], [y, yState]] = funded.map(([a, v]) => [a.slice(2), v] as const);
  const addr = (a: string) => new Address(fromHex(a));
  const base: StateReader = { getAccount: (a) => store.getAccount(a), getStorage: (a, k) => store.getStorage(a, k), getCode: (h) => store.getCode(h) };
  for (const local of [false, true]) {
    const o = new OverlayStateManager(base);
    o.beginTx(undefined, local);
    // x: only its nonce looked at; y: its balance read twice, nothing written.
    const ax = (await o.getAccount(addr(x)))!;
    assert.equal(typeof ax.nonce, 'bigint');
    const ay = (await o.getAccount(addr(y)))!;
    assert.equal(ay.balance, BigInt(yState.balance!));
    assert.equal(ay.balance, BigInt(yState.balance!));
    const mode = local ? 'dependencies only' : 'full';
    if (local) {
      const l = o.endTxHere();
      assert.deepEqual(new Set(l.readAccounts), new Set([x, y]), mode);
      assert.deepEqual([...l.readBalances], [y], mode);
      assert.deepEqual([l.changedAccounts, l.changedBalances, l.changedSlots], [[], [], []], mode);
    } else {
      const a = o.endTx();
      assert.deepEqual(new Set(a.reads.keys()), new Set(['a' + x, 'a' + y, 'b' + y]), mode);
      assert.equal(a.reads.get('b' + y), BigInt(yState.balance!).toString(), mode);
    }
    // x's balance read through the object of the ended transaction is nothing of the next one.
    o.beginTx(undefined, local);
    assert.equal(ax.balance, BigInt(xState.balance!));
    if (local) assert.deepEqual([...o.endTxHere().readBalances], [], mode);
    else assert.deepEqual([...o.endTx().reads.keys()], [], mode);
  }
  await store.close();
});

test('read keys: the same bytes as the stored keys, from hex, and malformed hex is refused', async () => {
  const { accountKey, accountReadKey, codeKey, codeReadKey, nodeKey, nodeReadKey, storageKey, storageReadKey } = await import('../src/state/keys.ts');
  const { randomBytes } = await import('node:crypto');
  const { hex: toHex } = await import('../src/util/bytes.ts');
  for (let k = 0; k < 50; k++) {
    const addr = new Uint8Array(randomBytes(20));
    const slot = new Uint8Array(randomBytes(32));
    const hash = new Uint8Array(randomBytes(32));
    assert.equal(toHex(accountReadKey(toHex(addr))), toHex(accountKey(addr)));
    assert.equal(toHex(storageReadKey(toHex(addr), toHex(slot))), toHex(storageKey(addr, slot)));
    assert.equal(toHex(nodeReadKey(toHex(hash))), toHex(nodeKey(hash)));
    assert.equal(toHex(codeReadKey(hash)), toHex(codeKey(hash)));
  }
  // A shorter key after a longer one: exactly its own length, nothing of the longer one's bytes.
  storageReadKey('11'.repeat(20), '22'.repeat(32));
  assert.equal(toHex(accountReadKey('33'.repeat(20))), '01' + '33'.repeat(20));
  assert.throws(() => accountReadKey('zz'.repeat(20)), RangeError);
  assert.throws(() => storageReadKey('11'.repeat(20), '22'.repeat(31)), RangeError);
  assert.throws(() => nodeReadKey('ab'), RangeError);
});

test('write-batch keys: the same bytes as the stored keys, none overwritten by a later one, across chunks', async () => {
  const { KeyArena, accountKey, storageKey, nodeKey } = await import('../src/state/keys.ts');
  const { randomBytes } = await import('node:crypto');
  const { hex: toHex } = await import('../src/util/bytes.ts');
  const arena = new KeyArena();
  const made: [Uint8Array, string][] = [];
  // 6,000 keys of 21 to 53 bytes: more than four 64 KB chunks.
  for (let k = 0; k < 2000; k++) {
    const addr = new Uint8Array(randomBytes(20));
    const slot = new Uint8Array(randomBytes(32));
    made.push([arena.account(addr), toHex(accountKey(addr))]);
    made.push([arena.storage(addr, slot), toHex(storageKey(addr, slot))]);
    made.push([arena.node(slot), toHex(nodeKey(slot))]);
  }
  for (const [i, [key, expected]] of made.entries()) assert.equal(toHex(key), expected, `key ${i}`);
  assert.throws(() => arena.node(new Uint8Array(31)), RangeError);
});

test("LevelDB's stats: flushes and compactions as LevelDB counts them, summed over its levels; nothing in memory", async () => {
  // LevelDB 1.20's table, two levels (hand-written: 3 + 9 tables, 5 + 21 MB, 1 + 4 s, 0 + 30 MB read, 6 + 28 written).
  const text = '                               Compactions\nLevel  Files Size(MB) Time(sec) Read(MB) Write(MB)\n--------------------------------------------------\n  0        3        5         1        0         6\n  1        9       21         4       30        28\n';
  assert.deepEqual(parseLevelDbStats(text), { files: 12, sizeMb: 26, compactionSec: 5, readMb: 30, writtenMb: 34 });
  assert.equal(parseLevelDbStats('some other format'), undefined);
  assert.equal(parseLevelDbStats(text.replace('  1        9', '  1   nine')), undefined, 'a row that is not numbers');

  const dir = await mkdtemp(join(tmpdir(), 'parallax-ldbstats-'));
  const store = await StateStore.open(createDatabase(dir), devCommon(), { undoDepth: 4 });
  try {
    assert.deepEqual(store.levelDbStats(), { files: 0, sizeMb: 0, compactionSec: 0, readMb: 0, writtenMb: 0 });
    // 16 MB of random (incompressible) values: the 4 MiB write buffer fills and is flushed to tables three times at least.
    const db = store.db;
    for (let b = 0; b < 16; b++) {
      const batch = db.batch();
      for (let i = 0; i < 1024; i++) batch.put(crypto.getRandomValues(new Uint8Array(33)), crypto.getRandomValues(new Uint8Array(1024)));
      await batch.write();
    }
    // Flushes run on LevelDB's own thread: wait for the third.
    const deadline = Date.now() + 30_000;
    while ((store.levelDbStats()?.files ?? 0) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const s = store.levelDbStats()!;
    assert.ok(s.files >= 3, `tables ${s.files}`);
    assert.ok(s.writtenMb >= 11 && s.writtenMb <= 64, `written ${s.writtenMb} MB`);
    assert.ok(s.sizeMb >= 11 && s.sizeMb <= 17, `size ${s.sizeMb} MB`);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  const memory = await StateStore.open(createDatabase(':memory:'), devCommon(), { undoDepth: 4 });
  assert.equal(memory.levelDbStats(), undefined);
  await memory.close();
});
