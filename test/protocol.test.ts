/**
 * The packed form in which a committed block's changes reach the workers' caches (one shared buffer for all workers):
 * what goes in comes out, in order, deleted accounts and zero slots included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { packCommit, unpackCommit } from '../src/exec/protocol.ts';
import { hex } from '../src/util/bytes.ts';

test('commit pack: account records (deleted ones too) and slot values (zero to 32 bytes) come out as they went in', () => {
  const accounts = new Map<string, Uint8Array | null>();
  for (let i = 0; i < 50; i++) accounts.set(hex(randomBytes(20)), i % 7 === 3 ? null : new Uint8Array(randomBytes(70 + (i % 41))));
  const slots: [string, Map<string, Uint8Array>][] = [];
  for (let a = 0; a < 6; a++) {
    const m = new Map<string, Uint8Array>();
    for (let s = 0; s <= 33; s++) m.set(hex(randomBytes(32)), s === 33 ? new Uint8Array(0) : new Uint8Array(randomBytes(s === 0 ? 1 : s > 32 ? 32 : s)));
    slots.push([hex(randomBytes(20)), m]);
  }
  const pack = packCommit(accounts, slots);
  assert.ok(pack.accounts.buffer instanceof SharedArrayBuffer && pack.slots.buffer instanceof SharedArrayBuffer);
  const gotAccounts: [string, string | null][] = [];
  const gotSlots: [string, string, string][] = [];
  unpackCommit(
    pack,
    (a, rlp) => gotAccounts.push([a, rlp === null ? null : hex(rlp)]),
    (a, s, v) => gotSlots.push([a, s, hex(v)]),
  );
  assert.deepEqual(gotAccounts, [...accounts].map(([a, r]) => [a, r === null ? null : hex(r)]));
  assert.deepEqual(gotSlots, slots.flatMap(([a, m]) => [...m].map(([s, v]) => [a, s, hex(v)])));
  assert.equal(gotAccounts.filter(([, r]) => r === null).length, 7);
  assert.ok(gotSlots.some(([, , v]) => v === '') && gotSlots.some(([, , v]) => v.length === 64));
});

test('commit pack: nothing in, nothing out; an oversized slot value is refused', () => {
  const empty = packCommit(new Map(), []);
  let calls = 0;
  unpackCommit(empty, () => calls++, () => calls++);
  assert.equal(calls, 0);
  assert.equal(empty.accounts.length + empty.slots.length, 0);
  const a = hex(randomBytes(20));
  assert.throws(() => packCommit(new Map(), [[a, new Map([[hex(randomBytes(32)), new Uint8Array(33)]])]]), (e: Error) => e instanceof RangeError && e.message.includes(a));
});
