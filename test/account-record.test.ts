/**
 * The hot-path account decoder against @ethereumjs/util's: the same account for every well-formed record (nonces and
 * balances of every width up to 256 bits), and the same verdict on malformed ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Account, bytesToBigInt, createAccountFromRLP } from '@ethereumjs/util';
import { decodeAccountRecord } from '../src/state/account-record.ts';
import { hex } from '../src/util/bytes.ts';

type Outcome = { ok: true; fields: string[] } | { ok: false };

function outcome(decode: (b: Uint8Array) => Account, b: Uint8Array): Outcome {
  try {
    const a = decode(b);
    return { ok: true, fields: [a.nonce.toString(), a.balance.toString(), hex(a.storageRoot), hex(a.codeHash)] };
  } catch {
    return { ok: false };
  }
}

const WIDTHS = [0, 1, 2, 5, 6, 7, 8, 12, 20, 31, 32];
const valueOf = (bytes: number) => (bytes === 0 ? 0n : bytesToBigInt(new Uint8Array(randomBytes(bytes))));

test('account records: every nonce and balance width decodes as the library decodes it', () => {
  let n = 0;
  for (const nw of WIDTHS) {
    for (const bw of WIDTHS) {
      for (const special of [undefined, 0n, 127n, 128n, 255n, 256n, 2n ** 48n - 1n, 2n ** 48n]) {
        const a = new Account(special ?? valueOf(nw), valueOf(bw), new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32)));
        const rlp = a.serialize();
        const mine = outcome(decodeAccountRecord, rlp);
        assert.ok(mine.ok, `nonce ${a.nonce} balance ${a.balance}`);
        assert.deepEqual(mine, outcome(createAccountFromRLP, rlp));
        assert.deepEqual(mine.fields.slice(0, 2), [a.nonce.toString(), a.balance.toString()]);
        n++;
      }
    }
  }
  assert.equal(n, WIDTHS.length * WIDTHS.length * 8);
});

test('account records: malformed ones get the verdict the library gives', () => {
  const good = new Account(5n, 10n ** 18n, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)).serialize();
  const cases: [string, Uint8Array][] = [];
  const edit = (name: string, f: (b: number[]) => number[]) => cases.push([name, new Uint8Array(f([...good]))]);
  // Header 0xf8 <len>, nonce 0x05 at [2], balance 0x88 + 8 bytes at [3..11], roots from [12].
  edit('single byte prefixed (not canonical)', (b) => [0xf8, b[1] + 1, 0x81, 0x05, ...b.slice(3)]);
  edit('nonce with a leading zero byte', (b) => [0xf8, b[1] + 2, 0x82, 0x00, 0x05, ...b.slice(3)]);
  edit('truncated', (b) => b.slice(0, b.length - 1));
  edit('list longer than the record', (b) => [0xf8, b[1] + 1, ...b.slice(2)]);
  edit('list shorter than the record', (b) => [0xf8, b[1] - 1, ...b.slice(2)]);
  edit('a fifth item', (b) => [0xf8, b[1] + 1, ...b.slice(2), 0x80]);
  edit('three items', (b) => [0xf8, b[1] - 33, ...b.slice(2, b.length - 33)]);
  edit('code hash 31 bytes', (b) => [0xf8, b[1] - 1, ...b.slice(2, b.length - 33), 0x9f, ...b.slice(b.length - 31)]);
  edit('long-form header for a short payload', (b) => [0xf8, 0x03, 0x05, 0x06, 0x07]);
  edit('nonce as a list', (b) => [0xf8, b[1] + 1, 0xc1, 0x05, ...b.slice(3)]);
  edit('empty', () => []);
  let rejected = 0;
  for (const [name, b] of cases) {
    const theirs = outcome(createAccountFromRLP, b);
    assert.deepEqual(outcome(decodeAccountRecord, b), theirs, name);
    if (!theirs.ok) rejected++;
  }
  assert.ok(rejected >= 6, `only ${rejected} of ${cases.length} malformed records rejected by the library`);
});

test('validation tokens: absent, empty accounts, other nonces and other code all compare different; balances apart', async () => {
  const { accountToken, balanceToken } = await import('../src/state/overlay.ts');
  const { KECCAK256_NULL } = await import('@ethereumjs/util');
  const code = new Uint8Array(randomBytes(32));
  const emptyCopy = new Uint8Array(KECCAK256_NULL); // equal bytes, another array
  const tokens = [
    accountToken(undefined),
    accountToken({ nonce: 0n, codeHash: KECCAK256_NULL }),
    accountToken({ nonce: 1n, codeHash: KECCAK256_NULL }),
    accountToken({ nonce: 0n, codeHash: code }),
    accountToken({ nonce: 1n, codeHash: code }),
    accountToken({ nonce: 10n, codeHash: KECCAK256_NULL }),
  ];
  assert.equal(new Set(tokens).size, tokens.length, tokens.join(' | '));
  assert.equal(accountToken({ nonce: 7n, codeHash: emptyCopy }), accountToken({ nonce: 7n, codeHash: KECCAK256_NULL }));
  assert.equal(accountToken({ nonce: 7n, codeHash: new Uint8Array(code) }), accountToken({ nonce: 7n, codeHash: code }));
  // The balance is not part of the account's token: it is compared on its own.
  assert.equal(accountToken(new Account(3n, 5n)), accountToken(new Account(3n, 6n)));
  assert.notEqual(balanceToken(new Account(3n, 5n)), balanceToken(new Account(3n, 6n)));
  assert.equal(balanceToken(undefined), '');
});
