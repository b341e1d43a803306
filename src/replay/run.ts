/**
 * Replay of mainnet block fixtures through the Parallax engine, each block on a fresh LevelDB holding its pre-state.
 * One engine (and so one worker pool) serves all blocks of a run.
 */
import type { BlockTrace } from '../insight/trace.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCommon, MAINNET } from '../chain/profile.ts';
import { loadKzg, nativeCrypto } from '../crypto/index.ts';
import { BlockExecutor } from '../exec/executor.ts';
import { ParallelExecutor, type BlockStats } from '../exec/parallel.ts';
import { createDatabase } from '../state/db.ts';
import { commitGenesis } from '../state/genesis.ts';
import { StateStore } from '../state/store.ts';
import { bytesEqual, prefixed } from '../util/bytes.ts';
import type { Common } from '@ethereumjs/common';
import type { CpuMeter } from '../bench/cpu.ts';
import { decodeFixture, type MainnetFixture, type RawFixture } from './fixture.ts';

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
  stats: BlockStats;
  trace?: BlockTrace;
}

export interface ReplayOptions {
  workers: number;
  /** Below this many transactions a block runs serially. */
  minParallelTxs?: number;
  /** See `ParallelOptions.minSpeculativeGas` (default there). */
  minSpeculativeGas?: number;
  txTimeoutMs?: number;
}

interface Decoded {
  raw: RawFixture;
  common: Common;
  fixture: MainnetFixture;
}

export class FixtureReplayer {
  private engine: ParallelExecutor | undefined;
  private readonly opts: ReplayOptions;
  /** The fixture named `next` last time, decoded: the same block object is what the engine prepared ahead. */
  private following: Decoded | undefined;
  /** The fixture named `after` last time, decoded (the engine may have sent its senders to the workers already). */
  private afterNext: Decoded | undefined;

  constructor(opts: ReplayOptions) {
    this.opts = opts;
  }

  private async decode(raw: RawFixture): Promise<Decoded> {
    if (this.following?.raw === raw) return this.following;
    if (this.afterNext?.raw === raw) return this.afterNext;
    const common = createCommon(MAINNET, nativeCrypto(await loadKzg()));
    return { raw, common, fixture: decodeFixture(raw, common) };
  }

  /**
   * Replay one fixture block on its pre-state. `next`, the fixture the caller replays after this one, is decoded now
   * so that the workers recover its senders and the engine prepares its schedule while this block finishes, as the
   * daemon does with the block it has fetched ahead; `after`, the one after `next`, likewise, as the daemon hands the
   * engine the second block it has fetched (see `ParallelExecutor.execute`). `cpu` measures the threads' CPU over the
   * timed part (execution, state root and commit).
   */
  async replay(raw: RawFixture, next?: RawFixture, cpu?: CpuMeter, after?: RawFixture): Promise<ReplayResult> {
    const path = raw.file;
    const { common, fixture } = await this.decode(raw);
    const following = next === undefined ? undefined : await this.decode(next);
    this.afterNext = following === undefined || after === undefined ? undefined : await this.decode(after);
    this.following = following;
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
      if (this.engine === undefined) {
        this.engine = await ParallelExecutor.create(executor, {
          workers: this.opts.workers,
          minParallelTxs: this.opts.minParallelTxs ?? 8,
          minSpeculativeGas: this.opts.minSpeculativeGas,
          txTimeoutMs: this.opts.txTimeoutMs ?? 30_000,
          profile: MAINNET,
          kzg: true,
        });
      } else {
        this.engine.attach(executor);
      }
      cpu?.start();
      const t0 = performance.now();
      const { result, stats, trace } = await this.engine.execute(block, { next: this.following?.fixture.block, after: this.afterNext?.fixture.block });
      const t1 = performance.now();
      await this.engine.commit(result);
      // Its batch may be a worker's to write: the block is done once it is in LevelDB (nothing runs after it here).
      await store.flushed();
      const t2 = performance.now();
      cpu?.stop();
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
        stats,
        trace,
      };
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Forget what the blocks replayed so far taught the engine (see `ParallelExecutor.forgetLearned`). */
  forgetLearned(): void {
    this.engine?.forgetLearned();
  }

  async close(): Promise<void> {
    await this.engine?.close();
  }
}

/** Replay one fixture serially (one engine per call; for tests and one-off checks). */
export async function replayFixture(raw: RawFixture, workers = 1): Promise<ReplayResult> {
  const r = new FixtureReplayer({ workers });
  try {
    return await r.replay(raw);
  } finally {
    await r.close();
  }
}
