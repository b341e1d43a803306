import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBlock, type Block } from '@ethereumjs/block';
import { Common } from '@ethereumjs/common';
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { Address, createAddressFromString } from '@ethereumjs/util';
import { runTx } from '@ethereumjs/vm';
import { chainConfig } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { BlockExecutor, outcomeOf, type TxOutcome } from '../src/exec/executor.ts';
import { runPlainTransfer } from '../src/exec/transfer.ts';
import { pinSender } from '../src/exec/tx-common.ts';
import { hex } from '../src/util/bytes.ts';
import { CANCUN_DEV, fundedAlloc, keys, type Key } from './helpers/chain.ts';
import { openStore } from './helpers/store.ts';
import { commitGenesis } from '../src/state/genesis.ts';
import type { StateReader } from '../src/state/types.ts';

/** Maps, sets, bytes and bigints as plain sorted JSON, so two states or two access records compare as strings. */
function canon(x: unknown): string {
  return JSON.stringify(x, (_k, v) => {
    if (v instanceof Map) return [...v.entries()].map(([k, w]) => [String(k), w]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    if (v instanceof Set) return [...v].map(String).sort();
    if (v instanceof Uint8Array) return hex(v);
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
}

const GWEI = 10n ** 9n;
const FRESH = createAddressFromString('0x' + 'f1'.repeat(20));
const FRESH2 = createAddressFromString('0x' + 'f2'.repeat(20));
const EMPTY_ACCOUNT = createAddressFromString('0x' + 'e0'.repeat(20));
const EMPTY_COINBASE = createAddressFromString('0x' + 'e1'.repeat(20));
const FRESH_COINBASE = createAddressFromString('0x' + 'f3'.repeat(20));
const CONTRACT = createAddressFromString('0x' + 'c0'.repeat(20));
const ECRECOVER = createAddressFromString('0x' + '00'.repeat(19) + '01');

interface Spec {
  name: string;
  from: number;
  to: Address;
  value: bigint;
  gasLimit?: bigint;
  type?: 0 | 1 | 2;
  data?: Uint8Array;
  accessList?: boolean;
  nonceOffset?: bigint;
  /** Not a transfer the fast path vouches for: it must decline. */
  declines?: boolean;
  /** A fee-market transaction paying no priority fee (the coinbase gets nothing). */
  noTip?: boolean;
  /** The block's coinbase, when not the funded one. */
  coinbase?: Address;
}

function sign(common: Common, k: Key, s: Spec): TypedTransaction {
  const base = { nonce: k.nonce + (s.nonceOffset ?? 0n), to: s.to, value: s.value, data: s.data ?? new Uint8Array(0), gasLimit: s.gasLimit ?? 21_000n };
  const accessList = s.accessList === true ? [[CONTRACT.bytes, [new Uint8Array(32)]]] : [];
  let t: TypedTransaction;
  if (s.type === 2) t = createFeeMarket1559Tx({ ...base, maxFeePerGas: 30n * GWEI, maxPriorityFeePerGas: s.noTip === true ? 0n : 25n * GWEI, accessList: accessList as never, chainId: common.chainId() }, { common });
  else if (s.type === 1) t = createAccessList2930Tx({ ...base, gasPrice: 20n * GWEI, accessList: accessList as never, chainId: common.chainId() }, { common });
  else t = createLegacyTx({ ...base, gasPrice: 20n * GWEI }, { common });
  return t.sign(k.priv);
}

/**
 * One side of the comparison. `later`: its overlay's base reads only asynchronously (as a worker's reads of state it
 * must ask the main thread for), so the fast path takes its awaited branch for every read that base has to answer.
 */
async function side(common: Common, ks: Key[], later = false) {
  const alloc = fundedAlloc(ks, 10n ** 21n);
  alloc[EMPTY_ACCOUNT.toString()] = { balance: '0x0' };
  alloc[EMPTY_COINBASE.toString()] = { balance: '0x0' };
  alloc[CONTRACT.toString()] = { balance: '0x1', code: '0x00' };
  // A sender too poor for its transaction.
  alloc[ks[5].address.toString()] = { balance: '0x5208' };
  const store = await openStore(common);
  await commitGenesis(store, alloc, { number: 0n, hash: new Uint8Array(32), parentHash: new Uint8Array(32), timestamp: 0n }, 'transfer test genesis');
  const executor = await BlockExecutor.create({ common, store });
  if (later) {
    let reads = 0;
    const base: StateReader = {
      getAccount: (a) => (reads++, store.getAccount(a)),
      getStorage: (a, k) => store.getStorage(a, k),
      getCode: (h) => store.getCode(h),
    };
    executor.state.reset(base);
    return { store, executor, reads: () => reads };
  }
  executor.state.reset(store);
  return { store, executor, reads: () => 0 };
}

function blockFor(common: Common, coinbase: Address): Block {
  const london = common.isActivatedEIP(1559);
  const cancun = common.isActivatedEIP(4844);
  return createBlock(
    {
      header: {
        number: 1n,
        timestamp: 12n,
        gasLimit: 30_000_000n,
        coinbase,
        ...(london ? { baseFeePerGas: 7n * GWEI } : {}),
        ...(cancun ? { excessBlobGas: 0n, blobGasUsed: 0n, parentBeaconBlockRoot: new Uint8Array(32) } : {}),
      },
      ...(common.isActivatedEIP(4895) ? { withdrawals: [] } : {}),
    },
    { common },
  );
}

const FORKS = ['byzantium', 'petersburg', 'istanbul', 'berlin', 'london', 'shanghai', 'cancun', 'prague', 'osaka'];

test('plain transfers without the EVM: same outcome, tracked reads and writes, and state as runTx, fork by fork; everything else declined', async () => {
  const config = chainConfig(CANCUN_DEV);
  const known = new Set(config.hardforks.map((h) => h.name));
  let forks = 0;
  let fast = 0;
  let declined = 0;
  for (const hardfork of FORKS) {
    if (!known.has(hardfork)) continue;
    forks++;
    const common = new Common({ chain: config, hardfork, customCrypto: nativeCrypto() });
    const ks = keys(8);
    const coinbaseKey = ks[7];
    const specs: Spec[] = [
      { name: 'value to a funded account', from: 0, to: ks[1].address, value: 10n ** 18n },
      { name: 'value to an address never seen', from: 1, to: FRESH, value: 5n },
      { name: 'nothing to an address never seen (EIP-161: not created)', from: 2, to: FRESH2, value: 0n },
      { name: 'nothing to an existing empty account (EIP-161: removed)', from: 3, to: EMPTY_ACCOUNT, value: 0n },
      { name: 'gas limit above the intrinsic cost (refund)', from: 4, to: ks[0].address, value: 7n, gasLimit: 90_000n },
      { name: 'value to the coinbase', from: 0, to: coinbaseKey.address, value: 3n },
      { name: 'the coinbase sending', from: 7, to: ks[2].address, value: 11n },
      { name: 'access-list type, empty list', from: 1, to: ks[3].address, value: 1n, type: 1 },
      { name: 'fee-market type, priority fee above the cap', from: 2, to: ks[4].address, value: 2n, type: 2 },
      { name: 'nothing to an existing empty coinbase, no tip (EIP-161: removed)', from: 6, to: EMPTY_COINBASE, value: 0n, type: 2, noTip: true, coinbase: EMPTY_COINBASE },
      { name: 'no tip to a coinbase never seen (EIP-161: not created)', from: 4, to: ks[5].address, value: 3n, type: 2, noTip: true, coinbase: FRESH_COINBASE },
      { name: 'no tip to a funded coinbase', from: 0, to: ks[2].address, value: 5n, type: 2, noTip: true },
      { name: 'to a contract', from: 3, to: CONTRACT, value: 1n, declines: true },
      { name: 'to a precompile', from: 3, to: ECRECOVER, value: 0n, gasLimit: 30_000n, declines: true },
      { name: 'with data', from: 3, to: ks[1].address, value: 0n, gasLimit: 30_000n, data: new Uint8Array([1, 2]), declines: true },
      { name: 'with an access list', from: 3, to: ks[1].address, value: 0n, gasLimit: 30_000n, type: 1, accessList: true, declines: true },
      { name: 'to itself', from: 3, to: ks[3].address, value: 1n, declines: true },
      { name: 'a nonce from the future', from: 4, to: ks[1].address, value: 1n, nonceOffset: 3n, declines: true },
      { name: 'more than the sender has', from: 5, to: ks[1].address, value: 1n, declines: true },
    ].filter((s) => (s.type ?? 0) === 0 || (s.type === 1 ? common.isActivatedEIP(2930) : common.isActivatedEIP(1559))) as Spec[];
    const a = await side(common, ks);
    const b = await side(common, ks);
    const c = await side(common, ks, true);
    for (const s of specs) {
      const block = blockFor(common, s.coinbase ?? coinbaseKey.address);
      const coinbase = hex(block.header.coinbase.bytes);
      const t = sign(common, ks[s.from], s);
      pinSender(t);
      const label = `${hardfork}: ${s.name}`;
      a.executor.state.beginTx(coinbase);
      const mine = await runPlainTransfer(a.executor.vm, a.executor.state, t, block);
      const mineAccess = a.executor.state.endTx();
      // The same transaction over a base that answers nothing on the call.
      c.executor.state.beginTx(coinbase);
      const awaited = await runPlainTransfer(c.executor.vm, c.executor.state, t, block);
      const awaitedAccess = c.executor.state.endTx();
      assert.equal(canon(awaited), canon(mine), `${label}: outcome over a base read asynchronously`);
      assert.equal(canon(awaitedAccess), canon(mineAccess), `${label}: tracked reads and writes over a base read asynchronously`);
      if (s.declines === true) {
        assert.equal(mine, undefined, `${label}: must be left to runTx`);
        // Declining wrote nothing: the transaction's record holds reads only.
        assert.equal(mineAccess.accounts.size, 0, `${label}: declined after writing`);
        declined++;
        continue;
      }
      assert.ok(mine !== undefined, `${label}: the fast path declined a plain transfer`);
      fast++;
      b.executor.state.beginTx(coinbase);
      const theirs: TxOutcome = outcomeOf(await runTx(b.executor.vm, { tx: t, block }), t.type);
      const theirAccess = b.executor.state.endTx();
      assert.equal(canon(mine), canon(theirs), `${label}: outcome`);
      assert.equal(canon(mineAccess), canon(theirAccess), `${label}: tracked reads and writes`);
      ks[s.from].nonce++;
    }
    assert.equal(canon(a.executor.state.diff()), canon(b.executor.state.diff()), `${hardfork}: state after the transfers`);
    assert.equal(canon(c.executor.state.diff()), canon(a.executor.state.diff()), `${hardfork}: state after the transfers over a base read asynchronously`);
    // Every account the transfers touched was first read from that base asynchronously.
    assert.ok(c.reads() >= 8, `${hardfork}: only ${c.reads()} asynchronous reads of the base`);
    // The empty account was touched and removed, the address sent nothing was never created.
    const diff = a.executor.state.diff();
    assert.equal(diff.accounts.get(hex(EMPTY_ACCOUNT.bytes))?.account, null, `${hardfork}: empty account not removed`);
    assert.equal(diff.accounts.get(hex(FRESH2.bytes))?.account ?? null, null, `${hardfork}: zero-value recipient created`);
    if (common.isActivatedEIP(1559)) {
      assert.equal(diff.accounts.get(hex(EMPTY_COINBASE.bytes))?.account, null, `${hardfork}: empty coinbase paid nothing not removed`);
      assert.equal(diff.accounts.get(hex(FRESH_COINBASE.bytes))?.account ?? null, null, `${hardfork}: coinbase paid nothing created`);
    }
    assert.ok((diff.accounts.get(hex(FRESH.bytes))?.account?.balance ?? 0n) === 5n, `${hardfork}: recipient never seen not credited`);
    await a.store.close();
    await b.store.close();
    await c.store.close();
  }
  assert.ok(forks >= 6, `only ${forks} forks known to the dev chain`);
  assert.ok(fast >= forks * 7 && declined >= forks * 5, `${fast} fast, ${declined} declined`);
});
