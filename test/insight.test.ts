/**
 * Execution insight: traces, the dependency graph's critical path, and the value conservation check, on blocks of
 * real contracts (Uniswap V2 pairs and router, OpenZeppelin ERC-20s) whose conflicts are known by construction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TypedTransaction } from '@ethereumjs/tx';
import { Account, Address } from '@ethereumjs/util';
import { isParallaxError } from '../src/errors.ts';
import { checkConservation } from '../src/insight/conservation.ts';
import type { AccountDiff } from '../src/state/types.ts';
import { hex } from '../src/util/bytes.ts';
import { generator, node } from './helpers/traffic.ts';

/** Uniswap V2 pair storage: reserve0, reserve1 and blockTimestampLast share slot 8. */
const RESERVES_SLOT = '0x' + '8'.padStart(64, '0');

test('trace of a hot-pool block: reserve slots invalidate, the critical path is the chain of swaps, achieved <= bound', async () => {
  const gen = generator({ seed: 7, payers: 60 });
  const setup = gen.setup(400);
  const { engine, store } = await node(gen, setup, 2);
  try {
    // 20 swaps on pool 0 from distinct senders (the 20 holders the setup approved for the router), interleaved
    // with 44 ETH transfers to fresh accounts (independent of everything). Payer 0 is the coinbase: never a sender.
    const txs: TypedTransaction[] = [];
    const hot: number[] = [];
    let payer = 1;
    for (let i = 0; i < 64; i++) {
      if (i % 16 < 5) {
        hot.push(txs.length);
        txs.push(gen.swap(gen.holders[hot.length - 1], 0, hot.length % 2 === 0, 10n ** 15n * BigInt(hot.length)));
      } else txs.push(gen.ethTransfer(gen.payers[payer++]));
    }
    const pair = '0x' + hex(gen.pools[0].pair.bytes);
    // The first block teaches the conflict detector nothing yet: the swaps are spread over the workers and
    // most of them are invalidated. Check it, then a second block of the same shape (predicted: one group).
    for (const round of [0, 1]) {
      const block = gen.block(round === 0 ? txs : rebuild(gen, hot.length));
      const done = await engine.execute(block);
      await engine.commit(done.result);
      const t = done.trace;
      assert.ok(t !== undefined, 'a trace is recorded');
      assert.equal(t.txs.length, 64);
      assert.equal(done.result.txs.filter((r) => r.receipt !== undefined).length, 64);
      // Critical path by gas: exactly the swaps on the hot pool, in block order.
      assert.deepEqual(t.critical.gas.txs, hot, `round ${round}: critical path`);
      const swapGas = hot.reduce((s, i) => s + BigInt(t.txs[i].gasUsed), 0n);
      assert.equal(t.critical.gas.gas, swapGas.toString());
      // Every swap after the first depends on an earlier swap; transfers depend on nothing.
      for (const i of hot.slice(1)) assert.ok(t.txs[i].deps.some((d) => hot.includes(d)), `swap ${i} depends on a swap`);
      for (let i = 0; i < 64; i++) if (!hot.includes(i)) assert.deepEqual(t.txs[i].deps, [], `transfer ${i} is independent`);
      // Bounds: total over critical path; achieved (measured) never above what the dependencies allow.
      const total = BigInt(t.totalGas);
      assert.ok(Math.abs(t.speedup.boundByGas - Number(total) / Number(swapGas)) < 1e-3);
      assert.ok(t.speedup.achieved <= t.speedup.boundByTime + 1e-9, `achieved ${t.speedup.achieved} <= bound ${t.speedup.boundByTime}`);
      assert.ok(t.speedup.boundWithWorkers <= 2);
      // Commit order is block order, commit times ascend, every transaction has exactly one committed attempt.
      for (let i = 0; i < 64; i++) {
        assert.equal(t.txs[i].commitOrder, i);
        if (i > 0) assert.ok(t.txs[i].committedAt >= t.txs[i - 1].committedAt);
        assert.equal(t.txs[i].attempts.filter((a) => a.committed).length, 1);
      }
      if (round === 0) {
        // Discarded runs name the keys that invalidated them: the pair's reserve slot among them, never a bare conflict.
        const discarded = t.txs.flatMap((x) => x.attempts.filter((a) => !a.committed));
        assert.ok(discarded.length > 0, 'the cold block re-executes some swaps');
        for (const a of discarded) {
          assert.ok(a.invalidatedBy !== undefined && a.invalidatedBy.length > 0);
          assert.ok(
            a.invalidatedBy.some((k) => k.kind === 'slot' && k.address === pair && k.slot === RESERVES_SLOT),
            `a discarded swap names the reserves slot: ${JSON.stringify(a.invalidatedBy)}`,
          );
        }
        for (let i = 0; i < 64; i++) if (!hot.includes(i)) assert.equal(t.txs[i].attempts.length, 1, `transfer ${i} ran once`);
      }
      assert.ok(t.conservation?.ok, 'value is conserved');
    }
    assert.ok((await store.head())!.number > 0n);
  } finally {
    await engine.close();
  }
});

