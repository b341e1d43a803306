/**
 * Selendra extrinsics decoded with the genuine runtime's metadata (spec 20005 from the mainnet chain spec in the
 * shared fixtures, obtained by calling the runtime's own Metadata_metadata in chopsticks' wasm executor), with no
 * node running. Transactions are signed with @ethereumjs, wrapped into `ethereum.transact` by the runtime's types,
 * and must come back as the same transactions (hash, sender); malformed ones are refused with TX_INVALID.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { privateToAddress } from '@ethereumjs/util';
import { createCommon, type ChainProfile } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { isParallaxError } from '../src/errors.ts';
import { decodeEvmExtrinsic } from '../src/source/selendra/extrinsic.ts';
import { closeRuntimeExecutor, readChainSpec, runtimeTypes, runtimeWasm } from '../src/source/selendra/runtime.ts';
import { compactFromU8a } from '@polkadot/util';
import { fixturesDir } from '../src/util/paths.ts';

const SELENDRA: ChainProfile = { name: 'selendra', chainId: 1961, forks: [{ name: 'chainstart', block: 0 }, { name: 'cancun', block: 0, timestamp: 0 }] };
const hex = (b: Uint8Array) => '0x' + Buffer.from(b).toString('hex');
const h256 = (x: bigint) => '0x' + x.toString(16).padStart(64, '0');

test('ethereum.transact extrinsics decode with the runtime metadata into the signed transactions; malformed ones are refused', async () => {
  const spec = await readChainSpec(join(fixturesDir(), 'selendra', 'mainnet_chainspec.json'));
  const { registry, specVersion, metadata } = await runtimeTypes(runtimeWasm(spec), spec.genesis.raw.top).finally(closeRuntimeExecutor);
  assert.equal(specVersion, 20005);
  const ethereum = metadata.asLatest.pallets.find((p) => p.name.toString() === 'Ethereum')!;
  assert.equal(ethereum.index.toNumber(), 80);
  const common = createCommon(SELENDRA, nativeCrypto());
  const priv = Buffer.alloc(32, 0x42);
  const sender = hex(privateToAddress(priv));
  const to = Buffer.alloc(20, 0x22);
  const txs: TypedTransaction[] = [
    createLegacyTx({ nonce: 0n, gasPrice: 20_000_000_000n, gasLimit: 100_000n, to, value: 5n, data: '0x1234' }, { common }).sign(priv),
    createAccessList2930Tx({ chainId: 1961n, nonce: 1n, gasPrice: 20_000_000_000n, gasLimit: 100_000n, to, value: 0n, data: '0x', accessList: [{ address: hex(to) as `0x${string}`, storageKeys: [h256(7n) as `0x${string}`] }] }, { common }).sign(priv),
    createFeeMarket1559Tx({ chainId: 1961n, nonce: 2n, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, gasLimit: 200_000n, data: '0x602a600055' }, { common }).sign(priv),
  ];
  const wrap = (t: TypedTransaction, tweak: (f: Record<string, unknown>) => void = () => {}) => {
    const action = t.to === undefined ? { Create: null } : { Call: t.to.toString() };
    const body: Record<string, unknown> = { nonce: t.nonce, gasLimit: t.gasLimit, action, value: t.value, input: hex(t.data) };
    let variant: string;
    if (t.type === 0) {
      variant = 'Legacy';
      Object.assign(body, { gasPrice: (t as { gasPrice: bigint }).gasPrice, signature: { v: t.v, r: h256(t.r!), s: h256(t.s!) } });
    } else {
      variant = t.type === 1 ? 'EIP2930' : 'EIP1559';
      const j = t.toJSON();
      Object.assign(body, { chainId: BigInt(j.chainId!), accessList: (j.accessList ?? []).map((a) => ({ address: a.address, storageKeys: a.storageKeys })), oddYParity: t.v === 1n, r: h256(t.r!), s: h256(t.s!) });
      if (t.type === 1) body.gasPrice = BigInt(j.gasPrice!);
      else Object.assign(body, { maxFeePerGas: BigInt(j.maxFeePerGas!), maxPriorityFeePerGas: BigInt(j.maxPriorityFeePerGas!) });
    }
    tweak(body);
    const call = registry.createType('Call', { callIndex: [80, 0], args: { transaction: { [variant]: body } } });
    return registry.createType('Extrinsic', { method: call }).toU8a();
  };
  for (const [i, t] of txs.entries()) {
    const raw = wrap(t);
    const [offset, len] = compactFromU8a(raw);
    assert.equal(offset + len.toNumber(), raw.length);
    assert.deepEqual([...raw.subarray(offset, offset + 3)], [0x04, 0x50, 0x00], 'compact(len) 0x04 0x50 0x00: bare, pallet 80, call 0');
    const d = decodeEvmExtrinsic(registry, raw, common, `block 5 extrinsic ${i}`);
    assert.ok(d !== null);
    assert.equal(d.variant, ['Legacy', 'EIP2930', 'EIP1559'][i]);
    assert.equal(hex(d.tx.hash()), hex(t.hash()), 'same transaction');
    assert.equal(d.tx.getSenderAddress().toString(), sender);
  }
  // Not an EVM transaction: a balance transfer decodes to null.
  const transfer = registry.createType('Extrinsic', { method: registry.createType('Call', { callIndex: [4, 3], args: { dest: { Id: '0x' + '11'.repeat(32) }, value: 10n } }) }).toU8a();
  assert.equal(decodeEvmExtrinsic(registry, transfer, common, 'x'), null);

  const refuse = (raw: Uint8Array, re: RegExp) =>
    assert.throws(() => decodeEvmExtrinsic(registry, raw, common, 'block 9 extrinsic 2'), (e: unknown) => {
      assert.ok(isParallaxError(e, 'TX_INVALID'), String(e));
      assert.match(e.message, /^block 9 extrinsic 2: /);
      assert.match(e.message, re);
      return true;
    });
  const good = wrap(txs[2]);
  refuse(good.subarray(0, good.length - 7), /does not decode|bytes but decodes/);
  refuse(Uint8Array.from([...good, 0, 0]), /does not decode|bytes but decodes/);
  refuse(Uint8Array.from([0x0c, 0x04, 0x50, 0x07]), /does not decode/);
  // A signature that recovers nobody (r = 0), another chain's id, an s above n/2.
  refuse(wrap(txs[2], (f) => (f.r = h256(0n))), /signature|invalid/i);
  refuse(wrap(txs[2], (f) => (f.chainId = 1n)), /chain ?id/i);
  refuse(wrap(txs[0], (f) => ((f.signature as { s: string }).s = h256((1n << 256n) - 1n))), /invalid|signature/i);
});
