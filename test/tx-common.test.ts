import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Common } from '@ethereumjs/common';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RLP } from '@ethereumjs/rlp';
import { createBlockFromRPC } from '@ethereumjs/block';
import { Capability, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP } from '@ethereumjs/tx';
import { Address, SECP256K1_ORDER, bigIntToUnpaddedBytes, concatBytes, createAddressFromString } from '@ethereumjs/util';
import { workloadBlocks } from '../src/bench/workloads.ts';
import type { TypedTransaction } from '@ethereumjs/tx';
import { generator } from './helpers/traffic.ts';
import { chainConfig, createCommon, MAINNET } from '../src/chain/profile.ts';
import { keccak256, loadKzg, nativeCrypto } from '../src/crypto/index.ts';
import { decodeTx, decodeTxFast, recoverSenderKey, sharedTxCommon } from '../src/exec/tx-common.ts';
import { decodeFixture, readFixture } from '../src/replay/fixture.ts';
import { hex } from '../src/util/bytes.ts';
import { fixturesDir } from '../src/util/paths.ts';
import { serializeTx, signingPayload } from '../src/util/rlp.ts';
import { CANCUN_DEV, devCommon, keys } from './helpers/chain.ts';

test("frozen transactions: a Parallax Common computes the sender's address once; a library-default Common keeps the library method", () => {
  const [k] = keys(1);
  const to = createAddressFromString('0x00000000000000000000000000000000000000aa');
  const plain = new Common({ chain: chainConfig(CANCUN_DEV), hardfork: 'cancun' });
  for (const [name, common, once] of [['Parallax Common', devCommon(), true], ['library-default Common', plain, false]] as const) {
    const signed = [
      createLegacyTx({ nonce: 0n, to, value: 1n, gasLimit: 21_000n, gasPrice: 10n ** 9n }, { common }).sign(k.priv),
      createFeeMarket1559Tx({ nonce: 1n, to, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: common.chainId() }, { common }).sign(k.priv),
    ];
    for (const t of signed) {
      assert.ok(Object.isFrozen(t), `${name}: type ${t.type} is frozen`);
      const first = t.getSenderAddress();
      assert.ok(first.equals(k.address), `${name}: type ${t.type} sender`);
      // Computed once and kept (same object), or recomputed by the library on every call (a new object).
      assert.equal(t.getSenderAddress() === first, once, `${name}: type ${t.type} address computed ${once ? 'once' : 'per call'}`);
    }
  }
});

test('signing payloads cut from the encoding equal the library encoding, and senders recover to the fixtures\' "from", on all 30 mainnet blocks', async () => {
  const dir = join(fixturesDir(), 'mainnet-blocks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz'));
  assert.equal(files.length, 30);
  const common = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  const seen = new Map<string, number>();
  for (const f of files) {
    const raw = await readFixture(join(dir, f));
    const { block } = decodeFixture(raw, common);
    const rpcTxs = raw.block.transactions as { from: string }[];
    block.transactions.forEach((tx, i) => {
      const bytes = serializeTx(tx);
      assert.deepEqual(bytes, tx.serialize(), `${f} tx ${i}: serializeTx`);
      const eip155 = tx.type === 0 && tx.supports(Capability.EIP155ReplayProtection);
      const library = tx.type === 0 ? RLP.encode(tx.getMessageToSign() as Uint8Array[]) : (tx.getMessageToSign() as Uint8Array);
      assert.deepEqual(signingPayload(bytes, eip155 ? tx.common.chainId() : undefined), library, `${f} tx ${i}: signing payload`);
      // A fresh decode: nothing recovered or cached yet.
      const fresh = createTxFromRLP(bytes, { common: tx.common });
      const key = recoverSenderKey(fresh, bytes);
      assert.equal('0x' + hex(keccak256(key).subarray(12)), rpcTxs[i].from.toLowerCase(), `${f} tx ${i}: sender`);
      const kind = `type ${tx.type}${tx.type === 0 ? (eip155 ? ' EIP-155' : ' pre-EIP-155') : ''}`;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    });
  }
  for (const kind of ['type 0 EIP-155', 'type 0 pre-EIP-155', 'type 1', 'type 2', 'type 3']) assert.ok((seen.get(kind) ?? 0) > 0, `fixtures cover ${kind}`);
});

