/** Replay of mainnet block fixtures through the Parallax executor on a fresh LevelDB per block. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCommon, MAINNET } from '../chain/profile.ts';
import { loadKzg, nativeCrypto } from '../crypto/index.ts';
import { BlockExecutor } from '../exec/executor.ts';
import { createDatabase } from '../state/db.ts';
import { commitGenesis } from '../state/genesis.ts';
import { StateStore } from '../state/store.ts';
import { bytesEqual, prefixed } from '../util/bytes.ts';
import { decodeFixture, type RawFixture } from './fixture.ts';

export interface ReplayResult {
  file: string;
  number: bigint;
  txs: number;
  gas: bigint;
  /** Execution, state root and commit, wall clock. */
  ms: number;
  executeMs: number;
  stateRootMs: number;
  commitMs: number;
  mismatches: string[];
}

export async function replayFixture(raw: RawFixture): Promise<ReplayResult> {
  const path = raw.file;
  const common = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  const fixture = decodeFixture(raw, common);
  const { block } = fixture;
  const dir = await mkdtemp(join(tmpdir(), 'parallax-replay-'));
  const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 0 });
  try {
    await commitGenesis(
      store,
      fixture.preState,
      { number: block.header.number - 1n, hash: block.header.parentHash, parentHash: new Uint8Array(32), timestamp: 0n },
      `${path} preState`,
    );
    const executor = await BlockExecutor.create({ common, store, blockHashes: async (n) => fixture.blockHashes.get(n) });
    const t0 = performance.now();
    const result = await executor.execute(block);
    const t1 = performance.now();
    await executor.commit(result);
    const t2 = performance.now();
    const mismatches: string[] = [];
    const h = block.header;
    if (!bytesEqual(result.receiptsRoot, h.receiptTrie)) {
      mismatches.push(`receiptsRoot ${prefixed(result.receiptsRoot)} != ${prefixed(h.receiptTrie)}`);
    }
    if (result.gasUsed !== h.gasUsed) mismatches.push(`gasUsed ${result.gasUsed} != ${h.gasUsed}`);
    if (!bytesEqual(result.logsBloom, h.logsBloom)) mismatches.push('logsBloom differs');
    return {
      file: path,
      number: h.number,
      txs: block.transactions.length,
      gas: result.gasUsed,
      ms: t2 - t0,
      executeMs: result.timings.executeMs,
      stateRootMs: result.timings.stateRootMs,
      commitMs: t2 - t1,
      mismatches,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
