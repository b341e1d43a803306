/** Test chain builder: a Cancun chain with funded keys, signed transactions and blocks built on the store's head. */
import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx';
import { Address, createZeroAddress, privateToAddress } from '@ethereumjs/util';
import { createCommon, type ChainProfile } from '../../src/chain/profile.ts';
import { TRAFFIC_CHAIN } from '../../src/bench/traffic.ts';
import { keccak256, nativeCrypto } from '../../src/crypto/index.ts';
import type { Alloc } from '../../src/state/genesis.ts';
import type { BlockRecord } from '../../src/state/store.ts';

/** The dev chain of the traffic generator: every fork through Cancun from genesis. */
export const CANCUN_DEV: ChainProfile = TRAFFIC_CHAIN;

export function devCommon(): Common {
  return createCommon(CANCUN_DEV, nativeCrypto());
}

export interface Key {
  priv: Uint8Array;
  address: Address;
  nonce: bigint;
}

/** Deterministic keys: keccak("parallax-test-key-" + i). */
export function keys(n: number): Key[] {
  const out: Key[] = [];
  for (let i = 0; i < n; i++) {
    const priv = keccak256(new TextEncoder().encode(`parallax-test-key-${i}`));
    out.push({ priv, address: new Address(privateToAddress(priv)), nonce: 0n });
  }
  return out;
}

export function fundedAlloc(ks: Key[], wei = 10n ** 24n): Alloc {
  const alloc: Alloc = {};
  for (const k of ks) alloc[k.address.toString()] = { balance: '0x' + wei.toString(16) };
  return alloc;
}

export function tx(common: Common, from: Key, fields: { to?: Address; value?: bigint; data?: Uint8Array; gasLimit?: bigint }): TypedTransaction {
  const t = createFeeMarket1559Tx(
    {
      nonce: from.nonce++,
      to: fields.to,
      value: fields.value ?? 0n,
      data: fields.data ?? new Uint8Array(0),
      gasLimit: fields.gasLimit ?? 200_000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 10n ** 9n,
      chainId: common.chainId(),
    },
    { common },
  );
  return t.sign(from.priv);
}

export function blockOn(common: Common, parent: BlockRecord, txs: TypedTransaction[], coinbase?: Address): Block {
  return createBlock(
    {
      header: {
        number: parent.number + 1n,
        parentHash: parent.hash,
        timestamp: parent.timestamp + 12n,
        gasLimit: 30_000_000n,
        baseFeePerGas: 7n,
        coinbase: coinbase ?? createZeroAddress(),
        excessBlobGas: 0n,
        blobGasUsed: 0n,
        parentBeaconBlockRoot: new Uint8Array(32),
      },
      transactions: txs,
      withdrawals: [],
    },
    { common },
  );
}
