/**
 * The container files checked against the daemon itself: every metric a Grafana query names is one the daemon exports,
 * the panels use the provisioned data source, Prometheus scrapes the port the daemon listens on, the compose services
 * start with a configuration the daemon accepts, every file the compose file mounts exists, and both health checks
 * ask /health. No Docker engine is needed: see docker/README.md for what was validated with one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createMetrics, exportedNames } from '../src/metrics/index.ts';
import type { LevelDbStats } from '../src/state/leveldb-stats.ts';
import { loadConfig } from '../src/config/index.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';

// ---------------------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression selects.

/** PromQL functions and aggregation operators (Prometheus 2.x/3.x): identifiers that may be followed by `(`. */
const FUNCTIONS = new Set([
  // aggregations
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
  // functions
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg_over_time', 'ceil', 'changes', 'clamp',
  'clamp_max', 'clamp_min', 'cos', 'cosh', 'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg',
  'delta', 'deriv', 'double_exponential_smoothing', 'exp', 'floor', 'histogram_avg', 'histogram_count', 'histogram_fraction',
  'histogram_quantile', 'histogram_stddev', 'histogram_stdvar', 'histogram_sum', 'holt_winters', 'hour', 'idelta', 'increase', 'info',
  'irate', 'label_join', 'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'mad_over_time', 'max_over_time', 'min_over_time',
  'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar',
  'sgn', 'sin', 'sinh', 'sort', 'sort_by_label', 'sort_by_label_desc', 'sort_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time',
  'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year',
  // @ modifier helpers
  'start', 'end',
]);
/** Keywords: binary set operators, modifiers, vector-matching words, literals. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'atan2', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

export interface PromNames {
  metrics: string[];
  /** Identifiers followed by `(` that are not PromQL functions (a typo, or a metric written as a call). */
  unknownFunctions: string[];
}

/** Metric names in a PromQL expression (Grafana variables allowed): identifiers that are not functions, keywords, label
 * names, strings, numbers or durations. `{__name__="x"}` selectors count too. */
export function promNames(expr: string): PromNames {
  const metrics: string[] = [];
  for (const m of expr.matchAll(/__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"/g)) metrics.push(m[1]);
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ') // label lists, with their keyword
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries (durations, $__rate_interval)
    .replace(/\$\{[^}]*\}|\$\w+/g, ' '); // Grafana variables elsewhere
  const unknownFunctions: string[] = [];
  for (const m of e.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = m[1];
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (m[2] !== undefined) {
      if (!FUNCTIONS.has(word)) unknownFunctions.push(word);
      continue;
    }
    metrics.push(word);
  }
  return { metrics, unknownFunctions };
}

// ---------------------------------------------------------------------------------------------------------------
// The dashboard.

interface Target { expr: string; refId: string; datasource?: { type?: string; uid?: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number } }
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; datasource?: { uid?: string }; definition?: string; query?: string | { query: string } }[] };
}

/** Series Prometheus adds to every scrape itself (not exported by the daemon): allowed in queries. */
const SCRAPE_SERIES = new Set(['up']);

const read = (p: string) => readFileSync(join(PROJECT_ROOT, p), 'utf8');
const dashboardFile = 'docker/grafana/dashboards/parallax.json';

