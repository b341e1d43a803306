import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { createAddressFromString } from '@ethereumjs/util';
import { chainConfig } from '../src/chain/profile.ts';
import '../src/exec/tx-common.ts';
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
