/**
 * The daemon as a library: ingest (a BlockSource) -> engine (ParallelExecutor over the StateStore) -> verify, with
 * metrics and logs. The CLI (`parallax run`, `dev`, `verify`), the tests and the benchmarks drive this same code.
 *
 *   const node = await ParallaxNode.open({ config, source, log, metrics });
 *   await node.follow({ signal });   // until aborted, `until`, or a mismatch under the halt policy
 *   await node.close();              // engine, source, then the database last
 *
 * One block at a time: fetched ahead (bounded prefetch), checked to extend the executed head (else the reorg is
 * unwound through the undo journal), executed, verified against the canonical header, committed in one atomic batch
 * with its verification record. A stop request is honoured between blocks, so the database always ends at a
 * committed block; a restart resumes from the executed head.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Common } from '@ethereumjs/common';
import { Hardfork } from '@ethereumjs/common';
import { KECCAK256_RLP } from '@ethereumjs/util';
import { createCommon, type ChainProfile } from '../chain/profile.ts';
import type { Config } from '../config/index.ts';
import { loadKzg, nativeCrypto } from '../crypto/index.ts';
import { ParallaxError, errorMessage, isParallaxError } from '../errors.ts';
import { BlockExecutor } from '../exec/executor.ts';
import { ParallelExecutor, type BlockStats } from '../exec/parallel.ts';
import { sharedTxCommon } from '../exec/tx-common.ts';
import type { Logger } from '../log/index.ts';
import { recordBlock, type Metrics } from '../metrics/index.ts';
import { SourceHealth, type SourceErrorKind } from '../source/index.ts';
import { SelendraBlockSource } from '../source/selendra/block-source.ts';
import { runFrontierBlock, type FrontierRun } from '../source/selendra/verify.ts';
import type { WorkerFaults } from '../exec/protocol.ts';
import type { BlockTrace } from '../insight/trace.ts';
import { sleep } from '../source/ethereum/rpc.ts';
import type { BlockSource, ChainSetup, SourceBlock } from '../source/types.ts';
import type { Block } from '@ethereumjs/block';
import { createDatabase } from '../state/db.ts';
import { allocToDiff, commitGenesis } from '../state/genesis.ts';
import { StateStore, type BlockRecord } from '../state/store.ts';
import { bytesEqual, hex } from '../util/bytes.ts';
import { compare, diagnose, type VerificationRecord } from '../verify/index.ts';

export interface NodeOptions {
  config: Config;
  source: BlockSource;
  log: Logger;
  metrics: Metrics;
  /** The source's health as the RPC hooks see it (default: a fresh one). */
  health?: SourceHealth;
}

export interface BlockReport {
  number: bigint;
  hash: string;
  txs: number;
  gas: bigint;
  ms: number;
  mgasPerSec: number;
  reexecuted: number;
  mode: BlockStats['mode'];
  verification: VerificationRecord;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Stop once this block is executed. */
  until?: bigint;
  /** Called after every committed block. */
  onBlock?: (r: BlockReport) => void;
}

export interface FollowResult {
  /** Why following stopped. */
  reason: 'aborted' | 'until' | 'halted';
  head: bigint;
  matched: number;
  mismatched: number;
}

export interface NodeStatus {
  source: {
    kind: string;
    url: string;
    up: boolean;
    downSince: string | null;
    errorsSinceUp: number;
    /** The last failure: what, of which call (method) and kind (see SourceErrorKind), and when. */
    lastError: { message: string; method: string | null; kind: SourceErrorKind | null; at: string } | null;
  };
  chain: { name: string; chainId: number };
  heads: { executed: string; canonical: string | null; finalized: string | null; lag: number | null };
  lastBlock: { number: string; hash: string; stateRoot: string; receiptsRoot: string; matched: boolean | null } | null;
  lastMismatch: unknown;
  workers: { count: number; lastMode: string | null; lastRollbackRate: number | null; lastParallelFraction: number | null };
  counts: { executed: number; matched: number; mismatched: number; reorgs: number };
  startedAt: string;
}

const p = (b: Uint8Array) => '0x' + hex(b);