/** Everything wrong with a dashboard against the exported names and the data source uid; [] when it is right. */
function dashboardProblems(dash: Dashboard, exported: Set<string>, uid: string): { problems: string[]; used: Set<string> } {
  const problems: string[] = [];
  const used = new Set<string>();
  // A histogram's family name (X with X_bucket exported) is not a series Prometheus stores: only X_bucket/_sum/_count are.
  const histograms = new Set([...exported].filter((n) => exported.has(`${n}_bucket`)));
  const checkExpr = (where: string, expr: string) => {
    const { metrics, unknownFunctions } = promNames(expr);
    if (metrics.length === 0) problems.push(`${where}: no metric in ${expr}`);
    for (const f of unknownFunctions) problems.push(`${where}: ${f}( is not a PromQL function`);
    for (const n of metrics) {
      used.add(n);
      if (histograms.has(n)) problems.push(`${where}: ${n} is a histogram family; query ${n}_bucket, _sum or _count`);
      else if (!exported.has(n) && !SCRAPE_SERIES.has(n)) problems.push(`${where}: ${n} is not exported by the daemon`);
    }
  };
  const ids = new Set<number>();
  for (const p of dash.panels) {
    if (ids.has(p.id)) problems.push(`panel id ${p.id} repeated`);
    ids.add(p.id);
    if (p.gridPos.x + p.gridPos.w > 24) problems.push(`${p.title}: wider than the 24-column grid`);
    if (p.type === 'row') continue;
    if (p.datasource?.uid !== uid) problems.push(`${p.title}: data source ${p.datasource?.uid}, provisioned ${uid}`);
    if (!p.targets?.length) problems.push(`${p.title}: no queries`);
    const refIds = new Set<string>();
    for (const t of p.targets ?? []) {
      if (refIds.has(t.refId)) problems.push(`${p.title}: refId ${t.refId} repeated`);
      refIds.add(t.refId);
      if (t.datasource?.uid !== uid) problems.push(`${p.title} ${t.refId}: data source ${t.datasource?.uid}, provisioned ${uid}`);
      checkExpr(`${p.title} ${t.refId}`, t.expr);
    }
  }
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    if (v.datasource?.uid !== uid) problems.push(`variable ${v.name}: data source ${v.datasource?.uid}, provisioned ${uid}`);
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
    const lv = /^label_values\(\s*(.+?)\s*,\s*[a-zA-Z_]\w*\s*\)$/.exec(q.trim());
    checkExpr(`variable ${v.name}`, lv ? lv[1] : q);
  }
  return { problems, used };
}

test('promNames: metric names out of PromQL, whatever surrounds them', () => {
  const names = (e: string) => promNames(e).metrics;
  assert.deepEqual(names('rate(parallax_gas_total[1m]) / 1e6'), ['parallax_gas_total']);
  assert.deepEqual(names('sum by (le, method) (rate(parallax_rpc_request_seconds_bucket{job="x",method=~"eth_.*"}[5m]))'), ['parallax_rpc_request_seconds_bucket']);
  assert.deepEqual(names('sum(rate(a_total{job="$job"}[$__rate_interval])) without (worker) / on (job) group_left (instance) b_seconds offset 5m'), ['a_total', 'b_seconds']);
  assert.deepEqual(names('histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le)) > bool 0.5 and up{job=~"${job}"} unless c:recorded:rate5m'), ['x_bucket', 'up', 'c:recorded:rate5m']);
  assert.deepEqual(names('label_replace(m_a, "dst", "$1", "src", "(.*)") or {__name__="m_b"} or max_over_time(m_c[10m:1m]) @ end()'), ['m_b', 'm_a', 'm_c']);
  assert.deepEqual(names('0x1f + 1.5e-3 + Inf - NaN'), []);
  assert.deepEqual(promNames('rte(parallax_gas_total[1m])').unknownFunctions, ['rte']);
});

