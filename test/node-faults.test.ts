/**
 * Node faults: the daemon follows a real Hardhat node through a proxy that misbehaves on demand: slow answers
 * (timeouts), malformed JSON, HTTP 500 and 502, answers of the wrong shape, JSON-RPC error answers, blocks that do not
 * check out (a hash that is not the header's, a missing field, a transaction list that is not the header's), a node
 * that answers slowly enough to fall behind, a node that refuses connections, the Hardhat process itself killed with
 * SIGKILL and restarted on the same chain, and WebSocket connections cut mid-stream.
 *
 * Asserted: every failure is retried with back-off and never skips or repeats a block (the executed blocks are
 * exactly 1..N, once each, all matching the node, with the same roots as an unfaulted run over the same chain); each
 * one is named in the log (method, kind, what was wrong) and in /status (`source.lastError` with method, kind and
 * time, `source.downSince`); /ready is 503 while the node is unreachable or Parallax lags behind it; the metrics count
 * the errors by kind (parallax_source_errors_total), by method (parallax_rpc_errors_total), the reconnects and
 * parallax_node_up.
 *
 * The node restart: Hardhat keeps its chain in memory only, so it is restarted on the same port with the same genesis
 * and clock, and the recorded blocks are mined again (the driver checks every hash is the same): to the daemon this
 * is a node that went away and came back re-importing its chain, briefly behind Parallax, as a real node restarting
 * from its database would be (without the re-import).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultProxy, type Fault } from './helpers/fault-proxy.ts';
import { getJson, hardhatChain, parseMetrics, rpcBlock, spawnDaemon, startChainNode, until, type DaemonProcess } from './helpers/daemon.ts';

type Line = Record<string, unknown>;

/** The daemon's warnings about source failures: retried inside the RPC client or by the follow loop. */
function failures(lines: Line[]): { method: string; kind: string; text: string }[] {
  return lines
    .filter((l) => l.msg === 'source request failed; retrying' || l.msg === 'source failed; retrying')
    .map((l) => ({ method: String(l.method ?? ''), kind: String(l.kind), text: String(l.error ?? l.err) }));
}