test("blocks decoded on a shared Common of their own (the daemon's sources) equal the library's decode on all 30 mainnet blocks; blocks never share one", async () => {
  const dir = join(fixturesDir(), 'mainnet-blocks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz')).sort((a, b) => parseInt(a) - parseInt(b));
  const common = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  const blocks: { file: string; shared: Common; block: ReturnType<typeof createBlockFromRPC>; library: string }[] = [];
  for (const f of files) {
    const raw = await readFixture(join(dir, f));
    const library = createBlockFromRPC(raw.block, [], { common, setHardfork: true });
    const shared = sharedTxCommon(common);
    const block = createBlockFromRPC(raw.block, [], { common: shared, setHardfork: true });
    assert.equal(block.common, shared, `${f}: the header is on the block's shared Common`);
    assert.equal(hex(block.hash()), hex(library.hash()), `${f}: block hash`);
    assert.equal(block.transactions.length, library.transactions.length, `${f}: transactions`);
    block.transactions.forEach((tx, i) => {
      assert.equal(tx.common, shared, `${f} tx ${i}: on the block's shared Common`);
      assert.equal(hex(tx.hash()), hex(library.transactions[i].hash()), `${f} tx ${i}: hash`);
      assert.ok(tx.getSenderAddress().equals(library.transactions[i].getSenderAddress()), `${f} tx ${i}: sender`);
    });
    blocks.push({ file: f, shared, block, library: hex(library.hash()) });
  }
  // The fixtures span forks (London to Cancun): had two blocks one Common, the later fork would be the earlier
  // header's, and its hash would change (a header reads its Common's fork when hashed).
  assert.ok(new Set(blocks.map((b) => b.shared.hardfork())).size >= 2, 'the fixtures span at least two forks');
  assert.equal(new Set(blocks.map((b) => b.shared)).size, blocks.length, 'one Common per block');
  // Re-encoded now (the hash is cached; the encoding is not), each header still hashes to the chain's hash.
  for (const { file, block, library } of blocks) assert.equal(hex(keccak256(block.header.serialize())), library, `${file}: header encoding after the later decodes`);
});

test('recoverSenderKey: a signature that recovers no key fails as the library fails; bytes that are no transaction list are a RangeError', () => {
  const [k] = keys(1);
  const common = devCommon();
  const to = createAddressFromString('0x00000000000000000000000000000000000000aa');
  const tx = createFeeMarket1559Tx({ nonce: 3n, to, value: 5n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: common.chainId() }, { common }).sign(k.priv);
  const good = serializeTx(tx);
  assert.ok(new Address(keccak256(recoverSenderKey(createTxFromRLP(good, { common }), good)).subarray(12)).equals(k.address));
  const legacy = createLegacyTx({ nonce: 0n, to, gasLimit: 21_000n, gasPrice: 10n ** 9n }, { common }).sign(k.priv);
  // r = 0 recovers no point: the library's own error, through the cut signing hash.
  const noKey = createLegacyTx({ ...legacy.toJSON(), r: 0n }, { common });
  assert.throws(() => noKey.getSenderPublicKey(), /Invalid Signature/);
  assert.throws(() => recoverSenderKey(noKey), /Invalid Signature/);
  for (const bad of [good.subarray(0, good.length - 1), Uint8Array.of(...good, 0), Uint8Array.of(2, 0x80), Uint8Array.of(0xc1, 0x80)]) {
    assert.throws(() => signingPayload(bad), RangeError);
  }
});