/** The same shape again: the same senders (next nonces), other amounts and directions. */
function rebuild(gen: ReturnType<typeof generator>, swaps: number): TypedTransaction[] {
  const txs: TypedTransaction[] = [];
  let s = 0;
  let payer = 1;
  for (let i = 0; i < 64; i++) {
    if (i % 16 < 5) {
      txs.push(gen.swap(gen.holders[s], 0, s % 2 === 1, 10n ** 15n * BigInt(1 + s)));
      s++;
    } else txs.push(gen.ethTransfer(gen.payers[payer++]));
  }
  assert.equal(s, swaps);
  return txs;
}

test('conservation: a corrupted state write mid-block is caught, naming the block and the account', async () => {
  for (const workers of [1, 2]) {
    const gen = generator({ seed: 8 });
    const setup = gen.setup(400);
    const { engine, store } = await node(gen, setup, workers);
    try {
      const txs = [gen.ethTransfer(gen.payers[1]), gen.ethTransfer(gen.payers[2]), gen.swap(gen.holders[0], 1, true, 10n ** 15n)];
      const block = gen.block(txs);
      // Corrupt one write: after the first transaction, the executor's state gains 1 wei on a holder's balance
      // (as a buggy apply, a lost undo or a bad cache would). Everything else about the block stays valid.
      const executor = engine.executor;
      const victim = gen.holders[5].address;
      const runSerial = executor.runSerial.bind(executor);
      let corrupted = false;
      executor.runSerial = async (run, i) => {
        await runSerial(run, i);
        if (!corrupted) {
          corrupted = true;
          const acc = (await executor.state.getAccount(victim)) ?? new Account();
          acc.balance += 1n;
          await executor.state.putAccount(victim, acc);
        }
      };
      // With workers, the first transaction commits from a worker's run: corrupt on re-execution and serial paths
      // alike by also corrupting the apply of validated runs.
      const apply = executor.state.apply.bind(executor.state);
      executor.state.apply = async (access, coinbase: Address) => {
        await apply(access, coinbase);
        if (!corrupted) {
          corrupted = true;
          const acc = (await executor.state.getAccount(victim)) ?? new Account();
          acc.balance += 1n;
          await executor.state.putAccount(victim, acc);
        }
      };
      const headBefore = (await store.head())!.number;
      await assert.rejects(engine.execute(block), (e: unknown) => {
        assert.ok(isParallaxError(e, 'CONSERVATION_VIOLATED'), String(e));
        assert.match(e.message, new RegExp(`block ${block.header.number}\\b`));
        assert.match(e.message, new RegExp(hex(victim.bytes)));
        assert.match(e.message, /off by 1 wei/);
        return true;
      });
      assert.ok(corrupted);
      assert.equal((await store.head())!.number, headBefore, 'nothing committed');
      // Without the corruption the same block executes and conserves value.
      executor.runSerial = runSerial;
      executor.state.apply = apply;
      const ok = await engine.execute(block);
      assert.ok(ok.result.conservation?.ok);
    } finally {
      await engine.close();
    }
  }
});