export class ParallaxNode {
  readonly config: Config;
  readonly source: BlockSource;
  readonly store: StateStore;
  readonly chain: ChainSetup;
  readonly engine: ParallelExecutor;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly common: Common;
  private canonicalHead: bigint | undefined;
  private finalizedHead: bigint | undefined;
  private sourceUp = false;
  private last: { record: BlockRecord; matched: boolean; stats: BlockStats } | undefined;
  private counts = { executed: 0, matched: 0, mismatched: 0, reorgs: 0 };
  /** Worker replacements already counted in the metrics. */
  private replacementsSeen = 0;
  /**
   * Settles once the last executed block's 'block' line is logged: when its batch is in LevelDB. A block's commit may
   * return while an idle worker still writes its batch (the next block runs meanwhile), and the line says the block is
   * durable, so it waits for the write (crash-stress.ts checks that no logged block is ever lost to a kill).
   */
  private announced: Promise<void> = Promise.resolve();
  private readonly startedAt = new Date().toISOString();
  private readonly health: SourceHealth;
  /**
   * Test hook (PARALLAX_TEST_WORKER_FAULTS="<block>:crash:<tx>,<block>:hang:<tx>"): make a worker crash or hang at a
   * transaction of a given block, the faults no real worker produces on demand. Unset in production.
   */
  private readonly faultPlan = parseFaultPlan(process.env.PARALLAX_TEST_WORKER_FAULTS);
  /** Consecutive failed rounds of the follow loop, for its back-off. */
  private sourceFailures = 0;
  private closed = false;

  private constructor(o: NodeOptions, store: StateStore, chain: ChainSetup, common: Common, engine: ParallelExecutor) {
    this.config = o.config;
    this.source = o.source;
    this.log = o.log;
    this.metrics = o.metrics;
    this.health = o.health ?? new SourceHealth();
    this.store = store;
    this.chain = chain;
    this.common = common;
    this.engine = engine;
  }