/** Everything of a decoded transaction that execution can see, as comparable strings (the Common by identity). */
function txView(tx: TypedTransaction, common: Common): string[] {
  const own = tx as unknown as Record<string, unknown>;
  const field = (v: unknown): string =>
    v instanceof Uint8Array ? 'bytes ' + hex(v) : typeof v === 'bigint' ? 'n ' + v : v instanceof Address ? 'address ' + v.toString() : v === common ? 'the Common' : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? hex(x) : x));
  return [
    'keys ' + Object.keys(tx).join(','),
    'prototype ' + Object.getPrototypeOf(tx).constructor.name,
    'frozen ' + Object.isFrozen(tx),
    ...Object.keys(tx)
      .filter((k) => k !== 'cache' && k !== 'txOptions')
      .map((k) => `${k} ${field(own[k])}`),
    'hash ' + hex(tx.hash()),
    'encoding ' + hex(tx.serialize()),
    'sender ' + tx.getSenderAddress().toString(),
    'upfront ' + tx.getUpfrontCost(7n),
    'intrinsic ' + tx.getIntrinsicGas(),
    'json ' + field(tx.toJSON()),
  ];
}

test("recoverSenderKey: an EIP-1559 sender recovered from the signature's bytes in its encoding equals the library's pure-JS recovery, r and s shorter than 32 bytes included; a signature that recovers no key fails with the library's error", () => {
  const [k] = keys(1);
  const common = devCommon();
  const plain = new Common({ chain: chainConfig(CANCUN_DEV), hardfork: 'cancun' });
  const to = createAddressFromString('0x00000000000000000000000000000000000000aa');
  const fields = (nonce: bigint) => ({ nonce, to, value: 5n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: common.chainId() });
  // One signature in 256 has an r (or an s) with a leading zero byte, which the encoding drops. Eight of each: an r or
  // s padded wrongly is a point off the curve half the time (the recovery then fails and the library's path answers,
  // correctly), so eight make a wrong padding unseen once in 256 runs.
  const short = { r: 0, s: 0, full: 0 };
  for (let nonce = 0n; nonce < 12_000n && (short.r < 8 || short.s < 8); nonce++) {
    const signed = createFeeMarket1559Tx(fields(nonce), { common }).sign(k.priv);
    const rShort = bigIntToUnpaddedBytes(signed.r!).length < 32;
    const sShort = bigIntToUnpaddedBytes(signed.s!).length < 32;
    if (!rShort && !sShort && short.full >= 20) continue;
    if (rShort) short.r++;
    if (sShort) short.s++;
    if (!rShort && !sShort) short.full++;
    const raw = serializeTx(signed);
    const key = recoverSenderKey(createTxFromRLP(raw, { common }), raw);
    const library = createTxFromRLP(raw, { common: plain }).getSenderPublicKey();
    assert.equal(hex(key), hex(library), `nonce ${nonce}: key (r ${rShort ? 'short' : '32 bytes'}, s ${sShort ? 'short' : '32 bytes'})`);
  }
  assert.ok(short.r >= 8 && short.s >= 8, `signatures with a short r (${short.r}) and a short s (${short.s}) were found`);
  const signed = createFeeMarket1559Tx(fields(1n), { common }).sign(k.priv);
  // Kept on the transaction as the library keeps it: only when it is frozen.
  const raw1 = serializeTx(signed);
  for (const freeze of [true, false]) {
    const tx = createTxFromRLP(raw1, { common, freeze });
    recoverSenderKey(tx, raw1);
    assert.equal(tx.cache.senderPubKey !== undefined, freeze, `cached on a ${freeze ? 'frozen' : 'mutable'} transaction`);
  }
  // r = 0 and r = the curve order (past the range libsecp256k1 parses) recover nothing: the library's error, on the
  // transaction decoded here and on one decoded by the library itself.
  for (const r of [0n, SECP256K1_ORDER]) {
    const bad = createFeeMarket1559Tx({ ...fields(1n), v: signed.v, r, s: signed.s }, { common });
    const raw = serializeTx(bad);
    let expected = '';
    assert.throws(() => createTxFromRLP(raw, { common: plain }).getSenderPublicKey(), (e: Error) => ((expected = e.message), /Invalid Signature/.test(e.message)));
    for (const tx of [createTxFromRLP(raw, { common }), decodeTx(raw, common)]) {
      assert.throws(() => recoverSenderKey(tx, raw), (e: Error) => e.message === expected, `r = ${r}`);
    }
  }
});

