/**
 * The conflict detector's hint book: what a conflict teaches about later transactions. A conflicting storage slot
 * that is a Solidity mapping entry of the sender or of a calldata word becomes a pattern, predicting the same
 * function's slot for every later caller; any other key is remembered literally under the function and the
 * addresses its calldata names, counted, and the least-seen dropped beyond the per-signature limit. Slots are
 * computed here from their definition (keccak256 of the 32-byte key and the mapping's base slot), not by the book.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { HintBook } from '../src/conflict/index.ts';
import { hex } from '../src/util/bytes.ts';
import { generator } from './helpers/traffic.ts';

/** The storage slot of `mapping(address => ...)` entry `addr` declared at slot `base`. */
function mappingEntry(addr: Uint8Array, base: number): string {
  const b = new Uint8Array(64);
  b.set(addr, 12);
  b[63] = base;
  return hex(keccak256(b));
}

const gen = generator({ seed: 21 });
const [h0, h1, h2, h3] = gen.holders;
const token = hex(gen.tokens[0].bytes);
const pair = (i: number) => hex(gen.pools[i].pair.bytes);
const reserves = '0'.repeat(63) + '8';

test('hints: a mapping entry of the sender or a calldata address becomes a pattern for every later caller', () => {
  const book = new HintBook();
  const first = gen.erc20Transfer(h0, 0, h1, 5n);
  book.learnConflict(first, hex(h0.address.bytes), 's' + token + mappingEntry(h1.address.bytes, 0));
  book.learnConflict(first, hex(h0.address.bytes), 's' + token + mappingEntry(h0.address.bytes, 0));
  const later = gen.erc20Transfer(h2, 0, h3, 7n);
  const keys = book.predictKeys(later, hex(h2.address.bytes));
  assert.deepEqual(new Set(keys), new Set(['s' + token + mappingEntry(h3.address.bytes, 0), 's' + token + mappingEntry(h2.address.bytes, 0)]));
  // Another token's transfers are another call: nothing predicted.
  assert.deepEqual(book.predictKeys(gen.erc20Transfer(h2, 1, h3, 7n), hex(h2.address.bytes)), []);
  // A later conflict on a key a learned pattern names teaches nothing new; one on another mapping of the same
  // contract (base 3, by the recipient) is a new pattern.
  const v = book.version;
  book.learnConflict(later, hex(h2.address.bytes), 's' + token + mappingEntry(h3.address.bytes, 0));
  assert.equal(book.version, v);
  book.learnConflict(later, hex(h2.address.bytes), 's' + token + mappingEntry(h3.address.bytes, 3));
  assert.equal(book.version, v + 1);
  const again = gen.erc20Transfer(h1, 0, h0, 9n);
  assert.ok(book.predictKeys(again, hex(h1.address.bytes)).includes('s' + token + mappingEntry(h0.address.bytes, 3)));
});

test('hints: other keys are literal, filed under the function and the addresses in its calldata, counted and capped', () => {
  const book = new HintBook(2);
  const swap = (from: typeof h0, pool: number) => gen.swap(from, pool, true, 10n ** 15n);
  const v0 = book.version;
  book.learnConflict(swap(h0, 0), hex(h0.address.bytes), 's' + pair(0) + reserves);
  assert.equal(book.version, v0 + 1, 'a new key changes what is predicted');
  // Learned again, from other senders: counted, nothing new to predict.
  book.learnConflict(swap(h1, 0), hex(h1.address.bytes), 's' + pair(0) + reserves);
  book.learnConflict(swap(h2, 0), hex(h2.address.bytes), 's' + pair(0) + reserves);
  assert.equal(book.version, v0 + 1, 'a key learned again changes nothing predicted');
  // A swap on the same pool by someone else is predicted to touch the reserves; one on another pool is not.
  assert.deepEqual(book.predictKeys(swap(h3, 0), hex(h3.address.bytes)), ['s' + pair(0) + reserves]);
  assert.deepEqual(book.predictKeys(swap(h3, 1), hex(h3.address.bytes)), []);
  // Beyond two keys per signature the least seen goes: the reserves (seen three times) stay, the older of two keys
  // seen once is dropped.
  const other = (k: number) => 's' + pair(0) + k.toString(16).padStart(64, '0');
  book.learnConflict(swap(h0, 0), hex(h0.address.bytes), other(9));
  book.learnConflict(swap(h0, 0), hex(h0.address.bytes), other(10));
  assert.deepEqual(book.predictKeys(swap(h3, 0), hex(h3.address.bytes)), ['s' + pair(0) + reserves, other(10)]);
});

test('hints: gas is learned per call where the default does not predict it, in a bounded book', () => {
  const book = new HintBook(32, 4);
  const callKey = HintBook.callKey;
  // A plain transfer using the 21,000 a call without data is assumed to use: nothing filed for its recipient.
  const plain = gen.ethTransfer(h0);
  book.learnGas(callKey(plain), 21_000n);
  assert.equal(book.expectedGas(plain, callKey(plain)), 21_000n);
  // A recipient whose code used more (a contract's receive function) is remembered, and later averaged.
  book.learnGas(callKey(plain), 45_000n);
  assert.equal(book.expectedGas(plain, callKey(plain)), 45_000n);
  book.learnGas(callKey(plain), 21_000n);
  assert.equal(book.expectedGas(plain, callKey(plain)), (45_000n * 3n + 21_000n) / 4n);
  // A call with data is assumed to use its gas limit until its use is learned.
  const call = gen.erc20Transfer(h1, 0, h2, 5n);
  assert.equal(book.expectedGas(call, callKey(call)), call.gasLimit);
  book.learnGas(callKey(call), 51_234n);
  assert.equal(book.expectedGas(call, callKey(call)), 51_234n);
  // Full (4 entries): the oldest half goes when a new call arrives; the newest stay.
  const calls = [gen.erc20Transfer(h1, 1, h2, 5n), gen.swap(h0, 0, true, 10n ** 15n), gen.wrap(h0, 10n ** 15n)];
  for (const [i, t] of calls.entries()) book.learnGas(callKey(t), 60_000n + BigInt(i));
  assert.equal(book.expectedGas(plain, callKey(plain)), 21_000n, 'the oldest entry is still there');
  assert.equal(book.expectedGas(call, callKey(call)), call.gasLimit, 'the second oldest entry is still there');
  assert.equal(book.expectedGas(calls[2], callKey(calls[2])), 60_002n);
  // The call key is the recipient and selector, the same for the same transaction asked twice.
  assert.equal(callKey(call), hex(call.to!.bytes) + hex(call.data.subarray(0, 4)));
  assert.equal(callKey(plain), hex(plain.to!.bytes));
});