test('dependencies: only writes that change a value count; fee credits, wipes and untouched balances as defined', async () => {
  const { DependencyTracker } = await import('../src/insight/graph.ts');
  const { accountToken, balanceToken } = await import('../src/state/overlay.ts');
  const { KECCAK256_NULL } = await import('@ethereumjs/util');
  const addr = (c: string) => c.repeat(40);
  const [x, y, z, cb] = [addr('1'), addr('2'), addr('3'), addr('c')];
  const slot = '0'.repeat(63) + '5';
  const acct = (nonce: bigint, balance: bigint, keepBalance?: boolean) => ({ nonce, balance, codeHash: KECCAK256_NULL, keepBalance });
  const access = (p: { reads?: [string, string][]; accounts?: [string, ReturnType<typeof acct> | null][]; slots?: [string, Uint8Array][]; cleared?: string[]; fee?: bigint }) => ({
    reads: new Map(p.reads ?? []),
    accounts: new Map(p.accounts ?? []),
    cleared: p.cleared ?? [],
    slots: new Map(p.slots ?? []),
    codes: new Map(),
    coinbaseDelta: p.fee ?? 0n,
    destroyed: 0n,
  });
  const t = new DependencyTracker();
  t.reset(cb);
  const steps: [ReturnType<typeof access>, number[]][] = [
    // 0: pays y (y's balance changes), and the coinbase its fee lazily.
    [access({ reads: [['b' + y, '5']], accounts: [[y, acct(0n, 6n)]], fee: 3n }), []],
    // 1: reads y's balance: depends on 0; reads the coinbase's balance: 0's fee credit.
    [access({ reads: [['b' + y, '6'], ['b' + cb, '3']] }), [0]],
    // 2: re-stores x unchanged (same nonce and code, balance never touched) and writes a slot of z unchanged.
    [access({ reads: [['a' + x, accountToken(acct(1n, 0n))], ['s' + z + slot, '07']], accounts: [[x, acct(1n, 9n, true)]], slots: [[z + slot, new Uint8Array([7])]] }), []],
    // 3: reads x, x's balance and the slot: nothing of it changed since the pre-state.
    [access({ reads: [['a' + x, accountToken(acct(1n, 0n))], ['b' + x, '9'], ['s' + z + slot, '07']] }), []],
    // 4: sets the coinbase's balance itself (explicitly, after 0's credit), then 5 reads it: depends on 4 only.
    [access({ reads: [['b' + cb, '3']], accounts: [[cb, acct(0n, 10n)]] }), [0]],
    [access({ reads: [['b' + cb, balanceToken(acct(0n, 10n))]] }), [4]],
    // 6: wipes z's storage; 7 reads a slot of z: depends on the wipe.
    [access({ cleared: [z] }), []],
    [access({ reads: [['s' + z + slot, '']] }), [6]],
    // 8: a fee credit after 4's write: a reader of the coinbase's balance depends on the credit, the later of the two.
    [access({ fee: 1n }), []],
    [access({ reads: [['b' + cb, '11'], ['b' + y, '6']] }), [0, 8]],
  ];
  for (const [i, [a, want]] of steps.entries()) {
    assert.deepEqual(t.depsOf(a.reads.keys()), want, `transaction ${i}`);
    t.noteWrites(i, a);
  }
  // Who changed a key by its own writes: the coinbase's balance was last set by 4 (8 only credited a fee); x's
  // account was never changed (2 re-stored it as it was).
  assert.equal(t.writerOf('b' + cb), 4);
  assert.equal(t.writerOf('a' + x), undefined);
  assert.equal(t.writerOf('b' + y), 0);
  t.reset(cb);
  assert.deepEqual(t.depsOf(['b' + y, 'b' + cb]), [], 'a new block starts with no writers');
});

test('dependencies of transactions run here: the local tracking gives the dependencies and writers a full access record gives', async () => {
  const { DependencyTracker } = await import('../src/insight/graph.ts');
  const { workloadBlocks } = await import('../src/bench/workloads.ts');
  // The same chain twice: one node tracks each transaction's full access record (what a worker sends), the other
  // only what the dependencies need (what the main thread keeps for a transaction it runs itself).
  const gen = generator({ seed: 11, holders: 30, payers: 80 });
  const setup = gen.setup(400);
  const full = await node(gen, setup, 1);
  const local = await node(gen, setup, 1);
  try {
    const [h, p] = [gen.holders, gen.payers];
    const [first] = workloadBlocks(gen, 'mix', 1, 90);
    // Transfers, ERC-20 transfers among a few holders and swaps over three pools: most of them depend on another.
    const r = gen.rng;
    const mixed = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        i % 3 === 0
          ? gen.ethTransfer(p[10 + r.int(50)])
          : i % 3 === 1
            ? gen.erc20Transfer(h[r.int(8)], r.int(2), h[r.int(8)], 1n + BigInt(r.int(1000)))
            : gen.swap(h[r.int(20)], r.int(3), r.next() < 0.5, 10n ** 15n * BigInt(1 + r.int(100))),
      );
    const before = mixed(45);
    // And the cases where a write changes nothing or wipes: an ERC-20 transfer of nothing and one to the sender
    // itself (both re-store balances unchanged), a contract created and self-destructed, a swap reverted by its
    // minimum, a token created, the coinbase (payer 0) sending, and a wrap.
    const extra = [
      gen.erc20Transfer(h[1], 0, h[2], 0n),
      gen.erc20Transfer(h[3], 0, h[3], 5n),
      gen.selfDestruct(p[70]),
      gen.swap(h[4], 0, true, 10n ** 15n, 2n ** 200n),
      gen.createToken(p[71]),
      gen.ethTransfer(p[0]),
      gen.wrap(p[72], 10n ** 15n),
      gen.erc20Transfer(h[1], 0, h[5], 3n),
    ];
    // In the middle of the second block (each sender's nonces in order), with mixed traffic after them.
    const all = [first, gen.block([...before, ...extra, ...mixed(45)])];
    const trackers = [new DependencyTracker(), new DependencyTracker()];
    let withDeps = 0;
    let unchangedWrites = 0;
    let wipes = 0;
    for (const [b, block] of all.entries()) {
      const cb = hex(block.header.coinbase.bytes);
      const runs = [await full.engine.executor.begin(block), await local.engine.executor.begin(block)];
      trackers.forEach((t) => t.reset(cb));
      const keys = new Set<string>();
      for (let i = 0; i < block.transactions.length; i++) {
        const sf = full.engine.executor.state;
        sf.beginTx(cb);
        await full.engine.executor.runSerial(runs[0], i);
        const access = sf.endTx();
        const want = trackers[0].depsOf(access.reads.keys());
        trackers[0].noteWrites(i, access);
        const sl = local.engine.executor.state;
        sl.beginTx(cb, true);
        await local.engine.executor.runSerial(runs[1], i);
        const mine = sl.endTxHere();
        const got = trackers[1].depsOfLocal(mine);
        trackers[1].noteChanged(i, mine);
        assert.deepEqual(got, want, `block ${b}, transaction ${i}: dependencies`);
        const wiped = [...access.cleared, ...[...access.accounts].filter(([, v]) => v === null).map(([a]) => a)];
        assert.deepEqual(new Set(mine.wiped), new Set(wiped), `block ${b}, transaction ${i}: wiped storages`);
        assert.equal(mine.coinbaseDelta, access.coinbaseDelta, `block ${b}, transaction ${i}: fee credit`);
        if (want.length > 0) withDeps++;
        for (const k of access.reads.keys()) keys.add(k);
        for (const a of access.accounts.keys()) keys.add('a' + a).add('b' + a);
        for (const k of access.slots.keys()) {
          keys.add('s' + k);
          if (access.reads.get('s' + k) === hex(access.slots.get(k)!)) unchangedWrites++;
        }
        wipes += wiped.length;
      }
      for (const k of keys) assert.equal(trackers[1].writerOf(k), trackers[0].writerOf(k), `block ${b}: writer of ${k}`);
      const results = [await full.engine.executor.finish(runs[0]), await local.engine.executor.finish(runs[1])];
      assert.equal(hex(results[1].stateRoot), hex(results[0].stateRoot));
      await full.engine.commit(results[0]);
      await local.engine.commit(results[1]);
    }
    // The blocks hold what the comparison is about.
    assert.ok(withDeps >= 20, `${withDeps} transactions with dependencies`);
    assert.ok(unchangedWrites >= 2, `${unchangedWrites} slots written unchanged`);
    assert.ok(wipes >= 1, `${wipes} wiped storages or deleted accounts`);
  } finally {
    await full.engine.close();
    await local.engine.close();
  }
});