test('decodeTx: EIP-1559 transactions decoded without the library constructor equal its decode (mainnet fixtures and every generated workload); the rest goes to the library', async () => {
  const dir = join(fixturesDir(), 'mainnet-blocks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz'));
  const mainnet = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  const batches: { name: string; common: Common; raws: Uint8Array[] }[] = [];
  for (const f of files) {
    const { block } = decodeFixture(await readFixture(join(dir, f)), mainnet);
    const common = sharedTxCommon(block.common);
    batches.push({ name: f, common, raws: block.transactions.map((t) => serializeTx(t)) });
  }
  const gen = generator({ seed: 11, holders: 300, swappers: 60, payers: 200 });
  gen.setup(200);
  for (const name of ['transfers', 'erc20', 'uniswap'] as const) {
    const common = sharedTxCommon(gen.common);
    batches.push({ name, common, raws: workloadBlocks(gen, name, 1, 150)[0].transactions.map((t) => serializeTx(t)) });
  }
  let fast = 0;
  let library = 0;
  for (const { name, common, raws } of batches) {
    raws.forEach((raw, i) => {
      const ours = decodeTx(raw, common);
      const theirs = createTxFromRLP(raw, { common });
      const taken = decodeTxFast(raw, common) !== undefined;
      if (taken) fast++;
      else library++;
      assert.deepEqual(txView(ours, common), txView(theirs, common), `${name} tx ${i} (type ${theirs.type}, ${taken ? 'fast path' : 'library'})`);
      assert.equal(recoverSenderKey(decodeTx(raw, common), raw).length, 64, `${name} tx ${i}: sender recovers`);
      // Taken exactly for signed EIP-1559 calls and transfers without an access list (the first on a Common primes it).
      const expected = theirs.type === 2 && theirs.to !== undefined && (theirs as { accessList: unknown[] }).accessList.length === 0;
      if (i > 0) assert.equal(taken, expected, `${name} tx ${i}: fast path ${taken}, expected ${expected}`);
    });
  }
  assert.ok(fast >= 2000, `fast path taken ${fast} times`);
  assert.ok(library >= 1000, `library decodes ${library}`);
});

