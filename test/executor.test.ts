import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Common } from '@ethereumjs/common';
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { createVM, runBlock } from '@ethereumjs/vm';
import { Account, createAddressFromString } from '@ethereumjs/util';
import { chainConfig } from '../src/chain/profile.ts';
import { hex } from '../src/util/bytes.ts';
import { isParallaxError } from '../src/errors.ts';
import { CANCUN_DEV, devCommon, keys, tx, blockOn } from './helpers/chain.ts';
import { buildTestChain } from './helpers/workload.ts';
import { startChain } from './helpers/store.ts';

test('the executor gives the same state root, receipts root, bloom and gas as @ethereumjs/vm runBlock on MerkleStateManager', async () => {
  const common = devCommon();
  const chain = buildTestChain(common, 10);
  const { store, executor } = await startChain(common, chain);

  // Independent oracle: the library's own block runner over its own trie-backed state manager.
  const refCommon = new Common({ chain: chainConfig(CANCUN_DEV), hardfork: 'cancun' });
  const sm = new MerkleStateManager({ common: refCommon });
  for (const [addr, a] of Object.entries(chain.alloc)) {
    await sm.putAccount(createAddressFromString(addr), new Account(0n, BigInt(a.balance!)));
  }
  await sm.flush();
  assert.equal(hex(await sm.getStateRoot()), hex(store.head()!.stateRoot));
  const vm = await createVM({ common: refCommon, stateManager: sm });

  for (const block of chain.blocks) {
    const ours = await executor.execute(block);
    await executor.commit(ours);
    const ref = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true });
    const n = block.header.number;
    assert.equal(hex(ours.stateRoot), hex(ref.stateRoot), `stateRoot of block ${n}`);
    assert.equal(hex(ours.receiptsRoot), hex(ref.receiptsRoot), `receiptsRoot of block ${n}`);
    assert.equal(hex(ours.logsBloom), hex(ref.logsBloom), `logsBloom of block ${n}`);
    assert.equal(ours.gasUsed, ref.gasUsed, `gasUsed of block ${n}`);
    ref.receipts.forEach((r, i) => assert.equal(ours.txs[i].receipt.cumulativeBlockGasUsed, r.cumulativeBlockGasUsed));
  }
  assert.ok(chain.blocks.every((b) => b.transactions.length > 10));
  await store.close();
});

test('a transaction that cannot be included makes the block invalid, with the block and transaction named', async () => {
  const common = devCommon();
  const chain = buildTestChain(common, 1);
  const { store, executor } = await startChain(common, chain);
  const [k] = keys(1);
  k.nonce = 5n; // the account's nonce is 0
  const bad = blockOn(common, store.head()!, [tx(common, k, { to: createAddressFromString('0x' + '11'.repeat(20)), value: 1n, gasLimit: 21_000n })]);
  await assert.rejects(executor.execute(bad), (e) => isParallaxError(e, 'BLOCK_INVALID') && /block 1: transaction 0 is invalid/.test(e.message) && /nonce/.test(e.message));
  // The failed attempt leaves no trace: the valid block still executes on the untouched head.
  const ok = await executor.execute(chain.blocks[0]);
  assert.equal(ok.txs.length, chain.blocks[0].transactions.length);
  await store.close();
});