test('conservation: balances that need a read (a promise) give the same report as balances known at once; a failed read fails the check', async () => {
  // 20 accounts: before 1,000,000 + 37k wei each, after shifted by a spread of positive and negative changes (some zero).
  const accounts = new Map<string, AccountDiff>();
  const before = new Map<string, bigint>();
  for (let k = 0; k < 20; k++) {
    const addr = (k + 1).toString(16).padStart(40, '0');
    const was = 1_000_000n + 37n * BigInt(k);
    const change = k % 5 === 0 ? 0n : BigInt(((k * 7919) % 23) - 11) * 10n ** BigInt(k % 4);
    before.set(addr, was);
    accounts.set(addr, { address: Uint8Array.from(Buffer.from(addr, 'hex')), account: new Account(1n, was + change), storageCleared: false, storage: new Map() });
  }
  const diff = { accounts, codes: new Map() };
  let sum = 0n;
  for (const [addr, d] of accounts) sum += d.account!.balance - before.get(addr)!;
  const terms = { minted: sum + 5n, baseFeeBurned: 5n, blobFeeBurned: 0n, destroyed: 0n };
  const atOnce = await checkConservation(diff, (a) => before.get(a)!, terms);
  assert.equal(atOnce.delta, sum);
  assert.equal(atOnce.ok, true);
  assert.equal(atOnce.accounts.length, 12, 'the twelve largest changes');
  // The first account, one in the middle and the last one need a read.
  const addrs = [...accounts.keys()];
  const slow = new Set([addrs[0], addrs[9], addrs[19]]);
  let reads = 0;
  const later = await checkConservation(diff, (a) => (slow.has(a) ? (reads++, Promise.resolve(before.get(a)!)) : before.get(a)!), terms);
  assert.deepEqual(later, atOnce);
  assert.equal(reads, slow.size, 'each balance read once');
  // Only the middle one: the accounts before it were summed once already, and must not count twice.
  const middle = addrs[9];
  assert.deepEqual(await checkConservation(diff, (a) => (a === middle ? Promise.resolve(before.get(a)!) : before.get(a)!), terms), atOnce);
  // A read that fails fails the check with its own error (and leaves no rejection unhandled).
  const failed = new Error('LevelDB read failed');
  await assert.rejects(checkConservation(diff, (a) => (a === middle ? Promise.reject(failed) : before.get(a)!), terms), (e) => e === failed);
});