test('dashboard: every metric in every query is exported by the daemon; panels use the provisioned data source', async () => {
  const dash = JSON.parse(read(dashboardFile)) as Dashboard;
  assert.equal(dash.uid, 'parallax');
  assert.equal(dash.title, 'Parallax');
  assert.ok(dash.schemaVersion >= 36 && dash.schemaVersion <= 41, `schemaVersion ${dash.schemaVersion}`);

  const exported = new Set(await exportedNames(createMetrics()));
  assert.ok(exported.has('parallax_gas_total') && exported.has('process_resident_memory_bytes'));
  assert.ok(!exported.has('parallax_not_a_metric_total'));

  const ds = parse(read('docker/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; type: string; url: string }[] };
  assert.equal(ds.datasources.length, 1);
  const { uid, type, url } = ds.datasources[0];
  assert.deepEqual([uid, type, url], ['prometheus', 'prometheus', 'http://prometheus:9090']);

  const { problems, used } = dashboardProblems(dash, exported, uid);
  assert.deepEqual(problems, []);
  assert.ok(dash.panels.filter((p) => p.type !== 'row').length >= 15);

  // The check can fail: a wrong metric name, a histogram family name, a misspelt function or another data source.
  const broken = JSON.parse(read(dashboardFile)) as Dashboard;
  const panel = broken.panels.find((p) => p.targets?.some((t) => t.expr.includes('parallax_gas_total')))!;
  const target = panel.targets!.find((t) => t.expr.includes('parallax_gas_total'))!;
  target.expr = target.expr.replace('parallax_gas_total', 'parallax_not_a_metric_total');
  panel.targets!.push({ refId: 'Y', datasource: { uid }, expr: 'rte(parallax_block_execution_seconds[1m])' });
  panel.targets!.push({ refId: 'Z', datasource: { uid: 'other' }, expr: 'parallax_workers' });
  const found = dashboardProblems(broken, exported, uid).problems.join('\n');
  assert.match(found, /parallax_not_a_metric_total is not exported by the daemon/);
  assert.match(found, /parallax_block_execution_seconds is a histogram family/);
  assert.match(found, /rte\( is not a PromQL function/);
  assert.match(found, /Z: data source other, provisioned prometheus/);

  // What operators watch is on it.
  for (const n of [
    'parallax_gas_total', 'parallax_transactions_total', 'parallax_block_execution_seconds_bucket', 'parallax_rollback_rate',
    'parallax_parallel_fraction', 'parallax_reexecutions_total', 'parallax_lag_blocks', 'parallax_executed_head', 'parallax_canonical_head',
    'parallax_finalized_head', 'parallax_blocks_verified_total', 'parallax_blocks_mismatched_total', 'parallax_mismatches_total',
    'parallax_worker_busy_seconds_total', 'parallax_scheduling_seconds_total', 'parallax_state_root_seconds_total',
    'parallax_state_commit_seconds_total', 'parallax_rpc_request_seconds_bucket', 'parallax_rpc_errors_total',
    'parallax_rpc_reconnects_total', 'parallax_node_up', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_seconds', 'parallax_database_bytes',
  ]) {
    assert.ok(used.has(n), `the dashboard shows ${n}`);
  }
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr.replace(/\{[^}]*\}/g, '') })));
  assert.ok(exprs.some((e) => e.expr === 'rate(parallax_gas_total[1m]) / 1e6'), 'Mgas/s');
  assert.ok(exprs.some((e) => /histogram_quantile\(0\.5, /.test(e.expr)) && exprs.some((e) => /histogram_quantile\(0\.99, /.test(e.expr)), 'p50 and p99');
  // No serial baseline runs in the daemon: the "speedup" panel says so and shows what can be measured.
  const speedup = exprs.filter((e) => /no serial baseline/i.test(e.title));
  assert.ok(speedup.some((e) => e.expr === 'sum(rate(parallax_worker_busy_seconds_total[1m]))'), 'busy worker-seconds per second');
  assert.ok(speedup.some((e) => e.expr === 'parallax_parallel_fraction'), 'parallel fraction');

  const prov = parse(read('docker/grafana/provisioning/dashboards/parallax.yml')) as { providers: { type: string; options: { path: string } }[] };
  assert.equal(prov.providers[0].type, 'file');
  assert.equal(prov.providers[0].options.path, '/var/lib/grafana/dashboards');
});

// ---------------------------------------------------------------------------------------------------------------
// Prometheus, compose, Dockerfile.

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  profiles?: string[];
  ports?: string[];
  volumes?: (string | { type: string; source: string; target: string })[];
  healthcheck?: { test: string[] };
  environment?: Record<string, string>;
  depends_on?: string[];
}

/** Dockerfile instructions with their continuation lines joined. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** `${NAME:-default}` / `${NAME-default}` as Compose resolves them with NAME unset. */
const composeDefault = (v: string) => String(v).replace(/\$\{[A-Z0-9_]+:?-([^}]*)\}/g, '$1');

