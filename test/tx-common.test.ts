import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Common } from '@ethereumjs/common';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RLP } from '@ethereumjs/rlp';
import { createBlockFromRPC } from '@ethereumjs/block';
import { Capability, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP } from '@ethereumjs/tx';
import { Address, createAddressFromString } from '@ethereumjs/util';
import { chainConfig, createCommon, MAINNET } from '../src/chain/profile.ts';
import { keccak256, loadKzg, nativeCrypto } from '../src/crypto/index.ts';
import { recoverSenderKey, sharedTxCommon } from '../src/exec/tx-common.ts';
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
