/**
 * The Grafana dashboard and the Prometheus/compose/Docker files: every metric a dashboard query names is one the
 * daemon exports, the data source the panels use is the provisioned one, Prometheus scrapes the daemon's port, and
 * the compose file mounts files that exist and health-checks /health.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createMetrics, exportedNames } from '../src/metrics/index.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels, strings or numbers. */
export function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const names: string[] = [];
  for (const m of e.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] !== undefined) continue; // a function call
    if (KEYWORDS.has(m[1].toLowerCase())) continue;
    names.push(m[1]);
  }
  return names;
}

const read = (p: string) => readFileSync(join(PROJECT_ROOT, p), 'utf8');

test('dashboard: every metric in every query is exported by the daemon; panels use the provisioned data source', async () => {
  const dash = JSON.parse(read('docker/grafana/dashboards/parallax.json')) as { uid: string; panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[] };
  const exported = new Set(await exportedNames(createMetrics()));
  assert.ok(exported.has('parallax_gas_total') && exported.has('process_resident_memory_bytes'));
  assert.ok(!exported.has('parallax_not_a_metric_total'));
  assert.deepEqual(metricNames('sum by (le, method) (rate(parallax_rpc_request_seconds_bucket{job="x"}[5m])) / 1e6'), ['parallax_rpc_request_seconds_bucket']);
  const ds = parse(read('docker/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; type: string; url: string }[] };
  const uid = ds.datasources[0].uid;
  assert.equal(ds.datasources[0].type, 'prometheus');
  const used = new Set<string>();
  assert.ok(dash.panels.length >= 10);
  for (const p of dash.panels) {
    assert.equal(p.datasource.uid, uid, p.title);
    assert.ok(p.targets.length > 0, p.title);
    for (const t of p.targets) {
      assert.equal(t.datasource.uid, uid, p.title);
      const names = metricNames(t.expr);
      assert.ok(names.length > 0, `${p.title}: no metric in ${t.expr}`);
      for (const n of names) {
        assert.ok(exported.has(n), `${p.title}: ${n} is not exported by the daemon`);
        used.add(n);
      }
    }
  }
  // The dashboard covers what operators watch: throughput, rollbacks, lag, mismatches, workers, RPC, memory.
  for (const n of ['parallax_gas_total', 'parallax_rollback_rate', 'parallax_lag_blocks', 'parallax_blocks_mismatched_total', 'parallax_worker_busy_seconds_total', 'parallax_rpc_errors_total', 'process_resident_memory_bytes']) {
    assert.ok(used.has(n), `dashboard shows ${n}`);
  }
  const prov = parse(read('docker/grafana/provisioning/dashboards/parallax.yml')) as { providers: { options: { path: string } }[] };
  assert.equal(prov.providers[0].options.path, '/var/lib/grafana/dashboards');
});

test('prometheus, compose and Dockerfile: scrape port 9615, mounts exist, health checks ask /health', () => {
  const prom = parse(read('docker/prometheus/prometheus.yml')) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  const job = prom.scrape_configs.find((j) => j.job_name === 'parallax');
  assert.deepEqual(job?.static_configs[0].targets, ['parallax:9615']);
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { profiles?: string[]; volumes?: string[]; healthcheck?: { test: string[] }; environment?: Record<string, string> }> };
  for (const s of ['parallax', 'prometheus', 'grafana', 'selendra']) assert.ok(compose.services[s], s);
  assert.deepEqual(compose.services.selendra.profiles, ['selendra']);
  assert.equal(compose.services.parallax.profiles, undefined);
  assert.equal(compose.services.parallax.environment?.PARALLAX_HTTP_HOST, '0.0.0.0');
  assert.match(compose.services.parallax.healthcheck!.test.join(' '), /\/health/);
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const v of svc.volumes ?? []) {
      const host = v.split(':')[0];
      if (host.startsWith('./')) assert.ok(existsSync(join(PROJECT_ROOT, host)), `${name} mounts ${host}, which exists`);
    }
  }
  const dockerfile = read('Dockerfile');
  assert.match(dockerfile, /^HEALTHCHECK .*\n?.*\/health/m);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^FROM node:24-slim AS deps$/m);
  assert.match(dockerfile, /^VOLUME \["\/data"\]$/m);
});
