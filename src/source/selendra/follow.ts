/**
 * Follow a Selendra node over a block range (`parallax verify --ws`, `parallax dev --chain selendra`): each block
 * ingested with @polkadot/api, executed by the parallel engine under the Frontier rules of the node's runtime,
 * its state reads repaired from the chain where Parallax lacked them, verified (see ./verify.ts), and committed with
 * its verification record in one batch. Parallax's state starts empty at the block before the range: everything it
 * needs it learns from the chain.
 */
import type { Common } from '@ethereumjs/common';
import { selendraProfile, SELENDRA_20005, type FrontierRules } from '../../chain/frontier.ts';
import { createCommon, type ChainProfile } from '../../chain/profile.ts';
import { nativeCrypto } from '../../crypto/index.ts';
import { ParallaxError } from '../../errors.ts';
import { BlockExecutor } from '../../exec/executor.ts';
import { ParallelExecutor } from '../../exec/parallel.ts';
import { sharedTxCommon } from '../../exec/tx-common.ts';
import { createDatabase } from '../../state/db.ts';
import { commitGenesis } from '../../state/genesis.ts';
import { StateStore } from '../../state/store.ts';
import { hex } from '../../util/bytes.ts';
import { SelendraSource } from './index.ts';
import { FrontierState } from './state.ts';
import { runFrontierBlock, type FrontierCheck } from './verify.ts';

/** Frontier rules of a Selendra runtime version: measured on spec 20005; later versions change two constants. */
export function selendraRules(specVersion: number): FrontierRules {
  return {
    ...SELENDRA_20005,
    // Spec 20006 turned the storage-growth meter off; 20015 moved to the 108-byte account proof of later Frontier.
    storageRatio: specVersion >= 20006 ? 0 : SELENDRA_20005.storageRatio,
    accountBasicProofSize: specVersion >= 20015 ? 108 : SELENDRA_20005.accountBasicProofSize,
  };
}

export interface SelendraBlockReport {
  number: bigint;
  txs: number;
  gas: bigint;
  ms: number;
  mode: string;
  reexecuted: number;
  repairs: number;
  postState: { accounts: number; slots: number };
  mismatches: FrontierCheck[];
}

export interface SelendraFollowOptions {
  url: string;
  dataDir: string;
  workers: number;
  from: bigint;
  /** Last block; undefined = the node's head when the range starts. */
  to?: bigint;
  /** Called once the range is known, before the first block. */
  onStart?(info: { from: bigint; to: bigint; specVersion: number; chainId: bigint }): void;
  onBlock(r: SelendraBlockReport): void;
  /** Wait for blocks past the node's head (dev: the chain keeps growing); default false. */
  wait?: boolean;
  signal?: AbortSignal;
}