test('prometheus scrapes the daemon; compose services, mounts, health checks and configuration; Dockerfile', async () => {
  const prom = parse(read('docker/prometheus/prometheus.yml')) as { global: { scrape_interval: string }; scrape_configs: { job_name: string; scrape_interval?: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] };
  const job = prom.scrape_configs.find((j) => j.job_name === 'parallax');
  assert.deepEqual(job?.static_configs[0].targets, ['parallax:9615']);
  assert.equal(job?.scrape_interval ?? prom.global.scrape_interval, '5s');
  assert.equal(job?.metrics_path ?? '/metrics', '/metrics');

  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
  const svc = compose.services;
  for (const s of ['parallax', 'prometheus', 'grafana', 'selendra', 'parallax-selendra']) assert.ok(svc[s], s);
  assert.deepEqual(svc.selendra.profiles, ['selendra']);
  assert.deepEqual(svc['parallax-selendra'].profiles, ['selendra']);
  for (const s of ['parallax', 'prometheus', 'grafana']) assert.equal(svc[s].profiles, undefined, `${s} runs without a profile`);
  assert.ok(svc.parallax.ports?.includes('9615:9615'));
  assert.ok(svc.grafana.ports?.includes('3000:3000'));
  assert.ok(svc.grafana.depends_on?.includes('prometheus'));
  assert.equal(svc.grafana.environment?.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.equal(svc.grafana.environment?.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer');
  assert.ok(svc['parallax-selendra'].depends_on?.includes('selendra'));

  // Mounts: every repository path exists, and the containers find the files where their configuration says.
  const mounts = new Map<string, Map<string, string>>(); // service -> container path -> repository path
  for (const [name, s] of Object.entries(svc)) {
    const m = new Map<string, string>();
    for (const v of s.volumes ?? []) {
      const [source, target] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
      if (!/^\.{0,2}\//.test(source)) continue; // a named volume
      assert.ok(existsSync(join(PROJECT_ROOT, source)), `${name} mounts ${source}, which exists`);
      m.set(target, source);
    }
    mounts.set(name, m);
  }
  const promConfig = svc.prometheus.command?.find((a) => a.startsWith('--config.file='))?.slice('--config.file='.length);
  assert.equal(mounts.get('prometheus')?.get(promConfig!), './docker/prometheus/prometheus.yml');
  assert.equal(mounts.get('grafana')?.get('/etc/grafana/provisioning'), './docker/grafana/provisioning');
  assert.equal(mounts.get('grafana')?.get('/var/lib/grafana/dashboards'), './docker/grafana/dashboards');
  const home = svc.grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  assert.equal(home, '/var/lib/grafana/dashboards/parallax.json');
  assert.ok(existsSync(join(PROJECT_ROOT, 'docker/grafana/dashboards/parallax.json')));

  // The Dockerfile.
  const df = instructions(read('Dockerfile'));
  const froms = df.filter((i) => i.op === 'FROM');
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f.args, /^node:24(\.[\d.]+)?-(slim|bookworm-slim)\b/);
  assert.ok(df.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)));
  // Sender recovery on Debian's libsecp256k1: the add-on is built in the first stage (or the build fails), copied, and
  // the last stage has the library it links to.
  const last = df.slice(df.lastIndexOf(froms.at(-1)!));
  assert.ok(df.slice(0, df.lastIndexOf(froms.at(-1)!)).some((i) => i.op === 'RUN' && /scripts\/build-native\.ts --require/.test(i.args)));
  assert.ok(last.some((i) => i.op === 'COPY' && /--from=deps \/app\/build \.\/build/.test(i.args)));
  assert.ok(last.some((i) => i.op === 'RUN' && /apt-get install .*libsecp256k1-1\b/.test(i.args)));
  assert.ok(last.some((i) => i.op === 'RUN' && /recoveryBackend !== 'system'/.test(i.args)), 'the image checks that recovery uses the system library');
  const user = df.filter((i) => i.op === 'USER').at(-1)?.args;
  assert.ok(user !== undefined && user !== 'root' && user !== '0', `runs as ${user}`);
  assert.ok(df.some((i) => i.op === 'VOLUME' && /"\/data"|^\/data$/.test(i.args)));
  assert.ok(df.some((i) => i.op === 'EXPOSE' && i.args.split(/\s+/).includes('9615')));
  const healthcheck = df.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
  assert.match(healthcheck, /CMD \["node", "-e", ".*\/health'/);
  const entrypoint = JSON.parse(df.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
  assert.deepEqual(entrypoint.slice(0, 1), ['node']);
  assert.ok(existsSync(join(PROJECT_ROOT, entrypoint[1])), `${entrypoint[1]} exists`);
  assert.deepEqual(JSON.parse(df.filter((i) => i.op === 'CMD').at(-1)!.args), ['run']);
  for (const c of df.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    for (const src of c.args.split(/\s+/).slice(0, -1)) assert.ok(existsSync(join(PROJECT_ROOT, src)), `COPY ${src}: exists`);
  }
  const imageEnv: Record<string, string> = {};
  for (const e of df.filter((i) => i.op === 'ENV')) for (const m of e.args.matchAll(/(\w+)=(\S+)/g)) imageEnv[m[1]] = m[2];
  assert.equal(imageEnv.PARALLAX_DATA_DIR, '/data');
  assert.equal(imageEnv.PARALLAX_HTTP_HOST, '0.0.0.0');
  assert.equal(imageEnv.PARALLAX_LOG_FORMAT, 'json');

  // Each Parallax service: the daemon accepts its configuration (image ENV < compose environment, `-c` from its
  // command), listens where Prometheus and the health check look, and keeps its data in /data.
  for (const name of ['parallax', 'parallax-selendra']) {
    const s = svc[name];
    assert.ok(s.build !== undefined && s.image === svc.parallax.image, `${name} is built from this repository`);
    const health = s.healthcheck?.test.join(' ') ?? '';
    assert.match(health, /^CMD node -e .*http:\/\/127\.0\.0\.1:9615\/health'/, `${name} health check asks /health`);
    const env = { ...imageEnv, ...Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, composeDefault(v)])) };
    const cmd = s.command ?? ['run'];
    const c = cmd.indexOf('-c');
    const cfg = await loadConfig({ file: c >= 0 ? cmd[c + 1] : undefined, env });
    assert.equal(cfg.http.enabled, true, name);
    assert.equal(cfg.http.host, '0.0.0.0', name);
    assert.equal(cfg.http.port, 9615, name);
    assert.equal(cfg.dataDir, '/data', name);
    assert.ok(s.volumes?.some((v) => typeof v === 'string' && v.endsWith(':/data')), `${name} keeps /data in a volume`);
    assert.ok(prom.scrape_configs.some((j) => j.static_configs.some((sc) => sc.targets.includes(`${name}:9615`))), `prometheus scrapes ${name}`);
  }
  const selendraCmd = svc['parallax-selendra'].command ?? [];
  assert.equal(selendraCmd[selendraCmd.indexOf('-c') + 1], 'selendra-mainnet');
  assert.equal(svc['parallax-selendra'].environment?.PARALLAX_SOURCE_URL, 'ws://selendra:9944');
});

test("LevelDB's metrics follow its running totals from scrape to scrape, and hold while it has none", async () => {
  let stats: LevelDbStats | undefined;
  const m = createMetrics({ defaults: false, leveldb: () => stats });
  const scrape = async () => {
    const out = new Map<string, number>();
    for (const metric of await m.registry.getMetricsAsJSON()) if (metric.name.startsWith('parallax_leveldb_')) out.set(metric.name, metric.values[0]?.value ?? NaN);
    return out;
  };
  const MB = 2 ** 20;
  assert.equal((await scrape()).get('parallax_leveldb_compaction_seconds_total'), 0, 'nothing before the store opens');
  stats = { files: 12, sizeMb: 26, compactionSec: 5, readMb: 30, writtenMb: 34 };
  assert.deepEqual(await scrape(), new Map([
    ['parallax_leveldb_compaction_seconds_total', 5],
    ['parallax_leveldb_compaction_read_bytes_total', 30 * MB],
    ['parallax_leveldb_compaction_written_bytes_total', 34 * MB],
    ['parallax_leveldb_tables', 12],
    ['parallax_leveldb_table_bytes', 26 * MB],
  ]));
  stats = { files: 9, sizeMb: 31, compactionSec: 7, readMb: 50, writtenMb: 60 };
  const second = await scrape();
  assert.equal(second.get('parallax_leveldb_compaction_seconds_total'), 7);
  assert.equal(second.get('parallax_leveldb_compaction_written_bytes_total'), 60 * MB);
  assert.equal(second.get('parallax_leveldb_tables'), 9, 'a gauge: fewer tables after a compaction');
  stats = undefined;
  assert.deepEqual(await scrape(), second, 'held while there is nothing to read');
});
