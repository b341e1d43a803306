/**
 * Prometheus metrics, declared in one place against the daemon's own registry (never prom-client's global one), plus
 * prom-client's default process, GC and event-loop metrics on the same registry.
 *
 * Names carry their unit (`_seconds`, `_bytes`, `_total`). Labels are few and bounded (a reason, a worker index, an
 * RPC method from a fixed list); never a hash, an address or a block number. Gauges that describe the store (database
 * size) are filled at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BlockTrace } from '../insight/trace.ts';
import type { BlockStats } from '../exec/parallel.ts';
import type { LevelDbStats } from '../state/leveldb-stats.ts';

export type ReexecReason = 'conflict' | 'serial_tail' | 'fallback';

export interface MetricsOptions {
  /** Collect prom-client's process, GC and event-loop metrics too (default true). */
  defaults?: boolean;
  /** Filled at scrape time: the size of the data directory in bytes. */
  databaseBytes?: () => Promise<number> | number;
  /** Filled at scrape time: LevelDB's account of its flushes and compactions (undefined until the store is open). */
  leveldb?: () => LevelDbStats | undefined;
}

const MB = 1024 * 1024;

/**
 * A counter that follows a running total read at scrape time (LevelDB counts since the database opened): each scrape
 * adds what the total grew by since the last one.
 */
function followTotal(read: () => number | undefined) {
  let last = 0;
  return function collect(this: Counter) {
    const now = read();
    if (now !== undefined && now > last) {
      this.inc(now - last);
      last = now;
    }
  };
}

