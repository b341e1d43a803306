/**
 * The packed form in which a committed block's changes reach the workers' caches (one shared buffer for all workers):
 * what goes in comes out, in order, deleted accounts and zero slots included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { recoverJob, recoveredByWorker } from '../src/exec/protocol.ts';
import { CommitPacker, unpackCommit, type CommitPack } from '../src/state/commit-pack.ts';
import { hex } from '../src/util/bytes.ts';

/** Accounts, then slots, packed as the store packs a block's records. */
function pack(accounts: ReadonlyMap<string, Uint8Array | null>, slots: [string, ReadonlyMap<string, Uint8Array>][]): CommitPack {
  const p = new CommitPacker();
  for (const [addr, rlp] of accounts) p.account(addr, rlp);
  for (const [addr, m] of slots) for (const [slot, v] of m) p.slot(addr, slot, v);
  return p.finish();
}

test('commit pack: account records (deleted ones too) and slot values (zero to 32 bytes) come out as they went in', () => {
  const accounts = new Map<string, Uint8Array | null>();
  for (let i = 0; i < 50; i++) accounts.set(hex(randomBytes(20)), i % 7 === 3 ? null : new Uint8Array(randomBytes(70 + (i % 41))));
  const slots: [string, Map<string, Uint8Array>][] = [];
  for (let a = 0; a < 6; a++) {
    const m = new Map<string, Uint8Array>();
    for (let s = 0; s <= 33; s++) m.set(hex(randomBytes(32)), s === 33 ? new Uint8Array(0) : new Uint8Array(randomBytes(s === 0 ? 1 : s > 32 ? 32 : s)));
    slots.push([hex(randomBytes(20)), m]);
  }
  const packed = pack(accounts, slots);
  assert.ok(packed.accounts.buffer instanceof SharedArrayBuffer && packed.slots.buffer instanceof SharedArrayBuffer);
  const gotAccounts: [string, string | null][] = [];
  const gotSlots: [string, string, string][] = [];
  unpackCommit(
    packed,
    (a, rlp) => gotAccounts.push([a, rlp === null ? null : hex(rlp)]),
    (a, s, v) => gotSlots.push([a, s, hex(v)]),
  );
  assert.deepEqual(gotAccounts, [...accounts].map(([a, r]) => [a, r === null ? null : hex(r)]));
  assert.deepEqual(gotSlots, slots.flatMap(([a, m]) => [...m].map(([s, v]) => [a, s, hex(v)])));
  assert.equal(gotAccounts.filter(([, r]) => r === null).length, 7);
  assert.ok(gotSlots.some(([, , v]) => v === '') && gotSlots.some(([, , v]) => v.length === 64));
});

test('commit pack: nothing in, nothing out; an oversized slot value is refused', () => {
  const empty = pack(new Map(), []);
  let calls = 0;
  unpackCommit(empty, () => calls++, () => calls++);
  assert.equal(calls, 0);
  assert.equal(empty.accounts.length + empty.slots.length, 0);
  const a = hex(randomBytes(20));
  assert.throws(() => pack(new Map(), [[a, new Map([[hex(randomBytes(32)), new Uint8Array(33)]])]]), (e: Error) => e instanceof RangeError && e.message.includes(a));
});

test('worker results: runs packed for the wire come back after a structured clone as they went in', async () => {
  const { packRuns, unpackRuns } = await import('../src/exec/protocol.ts');
  const { serialize, deserialize } = await import('node:v8');
  type Run = Parameters<typeof packRuns>[0][number];
  const bytes = (n: number) => new Uint8Array(randomBytes(n));
  const key = () => hex(bytes(20));
  let seed = 1;
  const pick = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
  const run = (index: number): Run => {
    const failed = pick(5) === 0;
    const reads = new Map<string, string>();
    for (let i = pick(6); i > 0; i--) reads.set('a' + key(), String(pick(1000)));
    const accounts = new Map<string, { nonce: bigint; balance: bigint; codeHash: Uint8Array; keepBalance?: boolean } | null>();
    for (let i = pick(4); i > 0; i--) {
      const kind = pick(3);
      accounts.set(key(), kind === 0 ? null : kind === 1 ? { nonce: BigInt(pick(9)), balance: 10n ** 30n + BigInt(pick(99)), codeHash: bytes(32) } : { nonce: 1n, balance: 0n, codeHash: bytes(32), keepBalance: true });
    }
    const slots = new Map<string, Uint8Array>();
    for (let i = pick(4); i > 0; i--) slots.set(key() + hex(bytes(32)), bytes(pick(33)));
    const codes = new Map<string, Uint8Array>();
    if (pick(4) === 0) codes.set(hex(bytes(32)), bytes(100));
    const logs = pick(2) === 0 ? [] : [[bytes(20), [bytes(32), bytes(32)], bytes(pick(70))]];
    return {
      index,
      error: failed ? `transaction ${index} failed` : null,
      start: 1e12 + index * 0.25,
      ms: pick(100) / 7,
      outcome: failed ? null : { type: pick(3), status: pick(2) as 0 | 1, stateRoot: pick(9) === 0 ? bytes(32) : undefined, gasUsed: BigInt(21000 + pick(99999)), blockGasSpent: BigInt(21000 + pick(99999)), logs: logs as never, bloom: bytes(256), createdAddress: pick(7) === 0 ? bytes(20) : undefined },
      access: { reads, accounts, cleared: pick(5) === 0 ? [key()] : [], slots, codes, coinbaseDelta: BigInt(pick(10 ** 6)) * 10n ** 9n, destroyed: pick(9) === 0 ? 5n : 0n },
    };
  };
  for (const n of [0, 1, 8, 33]) {
    const runs = Array.from({ length: n }, (_, i) => run(i * 3));
    const back = unpackRuns(deserialize(serialize(packRuns(runs))) as unknown[]);
    assert.deepStrictEqual(back, runs, `a batch of ${n}`);
  }
  // A packing that lost a value is caught, not read out of step.
  const wire = packRuns([run(1), run(2)]);
  assert.throws(() => unpackRuns([...wire, 0]), /values left after 2 runs/);
});

test('recovery jobs: who recovered how many is read from the jobs, a transaction no worker has taken counting for none', () => {
  const raws = Array.from({ length: 5 }, (_, i) => Uint8Array.of(0xc0 + i));
  const a = recoverJob([0, 1, 2, 3, 4], raws);
  const b = recoverJob([1, 3], raws);
  // Worker 2 took three of a's, worker 0 one; a's last is not taken yet. Worker 1 took both of b's.
  a.by.set([3, 3, 1, 3, 0]);
  b.by.set([2, 2]);
  assert.deepEqual(recoveredByWorker([a, b], 3), [1, 2, 3]);
  assert.deepEqual(recoveredByWorker([a], 3), [1, 0, 3]);
  assert.deepEqual(recoveredByWorker([], 2), [0, 0]);
  // The memory is shared: what one thread writes, whoever holds the job reads.
  assert.ok(a.by.buffer instanceof SharedArrayBuffer);
});
