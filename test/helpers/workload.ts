/**
 * A small deterministic chain for state tests: transfers to fresh accounts, a storage contract whose slots are set,
 * overwritten and zeroed, and contracts created and self-destructed in the same transaction (account deletion).
 */
import type { Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { Address, createContractAddress, setLengthLeft, bigIntToBytes, concatBytes } from '@ethereumjs/util';
import { keccak256 } from '../../src/crypto/index.ts';
import { fromHex } from '../../src/util/bytes.ts';
import type { Alloc } from '../../src/state/genesis.ts';
import type { BlockRecord } from '../../src/state/store.ts';
import { blockOn, fundedAlloc, keys, tx, type Key } from './chain.ts';

/** Runtime: SSTORE(calldata[0:32] = slot, calldata[32:64] = value). */
const STORE_RUNTIME = fromHex('602035600035550000');
/** Init code copying STORE_RUNTIME (9 bytes) into place. */
export const STORE_INIT = concatBytes(fromHex('6009600c60003960096000f3'), STORE_RUNTIME);
/** Init code that self-destructs to the caller while being created (deleted at the end of the tx, EIP-6780). */
const SELFDESTRUCT_INIT = fromHex('33ff');

export const GENESIS_HASH = keccak256(new TextEncoder().encode('parallax-test-genesis'));

export interface TestChain {
  alloc: Alloc;
  genesis: Omit<BlockRecord, 'stateRoot' | 'receiptsRoot' | 'logsBloom' | 'gasUsed' | 'txCount'>;
  blocks: Block[];
}

function word(n: bigint): Uint8Array {
  return setLengthLeft(bigIntToBytes(n), 32);
}

/** `count` blocks of about `txsPerBlock` transactions, the same every time for the same arguments. */
export function buildTestChain(common: Common, count: number, txsPerBlock = 12): TestChain {
  const ks: Key[] = keys(8);
  const alloc = fundedAlloc(ks);
  const genesis = { number: 0n, hash: GENESIS_HASH, parentHash: new Uint8Array(32), timestamp: 1_700_000_000n };
  const deployer = ks[0];
  const store = createContractAddress(deployer.address, deployer.nonce);
  let parent = { ...genesis } as BlockRecord;
  const blocks: Block[] = [];
  let fresh = 1n;
  for (let b = 0; b < count; b++) {
    const txs = [];
    if (b === 0) txs.push(tx(common, deployer, { data: STORE_INIT }));
    for (let i = 0; i < txsPerBlock; i++) {
      const from = ks[1 + ((b * txsPerBlock + i) % (ks.length - 1))];
      const kind = (b * 7 + i) % 5;
      if (kind === 0) {
        txs.push(tx(common, from, { to: new Address(keccak256(word(fresh++)).subarray(12)), value: 1000n + BigInt(i), gasLimit: 21_000n }));
      } else if (kind === 1 || kind === 2) {
        // Slots cycle over a small range so later blocks overwrite and zero earlier writes.
        const slot = BigInt((b + i) % 6);
        const value = kind === 2 && b % 2 === 1 ? 0n : BigInt(b * 100 + i + 1);
        txs.push(tx(common, from, { to: store, data: concatBytes(word(slot), word(value)) }));
      } else if (kind === 3) {
        txs.push(tx(common, from, { data: SELFDESTRUCT_INIT, value: 5n }));
      } else {
        txs.push(tx(common, from, { to: ks[(i + b) % ks.length].address, value: 1n }));
      }
    }
    const block = blockOn(common, parent, txs, ks[7].address);
    blocks.push(block);
    parent = { ...parent, number: block.header.number, hash: block.hash(), timestamp: block.header.timestamp };
  }
  return { alloc, genesis, blocks };
}
