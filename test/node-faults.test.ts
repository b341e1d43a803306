/**
 * Node faults: the daemon follows a real Hardhat node through a proxy that misbehaves on demand. Slow answers,
 * malformed JSON, JSON-RPC error answers, HTTP 500, a block whose hash does not check out, a node that refuses
 * connections for a while, and WebSocket connections cut mid-stream. The daemon retries with back-off, shows the
 * trouble in /ready, /status and the metrics, and executes every block exactly once with the node's roots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultProxy, type Fault } from './helpers/fault-proxy.ts';
import { getJson, hardhatChain, parseMetrics, rpcBlock, spawnDaemon, until, type DaemonProcess } from './helpers/daemon.ts';

test('node faults: retried with back-off, visible in /ready, /status and metrics; every block executed once, none skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-faults-'));
  const chain = await hardhatChain(dir, 13);
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
    const d = spawnDaemon(['--rpc', proxy.url, '--genesis', chain.genesisPath, '--data-dir', dataDir, '--workers', '2', '--set', 'engine.txTimeoutMs=1500', ...settings], {
      PARALLAX_TEST_WORKER_FAULTS: workerFaults,
    });
    daemons.push(d);
    const url = await d.url;
    const caughtUp = async () => {
      const target = await nodeHead();
      return until(`executed head ${target}`, async () => {
        const s = await getJson(`${url}/status`);
        return s.status === 200 && BigInt(s.body.heads.executed) >= target ? s.body : undefined;
      });
    };
    await caughtUp();
    const m0 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(m0.get('parallax_worker_replacements_total'), 2, 'the crashed and the hung worker were replaced');
    assert.equal(m0.get('parallax_blocks_by_mode_total{mode="fallback"}'), 2, 'both blocks re-executed serially');
    const txCount = async (n: bigint) => Number(BigInt(await chain.rpc.call<string>('eth_getBlockTransactionCountByNumber', ['0x' + n.toString(16)])));
    assert.equal(m0.get('parallax_reexecutions_total{reason="fallback"}'), (await txCount(h0 - 1n)) + (await txCount(h0)), 'every transaction of both blocks re-executed');
    const replaced = d.lines.filter((l) => l.msg === 'worker replaced; the block was re-executed serially').map((l) => [l.block, String(l.reason)]);
    assert.deepEqual(replaced.map((r) => r[0]), [Number(h0 - 1n), Number(h0)]);
    assert.match(String(replaced[0][1]), /injected worker crash at transaction 3/);
    assert.match(String(replaced[1][1]), /no answer from workers for 1500 ms/);

    // Each fault hits the next requests; blocks are mined meanwhile; the daemon must get through all of them.
    const faults: [Fault, number, string | undefined][] = [
      [{ kind: 'delay', ms: 1200 }, 3, undefined], // longer than source.timeoutMs: timeouts
      [{ kind: 'malformed' }, 3, undefined],
      [{ kind: 'http500' }, 3, undefined],
      [{ kind: 'error' }, 3, 'eth_getBlockByNumber'],
      [{ kind: 'badBlock' }, 2, 'eth_getBlockByNumber'],
    ];
    for (const [fault, count, method] of faults) {
      proxy.inject(fault, count, method);
      await chain.driver.randomBlock(30);
      await chain.driver.randomBlock(30);
      await until(`${fault.kind} consumed`, async () => (proxy.pending() === 0 ? true : undefined), 60_000);
      const s = await caughtUp();
      assert.equal(s.counts.mismatched, 0, fault.kind);
    }
    for (const [fault, count] of faults) assert.equal(proxy.injected.get(fault.kind), count, `${fault.kind} injected`);
    const m1 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.ok((m1.get('parallax_source_errors_total{kind="unreachable"}') ?? 0) >= 9, 'timeouts, malformed JSON and HTTP 500 counted');
    assert.ok((m1.get('parallax_source_errors_total{kind="node_error"}') ?? 0) >= 1, 'error answers counted');
    assert.ok((m1.get('parallax_source_errors_total{kind="bad_answer"}') ?? 0) >= 1, 'bad blocks counted');
    assert.ok((m1.get('parallax_rpc_errors_total{method="eth_getBlockByNumber"}') ?? 0) >= 1);
    const retried = d.lines.filter((l) => l.msg === 'source request failed; retrying' || l.msg === 'source failed; retrying').map((l) => String(l.error ?? l.err));
    assert.ok(retried.some((e) => /not JSON/.test(e)), 'malformed answers are named');
    assert.ok(retried.some((e) => /HTTP 500/.test(e)), 'HTTP 500 is named');
    assert.ok(retried.some((e) => /injected: header not found/.test(e)), 'the node error is named');
    assert.ok(retried.some((e) => /hashes to/.test(e)), 'the bad block is named');

    // The node goes away: /ready turns 503, /status says since when and why, parallax_node_up 0; then it is back.
    await proxy.down();
    await chain.driver.randomBlock(30);
    const during = await until('the outage shows', async () => {
      const r = await fetch(`${url}/ready`);
      const s = await getJson(`${url}/status`);
      return r.status === 503 && s.body.source.up === false && s.body.source.lastError !== null ? s.body : undefined;
    }, 30_000);
    assert.ok(during.source.downSince !== null);
    assert.ok(during.source.errorsSinceUp >= 1);
    assert.match(during.source.lastError.message, /fetch failed|ECONNREFUSED|connect/i);
    const m2 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(m2.get('parallax_node_up'), 0);
    await new Promise((r) => setTimeout(r, 1500));
    await proxy.up();
    await caughtUp();
    const after = await until('ready again', async () => ((await fetch(`${url}/ready`)).status === 200 ? (await getJson(`${url}/status`)).body : undefined), 30_000);
    assert.equal(after.source.up, true);
    assert.equal(after.source.downSince, null);
    const m3 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(m3.get('parallax_node_up'), 1);
    assert.ok((m3.get('parallax_rpc_reconnects_total') ?? 0) >= 1);
    d.child.kill('SIGTERM');
    assert.equal((await d.exited).code, 0);

    // Over WebSocket: connections cut mid-stream while blocks keep coming.
    const w = spawnDaemon(['--rpc', proxy.wsUrl, '--genesis', chain.genesisPath, '--data-dir', dataDir, '--workers', '2', ...settings]);
    daemons.push(w);
    const wurl = await w.url;
    let cuts = 0;
    for (let i = 0; i < 4; i++) {
      await chain.driver.randomBlock(30);
      await new Promise((r) => setTimeout(r, 150));
      cuts += proxy.dropConnections() > 0 ? 1 : 0;
    }
    assert.ok(cuts >= 2, `connections cut ${cuts} times`);
    const target = await nodeHead();
    await until('catch-up over WebSocket', async () => {
      const s = await getJson(`${wurl}/status`);
      return s.status === 200 && BigInt(s.body.heads.executed) >= target ? true : undefined;
    });
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);

    // Every block 1..head was executed exactly once (one log line each across both daemons) and matches the node.
    const executed = [...d.lines, ...w.lines].filter((l) => l.msg === 'block').map((l) => Number(l.block));
    const head = Number(target);
    assert.deepEqual([...executed].sort((a, b) => a - b), Array.from({ length: head }, (_, i) => i + 1), 'each block once, none skipped');
    assert.ok([...d.lines, ...w.lines].filter((l) => l.msg === 'block').every((l) => l.verified === 'match'));
  } finally {
    for (const x of daemons) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await proxy.close();
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