const BLOCK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const RPC_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(opts: MetricsOptions = {}) {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry });
  const reg = [registry];
  const databaseBytes = opts.databaseBytes;
  const leveldb = (pick: (s: LevelDbStats) => number) => () => {
    const s = opts.leveldb?.();
    return s === undefined ? undefined : pick(s);
  };
  const m = {
    registry,
    blocksExecuted: new Counter({ name: 'parallax_blocks_executed_total', help: 'Blocks executed and committed', registers: reg }),
    blocksVerified: new Counter({ name: 'parallax_blocks_verified_total', help: 'Blocks whose roots, bloom and gas equal the canonical header', registers: reg }),
    blocksMismatched: new Counter({ name: 'parallax_blocks_mismatched_total', help: 'Blocks that differ from the canonical chain', registers: reg }),
    mismatches: new Counter({
      name: 'parallax_mismatches_total',
      help: 'Mismatched fields by kind',
      labelNames: ['field'] as const,
      registers: reg,
    }),
    reorgs: new Counter({ name: 'parallax_reorgs_total', help: 'Chain reorganisations unwound', registers: reg }),
    unwoundBlocks: new Counter({ name: 'parallax_unwound_blocks_total', help: 'Blocks unwound through the undo journal', registers: reg }),
    executedHead: new Gauge({ name: 'parallax_executed_head', help: 'Number of the last executed and committed block', registers: reg }),
    canonicalHead: new Gauge({ name: 'parallax_canonical_head', help: "Number of the source node's latest block", registers: reg }),
    finalizedHead: new Gauge({ name: 'parallax_finalized_head', help: "Number of the source node's finalized block", registers: reg }),
    lagBlocks: new Gauge({ name: 'parallax_lag_blocks', help: 'Canonical head minus executed head', registers: reg }),
    blockSeconds: new Histogram({
      name: 'parallax_block_execution_seconds',
      help: 'Wall time per block: execution, state root and commit',
      buckets: BLOCK_SECONDS,
      registers: reg,
    }),
    gas: new Counter({ name: 'parallax_gas_total', help: 'Gas executed (rate() gives gas per second)', registers: reg }),
    txs: new Counter({ name: 'parallax_transactions_total', help: 'Transactions executed', registers: reg }),
    reexecutions: new Counter({
      name: 'parallax_reexecutions_total',
      help: 'Transactions executed again on the main thread, by reason',
      labelNames: ['reason'] as const,
      registers: reg,
    }),
    rollbackRate: new Gauge({ name: 'parallax_rollback_rate', help: 'Share of the last block\'s transactions re-executed after a conflict', registers: reg }),
    parallelFraction: new Gauge({ name: 'parallax_parallel_fraction', help: 'Share of the last block\'s transactions committed from their first speculative run', registers: reg }),
    blockMode: new Counter({
      name: 'parallax_blocks_by_mode_total',
      help: 'Blocks by execution mode (parallel, serial, fallback)',
      labelNames: ['mode'] as const,
      registers: reg,
    }),
    workerBusy: new Counter({
      name: 'parallax_worker_busy_seconds_total',
      help: 'Time each worker thread spent executing or recovering senders',
      labelNames: ['worker'] as const,
      registers: reg,
    }),
    speedupBound: new Gauge({ name: 'parallax_speedup_bound', help: "Last block's speedup bound: total execution time over its critical path of true dependencies", registers: reg }),
    speedupAchieved: new Gauge({ name: 'parallax_speedup_achieved', help: "Last block's achieved speedup: total execution time of committed runs over the transaction phase's wall time", registers: reg }),
    speedupBoundHist: new Histogram({
      name: 'parallax_block_speedup_bound',
      help: 'Speedup bound per block (critical path of the dependency graph)',
      buckets: [1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 32, 64],
      registers: reg,
    }),
    speedupAchievedHist: new Histogram({
      name: 'parallax_block_speedup_achieved',
      help: 'Achieved speedup per block',
      buckets: [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16],
      registers: reg,
    }),
    conservationViolations: new Counter({ name: 'parallax_conservation_violations_total', help: 'Blocks whose balance changes did not equal minted minus burned (execution stops on one)', registers: reg }),
    driftRepairs: new Counter({ name: 'parallax_drift_repairs_total', help: 'Frontier chains: accounts and slots whose parent state Parallax corrected from the chain before a block (state it lacked or that moved outside the EVM)', registers: reg }),
    workerReplacements: new Counter({ name: 'parallax_worker_replacements_total', help: 'Worker threads replaced after they crashed or hung (their block re-ran serially)', registers: reg }),
    workers: new Gauge({ name: 'parallax_workers', help: 'Execution worker threads (1 = serial path)', registers: reg }),
    scheduling: new Counter({ name: 'parallax_scheduling_seconds_total', help: "Main-thread time spent partitioning and dispatching blocks, on each block's critical path", registers: reg }),
    schedulingAhead: new Counter({
      name: 'parallax_scheduling_ahead_seconds_total',
      help: 'Main-thread time spent on the next block\'s schedule while the previous block finished (serializing, partitioning)',
      registers: reg,
    }),
    stateRootSeconds: new Counter({ name: 'parallax_state_root_seconds_total', help: 'Time spent computing state roots', registers: reg }),
    commitSeconds: new Counter({ name: 'parallax_state_commit_seconds_total', help: 'Time spent committing blocks on their path: packing the LevelDB batch, and writing it unless the idle worker does', registers: reg }),
    databaseBytes: new Gauge({
      name: 'parallax_database_bytes',
      help: 'Size of the LevelDB data directory',
      registers: reg,
      async collect() {
        if (databaseBytes !== undefined) this.set(await databaseBytes());
      },
    }),
    leveldbCompactionSeconds: new Counter({
      name: 'parallax_leveldb_compaction_seconds_total',
      help: "LevelDB's time flushing and compacting tables, on its own thread (rate() gives the share of wall time); whole seconds per level",
      registers: reg,
      collect: followTotal(leveldb((s) => s.compactionSec)),
    }),
    leveldbCompactionRead: new Counter({
      name: 'parallax_leveldb_compaction_read_bytes_total',
      help: "Bytes LevelDB's compactions read (whole MB per level)",
      registers: reg,
      collect: followTotal(leveldb((s) => s.readMb * MB)),
    }),
    leveldbCompactionWritten: new Counter({
      name: 'parallax_leveldb_compaction_written_bytes_total',
      help: "Bytes LevelDB's flushes and compactions wrote (whole MB per level): against the blocks' own writes, its write amplification",
      registers: reg,
      collect: followTotal(leveldb((s) => s.writtenMb * MB)),
    }),
    leveldbTables: new Gauge({
      name: 'parallax_leveldb_tables',
      help: "LevelDB's table files, all levels",
      registers: reg,
      collect() {
        const n = leveldb((s) => s.files)();
        if (n !== undefined) this.set(n);
      },
    }),
    leveldbTableBytes: new Gauge({
      name: 'parallax_leveldb_table_bytes',
      help: "Size of LevelDB's tables, all levels (whole MB per level)",
      registers: reg,
      collect() {
        const n = leveldb((s) => s.sizeMb * MB)();
        if (n !== undefined) this.set(n);
      },
    }),
    rpcSeconds: new Histogram({
      name: 'parallax_rpc_request_seconds',
      help: 'Latency of requests to the source node, by method',
      labelNames: ['method'] as const,
      buckets: RPC_SECONDS,
      registers: reg,
    }),
    rpcErrors: new Counter({
      name: 'parallax_rpc_errors_total',
      help: 'Failed requests to the source node, by method',
      labelNames: ['method'] as const,
      registers: reg,
    }),
    sourceErrors: new Counter({
      name: 'parallax_source_errors_total',
      help: 'Source failures, all retried: unreachable (transport, timeout, malformed answer), node_error (a JSON-RPC error answer), bad_answer (an answer that does not check out)',
      labelNames: ['kind'],
      registers: reg,
    }),
    rpcReconnects: new Counter({ name: 'parallax_rpc_reconnects_total', help: 'Times the source node came back after being unreachable', registers: reg }),
    nodeUp: new Gauge({ name: 'parallax_node_up', help: '1 while the source node answers, 0 otherwise', registers: reg }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Metric names the daemon exports (its own and the default ones), for checks such as the dashboard test. */
export async function exportedNames(metrics: Metrics): Promise<string[]> {
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (metric.type === ('histogram' as unknown as typeof metric.type)) {
      for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
    }
  }
  return [...names].sort();
}

/** Record one executed block's figures. */
export function recordBlock(m: Metrics, b: { gas: bigint; txs: number; seconds: number; stateRootMs: number; commitMs: number; stats: BlockStats; trace?: BlockTrace }): void {
  m.blocksExecuted.inc();
  m.gas.inc(Number(b.gas));
  m.txs.inc(b.txs);
  m.blockSeconds.observe(b.seconds);
  const s = b.stats;
  m.blockMode.inc({ mode: s.mode });
  if (s.reexecuted > 0) m.reexecutions.inc({ reason: 'conflict' }, s.reexecuted);
  if (s.mode === 'parallel' && s.serialTail > 0) m.reexecutions.inc({ reason: 'serial_tail' }, s.serialTail);
  if (s.mode === 'fallback') m.reexecutions.inc({ reason: 'fallback' }, s.txs);
  m.rollbackRate.set(s.rollbackRate);
  m.parallelFraction.set(s.parallelFraction);
  s.workerBusyMs.forEach((ms, w) => m.workerBusy.inc({ worker: String(w) }, ms / 1000));
  m.scheduling.inc(s.schedulingMs / 1000);
  m.schedulingAhead.inc(s.scheduledAheadMs / 1000);
  m.stateRootSeconds.inc(b.stateRootMs / 1000);
  m.commitSeconds.inc(b.commitMs / 1000);
  if (b.trace !== undefined && b.trace.txs.length > 0) {
    m.speedupBound.set(b.trace.speedup.boundByTime);
    m.speedupAchieved.set(b.trace.speedup.achieved);
    m.speedupBoundHist.observe(b.trace.speedup.boundByTime);
    m.speedupAchievedHist.observe(b.trace.speedup.achieved);
  }
}

/** Markdown table of the project's own metrics (name, type, labels, help), for the README: generated, never hand-kept. */
export async function metricsTable(metrics: Metrics): Promise<string> {
  const rows: string[] = [];
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('parallax_')) continue;
    const labels = new Set<string>();
    for (const v of m.values) for (const k of Object.keys(v.labels ?? {})) if (k !== 'le') labels.add(k);
    const declared = (metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] } | undefined)?.labelNames ?? [];
    for (const l of declared) labels.add(l);
    rows.push(`| \`${m.name}\` | ${String(m.type)} | ${[...labels].join(', ')} | ${m.help} |`);
  }
  return ['| metric | type | labels | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