test('node faults: retried with back-off, visible in /ready, /status and metrics; every block executed once, none skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-faults-'));
  // Recorded and reproducible, so the node can be killed and brought back on the same chain.
  const chain = await hardhatChain(dir, 13, { reproducible: true });
  const proxy = await FaultProxy.start(chain.node.url);
  const dataDir = join(dir, 'data');
  const settings = ['--set', 'source.pollMs=50', '--set', 'source.timeoutMs=800', '--set', 'source.backoffMaxMs=300', '--set', 'http.readyLagBlocks=0'];
  const daemons: DaemonProcess[] = [];
  try {
    await chain.driver.setup();
    for (let i = 0; i < 3; i++) await chain.driver.randomBlock(30);
    const nodeHead = async () => BigInt((await rpcBlock(chain.rpc, 'latest')).number);
    // Worker faults too (test hook): a worker crashes in the second-last block of the backlog and hangs in the last.
    const h0 = await nodeHead();
    const workerFaults = `${h0 - 1n}:crash:3,${h0}:hang:2`;
    // Every block speculates (engine.minSpeculativeGas=0), so that the workers run the faulted blocks.
    const d = spawnDaemon(['--rpc', proxy.url, '--genesis', chain.genesisPath, '--data-dir', dataDir, '--workers', '2', '--set', 'engine.txTimeoutMs=1500', '--set', 'engine.minSpeculativeGas=0', ...settings], {
      PARALLAX_TEST_WORKER_FAULTS: workerFaults,
    });
    daemons.push(d);
    const url = await d.url;
    const status = async () => (await getJson(`${url}/status`)).body;
    const metrics = async () => parseMetrics(await (await fetch(`${url}/metrics`)).text());
    const caughtUp = async () => {
      const target = await nodeHead();
      return until(`executed head ${target}`, async () => {
        const s = await getJson(`${url}/status`);
        return s.status === 200 && BigInt(s.body.heads.executed) >= target ? s.body : undefined;
      });
    };
    await caughtUp();
    const m0 = await metrics();
    assert.equal(m0.get('parallax_worker_replacements_total'), 2, 'the crashed and the hung worker were replaced');
    assert.equal(m0.get('parallax_blocks_by_mode_total{mode="fallback"}'), 2, 'both blocks re-executed serially');
    const txCount = async (n: bigint) => Number(BigInt(await chain.rpc.call<string>('eth_getBlockTransactionCountByNumber', ['0x' + n.toString(16)])));
    assert.equal(m0.get('parallax_reexecutions_total{reason="fallback"}'), (await txCount(h0 - 1n)) + (await txCount(h0)), 'every transaction of both blocks re-executed');
    const replaced = d.lines.filter((l) => l.msg === 'worker replaced; the block was re-executed serially').map((l) => [l.block, String(l.reason)]);
    assert.deepEqual(replaced.map((r) => r[0]), [Number(h0 - 1n), Number(h0)]);
    assert.match(String(replaced[0][1]), /injected worker crash at transaction 3/);
    assert.match(String(replaced[1][1]), /no answer from workers for 1500 ms/);

    // Bad answers, one kind at a time: each hits the next requests (of a method, if given) while a block is mined;
    // the daemon gets through, names the failure in the log and in /status.lastError (method, kind).
    const faults: { fault: Fault; count: number; method?: string; kind: string; named: RegExp }[] = [
      // Transport faults on the head polls, whose failures are always retried (and counted): a finalized-block
      // probe that met one would be dropped quietly, as for a node without the tag.
      { fault: { kind: 'delay', ms: 1200 }, count: 3, method: 'eth_blockNumber', kind: 'timeout', named: /no answer within 800 ms/ }, // longer than source.timeoutMs
      { fault: { kind: 'malformed' }, count: 3, method: 'eth_blockNumber', kind: 'malformed', named: /answer is not JSON: "\{\\"jsonrpc/ },
      { fault: { kind: 'http500' }, count: 3, method: 'eth_blockNumber', kind: 'http', named: /^HTTP 500/ },
      { fault: { kind: 'http502' }, count: 3, method: 'eth_blockNumber', kind: 'http', named: /^HTTP 502 Bad Gateway: "<html>/ },
      { fault: { kind: 'wrongShape' }, count: 2, method: 'eth_blockNumber', kind: 'bad_answer', named: /eth_blockNumber\(\) answered block number "not what you asked for", not a hex quantity/ },
      { fault: { kind: 'error' }, count: 3, method: 'eth_getBlockByNumber', kind: 'node_error', named: /eth_getBlockByNumber: node error -32000: injected: header not found/ },
      { fault: { kind: 'badBlock' }, count: 2, method: 'eth_getBlockByNumber', kind: 'bad_answer', named: /eth_getBlockByNumber\("0x[0-9a-f]+", true\) answered a header that hashes to 0x[0-9a-f]{64}, not to its hash 0x(ee){32}/ },
      { fault: { kind: 'missingField', field: 'withdrawalsRoot' }, count: 2, method: 'eth_getBlockByNumber', kind: 'bad_answer', named: /eth_getBlockByNumber\("0x[0-9a-f]+", true\) answered a block without withdrawalsRoot/ },
      { fault: { kind: 'missingField', field: 'stateRoot' }, count: 1, method: 'eth_getBlockByNumber', kind: 'bad_answer', named: /answered a block without stateRoot/ },
      { fault: { kind: 'dropTx' }, count: 2, method: 'eth_getBlockByNumber', kind: 'bad_answer', named: /answered \d+ transactions whose root is not the header's transactionsRoot/ },
    ];
    for (const f of faults) {
      const before = failures(d.lines).length;
      proxy.inject(f.fault, f.count, f.method);
      await chain.driver.randomBlock(30);
      await until(`${f.fault.kind} consumed`, async () => (proxy.pending() === 0 ? true : undefined), 30_000);
      const s = await caughtUp();
      assert.equal(s.counts.mismatched, 0, f.fault.kind);
      const seen = failures(d.lines).slice(before);
      const hit = seen.find((x) => f.named.test(x.text));
      assert.ok(hit !== undefined, `${f.fault.kind}: named in the log as ${f.named}; got ${JSON.stringify(seen)}`);
      assert.equal(hit.kind, f.kind, `${f.fault.kind}: kind in the log`);
      assert.ok(seen.every((x) => x.method !== '' || /eth_[a-zA-Z]+/.test(x.text)), `${f.fault.kind}: every failure names its method: ${JSON.stringify(seen)}`);
      assert.equal(s.source.lastError?.kind, f.kind, `${f.fault.kind}: /status lastError.kind`);
      if (f.method !== undefined) assert.equal(s.source.lastError?.method, f.method, `${f.fault.kind}: /status lastError.method`);
      assert.ok(!Number.isNaN(Date.parse(s.source.lastError?.at)), `${f.fault.kind}: /status lastError.at`);
    }
    const injected = new Map<string, number>();
    for (const f of faults) injected.set(f.fault.kind, (injected.get(f.fault.kind) ?? 0) + f.count);
    for (const [kind, count] of injected) assert.equal(proxy.injected.get(kind), count, `${kind} injected`);
    const m1 = await metrics();
    assert.ok((m1.get('parallax_source_errors_total{kind="unreachable"}') ?? 0) >= 12, 'timeouts, malformed JSON, HTTP 500 and 502 counted');
    assert.ok((m1.get('parallax_source_errors_total{kind="node_error"}') ?? 0) >= 1, 'error answers counted');
    assert.ok((m1.get('parallax_source_errors_total{kind="bad_answer"}') ?? 0) >= 6, 'answers that do not check out counted');
    assert.ok((m1.get('parallax_rpc_errors_total{method="eth_getBlockByNumber"}') ?? 0) >= 3);
    assert.ok((m1.get('parallax_rpc_errors_total{method="eth_blockNumber"}') ?? 0) >= 1);

    // Reachable but slow: full blocks answered after 500 ms (under the timeout). Parallax falls behind the node:
    // /ready is 503 while /status says the source is up and shows the lag; then it catches up and is ready again.
    proxy.inject({ kind: 'delay', ms: 500 }, 6, 'eth_getBlockByNumber');
    const lagging = until('lag shows in /ready', async () => {
      const r = await fetch(`${url}/ready`);
      const s = await status();
      return r.status === 503 && s.source.up === true && s.heads.lag >= 1 ? s : undefined;
    }, 30_000, 50);
    lagging.catch(() => {}); // awaited below
    await chain.driver.randomBlock(30);
    await chain.driver.randomBlock(30);
    const lag = await lagging;
    assert.ok(lag.heads.lag >= 1);
    await until('slow answers consumed', async () => (proxy.pending() === 0 ? true : undefined), 30_000);
    await caughtUp();
    await until('ready after catching up', async () => ((await fetch(`${url}/ready`)).status === 200 ? true : undefined), 30_000);

    // The node refuses connections: /ready 503, /status says since when and why, parallax_node_up 0; the retries
    // back off (growing waits, capped at source.backoffMaxMs); then it is back.
    await proxy.down();
    const downAt = d.lines.length;
    await chain.driver.randomBlock(30);
    const during = await until('the outage shows', async () => {
      const r = await fetch(`${url}/ready`);
      const s = await status();
      // (The first failures may be the open connections cut; then connections are refused.)
      return r.status === 503 && s.source.up === false && s.source.lastError?.kind === 'unreachable' && /ECONNREFUSED/.test(s.source.lastError.message) ? s : undefined;
    }, 30_000);
    assert.ok(during.source.downSince !== null && Date.parse(during.source.downSince) <= Date.parse(during.source.lastError.at));
    assert.ok(during.source.errorsSinceUp >= 1);
    assert.match(String(during.source.lastError.method), /^eth_/);
    assert.equal((await metrics()).get('parallax_node_up'), 0);
    await new Promise((r) => setTimeout(r, 1500));
    const waits = d.lines.slice(downAt).filter((l) => l.msg === 'source request failed; retrying').map((l) => ({ attempt: Number(l.attempt), ms: Number(l.retryInMs) }));
    assert.ok(waits.some((w) => w.attempt >= 3), `retried several times: ${JSON.stringify(waits)}`);
    assert.ok(waits.every((w) => w.ms <= 300 * 1.25 + 1), `back-off capped at source.backoffMaxMs: ${JSON.stringify(waits)}`);
    const first = waits.find((w) => w.attempt === 1)!;
    assert.ok(waits.some((w) => w.attempt >= 3 && w.ms > first.ms), `back-off grows: ${JSON.stringify(waits)}`);
    await proxy.up();
    await caughtUp();
    const after = await until('ready again', async () => ((await fetch(`${url}/ready`)).status === 200 ? await status() : undefined), 30_000);
    assert.equal(after.source.up, true);
    assert.equal(after.source.downSince, null);
    const m3 = await metrics();
    assert.equal(m3.get('parallax_node_up'), 1);
    assert.ok((m3.get('parallax_rpc_reconnects_total') ?? 0) >= 1);

    // The node process itself dies (SIGKILL) and is restarted on the same chain: the proxy's connections to it fail,
    // Parallax waits; the restarted node is briefly behind Parallax while it re-imports; Parallax neither unwinds
    // nor skips, and goes on once the node has new blocks.
    const reconnectsBefore = m3.get('parallax_rpc_reconnects_total') ?? 0;
    chain.node.process.kill('SIGKILL');
    await until('the dead node shows', async () => {
      const r = await fetch(`${url}/ready`);
      const s = await status();
      return r.status === 503 && s.source.up === false ? s : undefined;
    }, 30_000);
    await chain.node.stop();
    chain.node = await startChainNode(chain.gen, chain.node.port, true);
    await chain.driver.replay(chain.driver.mined);
    await chain.driver.randomBlock(30);
    await caughtUp();
    await until('ready after the node restart', async () => ((await fetch(`${url}/ready`)).status === 200 ? true : undefined), 30_000);
    const m4 = await metrics();
    assert.ok((m4.get('parallax_rpc_reconnects_total') ?? 0) > reconnectsBefore, 'the restarted node counted as a reconnect');
    assert.equal(m4.get('parallax_reorgs_total'), 0, 'nothing unwound for a node that came back behind');
    d.child.kill('SIGTERM');
    assert.equal((await d.exited).code, 0);

    // Over WebSocket: connections cut mid-stream while blocks keep coming.
    const w = spawnDaemon(['--rpc', proxy.wsUrl, '--genesis', chain.genesisPath, '--data-dir', dataDir, '--workers', '2', ...settings]);
    daemons.push(w);
    const wurl = await w.url;
    let cuts = 0;
    for (let i = 0; i < 4; i++) {
      await chain.driver.randomBlock(30);
      // Each cut waits for the daemon to have reconnected after the last one (its back-off may outlast a fixed pause
      // on a busy machine).
      await until(`connection ${i + 1} over WebSocket`, async () => (proxy.connections > 0 ? true : undefined), 30_000, 50);
      cuts += proxy.dropConnections() > 0 ? 1 : 0;
    }
    assert.equal(cuts, 4, `connections cut ${cuts} times`);
    const target = await nodeHead();
    await until('catch-up over WebSocket', async () => {
      const s = await getJson(`${wurl}/status`);
      return s.status === 200 && BigInt(s.body.heads.executed) >= target ? true : undefined;
    });

    // Every block 1..head was executed exactly once (one log line each across both daemons) and matches the node.
    const blockLines = [...d.lines, ...w.lines].filter((l) => l.msg === 'block');
    const head = Number(target);
    assert.deepEqual(blockLines.map((l) => Number(l.block)).sort((a, b) => a - b), Array.from({ length: head }, (_, i) => i + 1), 'each block once, none skipped');
    assert.ok(blockLines.every((l) => l.verified === 'match'));

    // The same roots as an unfaulted run over the same chain: a second daemon straight on the node, fresh database.
    const ref = spawnDaemon(['--rpc', chain.node.url, '--genesis', chain.genesisPath, '--data-dir', join(dir, 'reference'), '--workers', '2', ...settings]);
    daemons.push(ref);
    const refUrl = await ref.url;
    await until('the reference run', async () => {
      const s = await getJson(`${refUrl}/status`);
      return s.status === 200 && BigInt(s.body.heads.executed) >= target ? true : undefined;
    });
    for (let n = 1; n <= head; n++) {
      const [ours, theirs] = await Promise.all([getJson(`${wurl}/roots/${n}`), getJson(`${refUrl}/roots/${n}`)]);
      assert.equal(ours.status, 200, `block ${n}`);
      assert.deepEqual({ hash: ours.body.hash, ...ours.body.parallax }, { hash: theirs.body.hash, ...theirs.body.parallax }, `block ${n}: roots of the faulted and the unfaulted run`);
      assert.equal(ours.body.matched, true, `block ${n} verified`);
    }
    for (const x of [w, ref]) {
      x.child.kill('SIGTERM');
      assert.equal((await x.exited).code, 0);
    }
  } finally {
    for (const x of daemons) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await proxy.close();
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
