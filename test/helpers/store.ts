import type { Common } from '@ethereumjs/common';
import { BlockExecutor } from '../../src/exec/executor.ts';
import { createDatabase } from '../../src/state/db.ts';
import { commitGenesis, type Alloc } from '../../src/state/genesis.ts';
import { StateStore } from '../../src/state/store.ts';
import { hex } from '../../src/util/bytes.ts';
import type { TestChain } from './workload.ts';

export async function openStore(common: Common, location = ':memory:', undoDepth = 64): Promise<StateStore> {
  return StateStore.open(createDatabase(location), common, { undoDepth });
}

/** Store + executor at the chain's genesis. */
export async function startChain(common: Common, chain: TestChain, location = ':memory:', undoDepth = 64) {
  const store = await openStore(common, location, undoDepth);
  if (store.head() === undefined) await commitGenesis(store, chain.alloc, chain.genesis, 'test genesis');
  const executor = await BlockExecutor.create({ common, store });
  return { store, executor };
}

/** Every flat record of the store as an allocation (sorted, so two dumps compare as strings). */
export async function dumpState(store: StateStore): Promise<Alloc> {
  const alloc: Alloc = {};
  const entries: [string, Alloc[string]][] = [];
  for await (const { address, account } of store.accounts()) {
    const storage: Record<string, string> = {};
    for await (const { slot, value } of store.storageOf(address)) storage['0x' + hex(slot)] = '0x' + hex(value);
    const code = await store.getCode(account.codeHash);
    entries.push(['0x' + hex(address), { balance: '0x' + account.balance.toString(16), nonce: '0x' + account.nonce.toString(16), code: '0x' + hex(code), storage }]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [k, v] of entries) alloc[k] = v;
  return alloc;
}