test('decodeTx: what the library rejects is rejected with its error; unusual but valid encodings decode as the library decodes them', () => {
  const [k] = keys(1);
  const common = sharedTxCommon(devCommon());
  const to = createAddressFromString('0x00000000000000000000000000000000000000aa');
  const signed = createFeeMarket1559Tx({ nonce: 3n, to, value: 5n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 7n, chainId: common.chainId() }, { common }).sign(k.priv);
  const good = serializeTx(signed);
  assert.ok(decodeTxFast(good, common) === undefined, 'not taken before the library has decoded on this Common');
  decodeTx(good, common);
  assert.ok(decodeTxFast(good, common) !== undefined, 'taken once primed');
  // Fields as RLP items, each given encoded (so that non-canonical encodings can be written).
  const str = (b: Uint8Array) => RLP.encode(b);
  const num = (n: bigint) => str(bigIntToUnpaddedBytes(n));
  const listHeader = (n: number) => (n < 56 ? [0xc0 + n] : [0xf7 + bigIntToUnpaddedBytes(BigInt(n)).length, ...bigIntToUnpaddedBytes(BigInt(n))]);
  const tx2 = (items: Uint8Array[], trailing: number[] = []) => {
    const payload = concatBytes(...items);
    return Uint8Array.of(2, ...listHeader(payload.length), ...payload, ...trailing);
  };
  const f = { chainId: num(common.chainId()), nonce: num(3n), tip: num(7n), max: num(10n ** 10n), gas: num(21_000n), to: str(to.bytes), value: num(5n), data: str(new Uint8Array()), access: Uint8Array.of(0xc0), v: num(signed.v!), r: num(signed.r!), s: num(signed.s!) };
  const items = (o: Partial<typeof f> = {}) => Object.values({ ...f, ...o });
  assert.deepEqual(tx2(items()), good, 'the hand-made encoding is the canonical one');
  const highS = SECP256K1_ORDER - signed.s!;
  const rejected: [string, Uint8Array][] = [
    ['s above n/2', tx2(items({ s: num(highS), v: num(1n - signed.v!) }))],
    ['y-parity 2', tx2(items({ v: num(2n) }))],
    ['leading zero in the nonce', tx2(items({ nonce: str(Uint8Array.of(0, 3)) }))],
    ['a single byte below 0x80 behind a prefix', tx2(items({ value: Uint8Array.of(0x81, 0x05) }))],
    ['another chain id', tx2(items({ chainId: num(common.chainId() + 1n) }))],
    ['max fee below the tip', tx2(items({ tip: num(10n ** 11n) }))],
    ['gas limit above 2^64-1', tx2(items({ gas: num(1n << 64n) }))],
    ['nonce 2^64-1', tx2(items({ nonce: num((1n << 64n) - 1n) }))],
    ['eleven fields', tx2(items().slice(0, 11))],
    ['a byte after the list', tx2(items(), [0])],
    ['a recipient of 19 bytes', tx2(items({ to: str(to.bytes.subarray(1)) }))],
    ['a list where the value goes', tx2(items({ value: Uint8Array.of(0xc0) }))],
  ];
  for (const [what, raw] of rejected) {
    assert.equal(decodeTxFast(raw, common), undefined, `${what}: not taken`);
    let message: string | undefined;
    try {
      createTxFromRLP(raw, { common });
    } catch (e) {
      message = (e as Error).message;
    }
    assert.ok(message !== undefined, `${what}: the library rejects it`);
    assert.throws(() => decodeTx(raw, common), (e: Error) => e.message === message, `${what}: the library's error`);
  }
  const accepted: [string, Uint8Array, boolean][] = [
    ['the signed transfer', good, true],
    ['a contract creation', tx2(items({ to: str(new Uint8Array()) })), false],
    ['an access list', tx2(items({ access: RLP.encode([[to.bytes, [new Uint8Array(32)]]]) as Uint8Array<ArrayBuffer> })), false],
    ['a long data field', tx2(items({ data: str(new Uint8Array(300).fill(7)) })), true],
    ['value zero', tx2(items({ value: num(0n) })), true],
    // Numbers of every length from 1 to 32 bytes, all bits set and only the top and bottom ones (the decoder reads
    // them in 8-byte words past 6 bytes).
    ...Array.from({ length: 32 }, (_, i) => i + 1).flatMap((n): [string, Uint8Array, boolean][] => [
      [`a value of ${n} bytes, all ones`, tx2(items({ value: num((1n << BigInt(8 * n)) - 1n) })), true],
      [`a value of ${n} bytes, top and bottom bits`, tx2(items({ value: num((1n << BigInt(8 * n - 1)) | 1n) })), true],
    ]),
  ];
  for (const [what, raw, taken] of accepted) {
    assert.equal(decodeTxFast(raw, common) !== undefined, taken, `${what}: fast path ${taken}`);
    assert.deepEqual(txView(decodeTx(raw, common), common), txView(createTxFromRLP(raw, { common }), common), what);
  }
});