export async function followSelendra(o: SelendraFollowOptions): Promise<{ matched: number; mismatched: number; repairs: number }> {
  const source = new SelendraSource({ url: o.url });
  let engine: ParallelExecutor | undefined;
  let store: StateStore | undefined;
  try {
    const api = await source.connect();
    const head = await source.head();
    const to = o.to ?? head;
    if (!o.wait && to > head) throw new ParallaxError('CONFIG_INVALID', `--to ${to} is ahead of the node, which is at block ${head}`);
    if (o.from < 1n || to < o.from) throw new ParallaxError('CONFIG_INVALID', `nothing to follow: --from ${o.from} --to ${to}`);
    const chainId = await source.chainId();
    const version = (await api.rpc.state.getRuntimeVersion(await api.rpc.chain.getBlockHash(o.from))).specVersion.toNumber();
    const rules = selendraRules(version);
    const profile: ChainProfile = selendraProfile(rules, Number(chainId));
    const common: Common = createCommon(profile, nativeCrypto());
    o.onStart?.({ from: o.from, to, specVersion: version, chainId });
    store = await StateStore.open(createDatabase(o.dataDir), common, { undoDepth: 128, traceBlocks: 0 });
    const parent = await source.block(o.from - 1n, common);
    if (parent === undefined) throw new ParallaxError('SOURCE_FAILED', `${source.label} has no block ${o.from - 1n}`);
    const head0 = store.head();
    if (head0 === undefined) {
      await commitGenesis(store, {}, { number: parent.number, hash: parent.ethHash, parentHash: parent.header.parentHash, timestamp: parent.header.timestampMs / 1000n }, `${source.label} block ${parent.number} (empty state)`);
    } else if (head0.number !== parent.number || hex(head0.hash) !== hex(parent.ethHash)) {
      throw new ParallaxError('CONFIG_INVALID', `the data directory ${o.dataDir} is at block ${head0.number}, not at block ${parent.number} of this chain: use an empty data directory`);
    }
    const executor = await BlockExecutor.create({ common, store, frontier: rules });
    engine = await ParallelExecutor.create(executor, { workers: o.workers, minParallelTxs: 2, txTimeoutMs: 60_000, profile, kzg: false, trace: false });
    const state = new FrontierState(api, BigInt(rules.existentialDeposit));
    let matched = 0;
    let mismatched = 0;
    let repairs = 0;
    for (let n = o.from; n <= to; n++) {
      if (o.signal?.aborted) break;
      // The block's transactions share one Common of its own (see sharedTxCommon).
      const blockCommon = sharedTxCommon(common);
      let fb = await source.block(n, blockCommon);
      while (fb === undefined && o.wait && !o.signal?.aborted) {
        await new Promise((r) => setTimeout(r, 200));
        fb = await source.block(n, blockCommon);
      }
      if (fb === undefined) break;
      const rv = await api.rpc.state.getRuntimeVersion(fb.hash);
      if (rv.specVersion.toNumber() !== version && JSON.stringify(selendraRules(rv.specVersion.toNumber())) !== JSON.stringify(rules)) {
        throw new ParallaxError('SOURCE_FAILED', `block ${n}: the runtime changed from spec ${version} to ${rv.specVersion.toNumber()}, whose Frontier rules differ; start a new range at block ${n}`, { block: n });
      }
      const t0 = performance.now();
      const run = await runFrontierBlock({ engine, executor, store: store!, state, block: fb, common });
      const ok = run.mismatches.length === 0;
      const record = { number: n.toString(), hash: '0x' + hex(fb.ethHash), substrateHash: '0x' + hex(fb.hash), matched: ok, mismatches: run.mismatches, repairs: run.repairs, postState: run.postState, at: new Date().toISOString() };
      await engine.commitWith(run.executed.result, { json: JSON.stringify(record), mismatch: !ok });
      if (ok) matched++;
      else mismatched++;
      repairs += run.repairs.accounts + run.repairs.slots;
      o.onBlock({
        number: n,
        txs: fb.transactions.length,
        gas: fb.header.gasUsed,
        ms: performance.now() - t0,
        mode: run.executed.stats.mode,
        reexecuted: run.executed.stats.reexecuted,
        repairs: run.repairs.accounts + run.repairs.slots,
        postState: run.postState,
        mismatches: run.mismatches,
      });
    }
    return { matched, mismatched, repairs };
  } finally {
    await engine?.close();
    await store?.close();
    await source.close();
  }
}

/** One line per block, as `verify --ws` and `dev --chain selendra` print it. */
export function selendraBlockLine(r: SelendraBlockReport): string {
  const what = r.mismatches.length === 0 ? 'match' : `MISMATCH ${r.mismatches.slice(0, 3).map((m) => `${m.what}: ours ${m.ours}, chain ${m.chain}`).join('; ')}`;
  return `block ${r.number}  ${String(r.txs).padStart(4)} txs  ${String(r.gas).padStart(9)} gas  ${r.ms.toFixed(1).padStart(7)} ms  ${r.mode.padEnd(8)}  ${String(r.reexecuted).padStart(3)} re-exec  ${String(r.repairs).padStart(3)} repairs  post-state ${r.postState.accounts} accounts ${r.postState.slots} slots  ${what}`;
}