  /** Open the database (taking its lock), connect the source, initialise from genesis if empty, start the workers. */
  static async open(o: NodeOptions): Promise<ParallaxNode> {
    const { config, source, log } = o;
    const dir = resolve(config.dataDir);
    await mkdir(dir, { recursive: true });
    const chain = await source.open();
    const kzg = chainUsesKzg(chain.profile) ? await loadKzg() : undefined;
    const common = createCommon(chain.profile, nativeCrypto(kzg));
    let store: StateStore;
    let lastScanLog = performance.now();
    try {
      store = await StateStore.open(createDatabase(dir), common, {
        undoDepth: config.store.undoDepth,
        cacheEntries: config.store.cacheEntries,
        sync: config.store.sync,
        traceBlocks: config.engine.traceBlocks,
        compactionNice: config.store.compactionNice,
        onCompactionLowered: (tid) => log.info({ thread: tid, nice: config.store.compactionNice }, "LevelDB's compaction thread runs at a lower CPU priority"),
        accountFilter: config.store.accountFilter,
        onAccountFilter: (b) => log.info({ accounts: b.accounts, mb: +(b.bytes / 2 ** 20).toFixed(1), ms: Math.round(b.ms) }, 'account filter built: reads of accounts that do not exist skip LevelDB'),
        onNodeFileScan: (done, total) => {
          const now = performance.now();
          if (now - lastScanLog < 2000 || done === total) return;
          lastScanLog = now;
          log.info({ mb: Math.round(done / 2 ** 20), of: Math.round(total / 2 ** 20) }, 'indexing the trie node file');
        },
        onNodeFile: (f) => {
          log.info({ nodes: f.nodes, mb: +(f.bytes / 2 ** 20).toFixed(1), ms: Math.round(f.ms) }, 'trie node file indexed');
          if (f.unwound > 0) log.warn({ blocks: f.unwound }, 'the trie node file had lost the nodes of the last blocks (a power loss without store.sync): they were unwound and will be executed again');
        },
        onWriterFailed: (block, e) => log.warn({ block: Number(block), err: errorMessage(e) }, "the worker writing a block's batch failed: written on the main thread instead"),
      });
    } catch (e) {
      if (isParallaxError(e, 'DB_LOCKED')) {
        throw new ParallaxError('DB_LOCKED', `data directory ${dir} is in use by another Parallax process; stop it or choose another dataDir`, { dataDir: dir }, { cause: e });
      }
      throw e;
    }
    try {
      await ParallaxNode.initialise(store, chain, dir, log);
      const executor = await BlockExecutor.create({ common, store, frontier: chain.profile.frontier });
      const engine = await ParallelExecutor.create(executor, {
        workers: config.engine.workers,
        minParallelTxs: config.engine.minParallelTxs,
        minSpeculativeGas: config.engine.minSpeculativeGas,
        txTimeoutMs: config.engine.txTimeoutMs,
        workerNice: config.engine.workerNice,
        profile: chain.profile,
        kzg: kzg !== undefined,
        trace: config.engine.traceBlocks > 0,
      });
      o.metrics.workers.set(config.engine.workers);
      const nice = engine.workerNice;
      if (config.engine.workerNice > 0 && nice.length > 0) {
        if (nice.every((n) => n === config.engine.workerNice)) log.info({ workers: nice.length, nice: config.engine.workerNice }, 'worker threads run at a lower CPU priority than the main thread');
        else log.warn({ nice, wanted: config.engine.workerNice }, "some worker threads could not lower their CPU priority (not Linux, or the system refused); they run at the main thread's");
      }
      o.metrics.executedHead.set(Number(store.head()!.number));
      return new ParallaxNode(o, store, chain, common, engine);
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  /** An empty database gets the genesis state, checked against the node's genesis header first (nothing written if it differs). */
  private static async initialise(store: StateStore, chain: ChainSetup, dir: string, log: Logger): Promise<void> {
    const g = chain.genesis;
    const head = store.head();
    if (head === undefined) {
      const trie = await store.computeTrie(allocToDiff(chain.alloc, 'genesis alloc'));
      if (g.stateRoot !== undefined && bytesEqual(g.stateRoot, KECCAK256_RLP) && !bytesEqual(trie.stateRoot, KECCAK256_RLP)) {
        // Some dev nodes (anvil) report the empty root for a genesis they did load: block 1 proves the state instead.
        log.warn({ ours: p(trie.stateRoot) }, "the node's genesis header carries the empty state root; the genesis file is checked by block 1's root instead");
      } else if (g.stateRoot !== undefined && !bytesEqual(trie.stateRoot, g.stateRoot)) {
        throw new ParallaxError(
          'CONFIG_INVALID',
          `the genesis allocation gives state root ${p(trie.stateRoot)}, the node's block ${g.number} has ${p(g.stateRoot)}: wrong genesis file for this node`,
          { key: 'source.genesis' },
        );
      }
      await commitGenesis(store, chain.alloc, { number: g.number, hash: g.hash, parentHash: g.parentHash, timestamp: g.timestamp }, 'genesis alloc');
      log.info({ dataDir: dir, block: Number(g.number), stateRoot: p(trie.stateRoot) }, 'database initialised from genesis');
      return;
    }
    const first = await store.blockRecord(g.number);
    if (first !== undefined && !bytesEqual(first.hash, g.hash)) {
      throw new ParallaxError(
        'HEAD_MISMATCH',
        `data directory ${dir} holds another chain (its block ${g.number} is ${p(first.hash)}, the node's is ${p(g.hash)}); use another dataDir`,
        { dataDir: dir },
      );
    }
    log.info({ dataDir: dir, head: Number(head.number), hash: p(head.hash) }, 'resuming from the executed head');
  }

  /** Follow the source until `signal` aborts, `until` is executed, or a mismatch under the halt policy. */
  async follow(opts: FollowOptions = {}): Promise<FollowResult> {
    const { signal, until, onBlock } = opts;
    const cfg = this.config;
    const prefetched = new Map<bigint, Promise<SourceBlock | undefined | Error>>();
    /**
     * Prefetched blocks that have arrived: the two after the block being executed are handed to the engine early.
     */
    const arrived = new Map<bigint, SourceBlock>();
    const fetchAhead = (k: bigint) =>
      this.fetch(k).then((got) => {
        if (got !== undefined && !(got instanceof Error)) arrived.set(k, got);
        return got;
      });
    let matched = 0;
    let mismatched = 0;
    let lastHeadPoll = 0;
    // Returns once the last block's line is logged (its batch in LevelDB).
    const done = async (reason: FollowResult['reason']): Promise<FollowResult> => {
      await this.announced;
      return { reason, head: this.store.head()!.number, matched, mismatched };
    };
    while (signal?.aborted !== true) {
      try {
        const head = this.store.head()!;
        if (until !== undefined && head.number >= until) return done('until');
        const next = head.number + 1n;
        // Poll the node's head when we may have caught up, or every poll interval while catching up.
        if (this.canonicalHead === undefined || next > this.canonicalHead || performance.now() - lastHeadPoll > cfg.source.pollMs) {
          lastHeadPoll = performance.now();
          try {
            await this.pollHeads(signal);
          } catch (e) {
            if (!isParallaxError(e, 'SOURCE_FAILED')) throw e;
            await this.sourceTrouble(e, undefined, signal);
            continue;
          }
          if (isAborted(signal)) break;
        }
        if (next > this.canonicalHead!) {
          // Caught up (or the node is behind us): is our head still on the node's chain? Compare at the lower of the
          // two heads, so a node that restarted and is still re-importing is waited for, not unwound to.
          const at = minBig(head.number, this.canonicalHead!);
          const ours = at === head.number ? head : await this.store.blockRecord(at);
          const theirs = await this.source.hashAt(at);
          if (ours !== undefined && theirs !== undefined && !bytesEqual(ours.hash, theirs)) {
            prefetched.clear();
            await this.unwindReorg(signal);
            continue;
          }
          await sleep(cfg.source.pollMs, signal);
          continue;
        }
        const last = until === undefined ? this.canonicalHead! : minBig(until, this.canonicalHead!);
        for (let k = next; k < next + BigInt(cfg.source.prefetch) && k <= last; k++) {
          if (!prefetched.has(k)) prefetched.set(k, fetchAhead(k));
        }
        const got = await (prefetched.get(next) ?? this.fetch(next));
        prefetched.delete(next);
        arrived.delete(next);
        if (got instanceof Error) {
          // An error answer, or an answer that does not check out (wrong hash, undecodable): the block is asked for
          // again after a back-off, never skipped. Anything else is ours and ends the loop.
          if (!isParallaxError(got, 'SOURCE_FAILED')) throw got;
          prefetched.clear();
          await this.sourceTrouble(got, next, signal);
          continue;
        }
        if (got === undefined) {
          // The node no longer has this block (a reorg to a shorter chain): look again.
          prefetched.clear();
          this.canonicalHead = undefined;
          continue;
        }
        if (!bytesEqual(got.block.header.parentHash, head.hash)) {
          prefetched.clear();
          await this.unwindReorg(signal);
          continue;
        }
        const report = await this.executeBlock(got, arrived.get(next + 1n)?.block, arrived.get(next + 2n)?.block);
        if (report.verification.matched) matched++;
        else mismatched++;
        onBlock?.(report);
        if (!report.verification.matched && cfg.verify.onMismatch === 'halt') {
          this.log.error({ block: Number(report.number) }, 'halting on a mismatch (verify.onMismatch = halt)');
          return done('halted');
        }
      } catch (e) {
        // Any step that asks the node (heads, hashes for the reorg check, blocks) may meet a node in trouble:
        // back off and start the round again from the executed head. Errors that are not the source's end the loop.
        if (!isParallaxError(e, 'SOURCE_FAILED')) throw e;
        prefetched.clear();
        await this.sourceTrouble(e, this.store.head()!.number + 1n, signal);
      }
    }
    return done('aborted');
  }

  /** A source failure the follow loop survives: shown in /ready, /status, the metrics and the log; then back off. */
  private async sourceTrouble(e: ParallaxError, block: bigint | undefined, signal?: AbortSignal): Promise<void> {
    // The error's own kind (set by the source: timeout, unreachable, http, malformed, node_error, bad_answer); the
    // metric folds the kinds retried inside the RPC client into `unreachable`.
    const kind = (typeof e.details.kind === 'string' ? e.details.kind : e.details.rpcCode !== undefined ? 'node_error' : 'bad_answer') as SourceErrorKind;
    const method = typeof e.details.method === 'string' ? e.details.method : undefined;
    this.metrics.sourceErrors.inc({ kind: kind === 'node_error' || kind === 'bad_answer' ? kind : 'unreachable' });
    this.health.fail(e.message, method, kind);
    this.sourceUp = false;
    this.canonicalHead = undefined;
    this.sourceFailures++;
    const ms = Math.min(this.config.source.backoffMaxMs, 100 * 2 ** Math.min(this.sourceFailures - 1, 16));
    this.log.warn({ err: e.message, method, kind, block: block === undefined ? undefined : Number(block), retryInMs: ms, failures: this.sourceFailures }, 'source failed; retrying');
    await sleep(ms, signal);
  }

  private fetch(n: bigint): Promise<SourceBlock | undefined | Error> {
    // Each block gets its own Common: decoding sets the fork, and prefetched blocks may be of different forks. Its
    // transactions share it (see sharedTxCommon): the library would copy it and merge its parameter tables once per
    // transaction, which is most of the cost of decoding a block.
    return this.source.block(n, sharedTxCommon(this.common)).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  }

  private async pollHeads(signal?: AbortSignal): Promise<void> {
    try {
      this.canonicalHead = await this.source.head();
      this.finalizedHead = await this.source.finalized();
      this.sourceUp = true;
      this.sourceFailures = 0;
      this.health.ok();
    } catch (e) {
      this.sourceUp = false;
      if (signal?.aborted === true) return;
      throw e;
    }
    this.metrics.canonicalHead.set(Number(this.canonicalHead));
    if (this.finalizedHead !== undefined) this.metrics.finalizedHead.set(Number(this.finalizedHead));
    this.metrics.lagBlocks.set(Math.max(0, Number(this.canonicalHead - this.store.head()!.number)));
  }

  /** Walk back to the last block both sides agree on and unwind to it through the undo journal. */
  private async unwindReorg(signal?: AbortSignal): Promise<void> {
    const head = this.store.head()!;
    let n = head.number;
    const floor = head.number - BigInt(await this.store.unwindableDepth());
    let common = false;
    for (; n >= floor; n--) {
      if (signal?.aborted === true) return;
      const ours = await this.store.blockRecord(n);
      const theirs = await this.source.hashAt(n);
      if (ours !== undefined && theirs !== undefined && bytesEqual(ours.hash, theirs)) {
        common = true;
        break;
      }
    }
    if (!common) {
      throw new ParallaxError(
        'UNWIND_TOO_DEEP',
        `reorganisation deeper than the undo journal: no common block with the node between ${floor} and ${head.number} (store.undoDepth ${this.config.store.undoDepth}); re-sync into an empty dataDir`,
        { head: head.number },
      );
    }
    const depth = Number(head.number - n);
    if (depth === 0) return;
    await this.store.unwind(depth);
    this.engine.invalidateCaches();
    this.counts.reorgs++;
    this.metrics.reorgs.inc();
    this.metrics.unwoundBlocks.inc(depth);
    this.metrics.executedHead.set(Number(n));
    this.log.warn({ from: Number(head.number), to: Number(n), depth }, 'reorganisation: unwound to the common block');
  }

  /**
   * Execute, verify and commit one block; `next` (already fetched) gets its senders recovered meanwhile, and `after`
   * (the block after it, if fetched too) during the commit when `next` is to run on the main thread.
   */
  private async executeBlock({ block, canonical, frontier }: SourceBlock, next?: Block, after?: Block): Promise<BlockReport> {
    const t0 = performance.now();
    const fault = this.faultPlan.get(block.header.number);
    if (fault !== undefined) this.engine.injectFaults(fault);
    let executed;
    let frontierRun: FrontierRun | undefined;
    try {
      if (frontier !== undefined && this.source instanceof SelendraBlockSource) {
        // A Frontier block: reads repaired from the chain's parent state, then receipts, results and post-state checked.
        frontierRun = await runFrontierBlock({ engine: this.engine, executor: this.engine.executor, store: this.store, state: await this.source.state(), block: frontier, common: this.common });
        executed = frontierRun.executed;
        const repairs = frontierRun.repairs.accounts + frontierRun.repairs.slots;
        if (repairs > 0) this.metrics.driftRepairs.inc(repairs);
      } else {
        executed = await this.engine.execute(block, { next, after });
      }
    } catch (e) {
      if (isParallaxError(e, 'BLOCK_INVALID')) {
        // The chain included a block Parallax cannot execute: a consensus disagreement, never to be skipped.
        this.metrics.blocksMismatched.inc();
        this.metrics.mismatches.inc({ field: 'invalid' });
        this.log.error({ block: Number(canonical.number), hash: p(canonical.hash), err: e }, 'canonical block is invalid for Parallax');
      }
      if (isParallaxError(e, 'CONSERVATION_VIOLATED')) {
        this.metrics.conservationViolations.inc();
        this.log.fatal({ block: Number(canonical.number), err: e, accounts: e.details.accounts }, 'VALUE NOT CONSERVED: execution stopped, nothing of the block was written');
      }
      throw e;
    }
    const { result, stats, trace } = executed;
    const replaced = this.engine.replacements - this.replacementsSeen;
    if (replaced > 0) {
      this.replacementsSeen += replaced;
      this.metrics.workerReplacements.inc(replaced);
      const after = stats.mode === 'fallback' ? 'the block was re-executed serially' : 'its share of the state root was computed on the main thread';
      this.log.warn({ block: Number(canonical.number), reason: stats.fallbackReason, replaced }, `worker replaced; ${after}`);
    }
    const rec = compare(result, canonical);
    if (frontierRun !== undefined) {
      const checks = frontierRun.mismatches;
      rec.frontier = { repairs: frontierRun.repairs, postState: frontierRun.postState, checks };
      const tx = checks.find((c) => c.what.startsWith('tx '));
      if (tx !== undefined) {
        const index = Number(tx.what.split(' ')[1]);
        rec.firstTx = { index, hash: '0x' + hex(frontier!.transactions[index]?.hash ?? new Uint8Array()), what: tx.what.split(' ').slice(2).join(' '), ours: tx.ours, canonical: tx.chain };
      }
      const state = checks.filter((c) => c.what.startsWith('0x'));
      if (state.length > 0) rec.state = state.map((c) => ({ account: c.what.split(' ')[0], slot: c.what.includes(' slot ') ? c.what.split(' ')[2] : undefined, field: c.what.includes(' slot ') ? 'storage' : c.what.split(' ')[1], ours: c.ours, canonical: c.chain }));
      rec.matched = rec.matched && checks.length === 0;
    } else if (!rec.matched) {
      await diagnose(rec, result, this.source, canonical.number, (a) => this.store.getAccount(a)).catch(() => {});
    }
    // The previous block's batch is in LevelDB before this one is committed (the store waits for it anyway): its line
    // comes first.
    await this.announced;
    const t1 = performance.now();
    // One atomic batch: the block's state, its record, its verification and its trace, or nothing of them.
    this.log.debug({ block: Number(canonical.number) }, 'committing');
    const record = await this.engine.commitWith(result, { json: JSON.stringify(rec), mismatch: !rec.matched }, trace === undefined ? undefined : JSON.stringify(trace));
    const t2 = performance.now();
    const ms = t2 - t0;
    recordBlock(this.metrics, { gas: result.gasUsed, txs: block.transactions.length, seconds: ms / 1000, stateRootMs: result.timings.stateRootMs, commitMs: t2 - t1, stats, trace });
    this.metrics.executedHead.set(Number(record.number));
    if (this.canonicalHead !== undefined) this.metrics.lagBlocks.set(Math.max(0, Number(this.canonicalHead - record.number)));
    this.counts.executed++;
    if (rec.matched) {
      this.counts.matched++;
      this.metrics.blocksVerified.inc();
    } else {
      this.counts.mismatched++;
      this.metrics.blocksMismatched.inc();
      for (const m of rec.mismatches) this.metrics.mismatches.inc({ field: m.field });
      this.log.error(
        { block: Number(record.number), hash: rec.hash, mismatches: rec.mismatches, firstTx: rec.firstTx, state: rec.state },
        'MISMATCH: block differs from the canonical chain',
      );
    }
    this.last = { record, matched: rec.matched, stats };
    const report: BlockReport = {
      number: record.number,
      hash: rec.hash,
      txs: block.transactions.length,
      gas: result.gasUsed,
      ms,
      mgasPerSec: ms > 0 ? Number(result.gasUsed) / ms / 1000 : 0,
      reexecuted: stats.reexecuted,
      mode: stats.mode,
      verification: rec,
    };
    const line = {
      block: Number(record.number),
      txs: report.txs,
      gas: Number(report.gas),
      ms: Math.round(ms * 10) / 10,
      mgasPerSec: Math.round(report.mgasPerSec * 100) / 100,
      reexecuted: stats.reexecuted,
      mode: stats.mode,
      verified: rec.matched ? 'match' : 'MISMATCH',
    };
    // A batch that fails is reported by the store (DB_WRITE_FAILED at the next commit, which stops the loop).
    this.announced = this.store.flushed().then(
      () => this.log.info(line, 'block'),
      (e: unknown) => this.log.error({ block: line.block, err: e }, 'block executed, but its batch was not written'),
    );
    return report;
  }

  /** Caught up with the node within `http.readyLagBlocks`. */
  ready(): boolean {
    if (!this.sourceUp || !this.health.up || this.canonicalHead === undefined) return false;
    return this.canonicalHead - this.store.head()!.number <= BigInt(this.config.http.readyLagBlocks);
  }

  async status(): Promise<NodeStatus> {
    const head = this.store.head()!;
    const lastMismatch = await this.store.lastMismatch();
    return {
      source: {
        kind: this.source.kind,
        url: this.source.label,
        up: this.sourceUp && this.health.up,
        downSince: this.health.downSince,
        errorsSinceUp: this.health.errors,
        lastError: this.health.lastError,
      },
      chain: { name: this.chain.profile.name, chainId: this.chain.profile.chainId },
      heads: {
        executed: head.number.toString(),
        canonical: this.canonicalHead?.toString() ?? null,
        finalized: this.finalizedHead?.toString() ?? null,
        lag: this.canonicalHead === undefined ? null : Math.max(0, Number(this.canonicalHead - head.number)),
      },
      lastBlock: {
        number: head.number.toString(),
        hash: p(head.hash),
        stateRoot: p(head.stateRoot),
        receiptsRoot: p(head.receiptsRoot),
        matched: this.last?.record.number === head.number ? this.last.matched : null,
      },
      lastMismatch: lastMismatch?.record ?? null,
      workers: {
        count: this.config.engine.workers,
        lastMode: this.last?.stats.mode ?? null,
        lastRollbackRate: this.last?.stats.rollbackRate ?? null,
        lastParallelFraction: this.last?.stats.parallelFraction ?? null,
      },
      counts: { ...this.counts },
      startedAt: this.startedAt,
    };
  }

  /** The roots Parallax computed for block `n` and the canonical ones it was checked against. */
  /** The execution trace of block `n`, if it is among the last `engine.traceBlocks` executed. */
  async trace(n: bigint): Promise<BlockTrace | undefined> {
    return (await this.store.trace(n)) as BlockTrace | undefined;
  }

  async roots(n: bigint): Promise<unknown | undefined> {
    const r = await this.store.blockRecord(n);
    if (r === undefined) return undefined;
    const v = (await this.store.verification(n)) as VerificationRecord | undefined;
    return {
      number: n.toString(),
      hash: p(r.hash),
      parallax: { stateRoot: p(r.stateRoot), receiptsRoot: p(r.receiptsRoot), logsBloom: p(r.logsBloom), gasUsed: r.gasUsed.toString() },
      canonical: v?.canonical ?? null,
      matched: v?.matched ?? null,
      mismatches: v?.mismatches ?? [],
    };
  }

  /** Workers, the source, then the database last. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.announced;
    await this.engine.close().catch((e) => this.log.warn({ err: e }, 'closing the workers failed'));
    await this.source.close().catch((e) => this.log.warn({ err: e }, 'closing the source failed'));
    await this.store.close();
  }
}

function isAborted(signal?: AbortSignal): boolean {
  return signal?.aborted === true;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** KZG (the point-evaluation precompile, blob transactions) is needed only from Cancun on. */
function chainUsesKzg(profile: ChainProfile): boolean {
  return profile.forks === undefined || profile.forks.some((f) => f.name === Hardfork.Cancun || f.name === Hardfork.Prague || f.name === Hardfork.Osaka);
}


function parseFaultPlan(spec: string | undefined): Map<bigint, WorkerFaults> {
  const plan = new Map<bigint, WorkerFaults>();
  for (const item of (spec ?? '').split(',').filter((x) => x !== '')) {
    const m = /^(\d+):(crash|hang):(\d+)$/.exec(item.trim());
    if (m === null) throw new ParallaxError('CONFIG_INVALID', `PARALLAX_TEST_WORKER_FAULTS: "${item}" is not <block>:crash|hang:<tx>`);
    plan.set(BigInt(m[1]), m[2] === 'crash' ? { crashAtTx: Number(m[3]) } : { hangAtTx: Number(m[3]) });
  }
  return plan;
}
