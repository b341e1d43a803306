import type { Block } from '@ethereumjs/block';
import { createCommon } from '../../src/chain/profile.ts';
import { nativeCrypto } from '../../src/crypto/index.ts';
import { TrafficGenerator, TRAFFIC_CHAIN, type TrafficOptions } from '../../src/bench/traffic.ts';
import { BlockExecutor, type BlockResult } from '../../src/exec/executor.ts';
import { ParallelExecutor, type BlockStats, type ParallelOptions } from '../../src/exec/parallel.ts';
import { createDatabase } from '../../src/state/db.ts';
import { commitGenesis } from '../../src/state/genesis.ts';
import { StateStore, type StoreOptions } from '../../src/state/store.ts';
import { hex } from '../../src/util/bytes.ts';

/** Everything a block's execution must reproduce, as comparable strings. */
export function fingerprint(r: BlockResult): { stateRoot: string; receiptsRoot: string; logsBloom: string; gasUsed: string; receipts: string[] } {
  return {
    stateRoot: hex(r.stateRoot),
    receiptsRoot: hex(r.receiptsRoot),
    logsBloom: hex(r.logsBloom),
    gasUsed: r.gasUsed.toString(),
    receipts: r.encodedReceipts.map(hex),
  };
}

/**
 * A node at the generator's genesis (in memory, or reopened from `location`), with `workers` workers, the setup blocks
 * already committed; `storeOpts` over the store's defaults (16 blocks of undo journal).
 */
export async function node(gen: TrafficGenerator, setup: Block[], workers: number, extra: Partial<ParallelOptions> = {}, location = ':memory:', storeOpts: Partial<StoreOptions> = {}) {
  const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  const store = await StateStore.open(createDatabase(location), common, { undoDepth: 16, ...storeOpts });
  if (store.head() === undefined) await commitGenesis(store, gen.alloc(), gen.genesis, 'traffic genesis');
  const executor = await BlockExecutor.create({ common, store });
  // Speculation on every block however cheap its transactions (the engine's own default runs cheap ones on the main
  // thread): these tests are of the parallel path.
  const engine = await ParallelExecutor.create(executor, { workers, minParallelTxs: 2, minSpeculativeGas: 0, txTimeoutMs: 20_000, profile: TRAFFIC_CHAIN, kzg: false, ...extra });
  for (const b of setup) await engine.commit((await engine.execute(b)).result);
  return { store, engine };
}

export function generator(opts: Partial<TrafficOptions> & { seed: number }) {
  const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  return new TrafficGenerator(common, { holders: 40, tokens: 3, pools: 3, swappers: 20, payers: 30, ...opts });
}

export type { BlockStats };
