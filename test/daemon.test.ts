/**
 * The daemon end to end, as operators run it: `parallax run` as a child process following a real Hardhat Network
 * node that the traffic generator drives. Metrics rise between two scrapes, /status and /roots report the node's
 * heads and roots, SIGTERM in the middle of catching up leaves a database at a committed block, a second daemon
 * on the same data directory is refused, and a restart resumes from the executed head.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MAINNET, createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { createDatabase } from '../src/state/db.ts';
import { StateStore } from '../src/state/store.ts';
import { hex } from '../src/util/bytes.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { DEFAULT_SEMI_SPACE_MB } from '../src/cli/relaunch.ts';
import { getJson, hardhatChain, parseMetrics, rpcBlock, spawnDaemon, until } from './helpers/daemon.ts';
import { dumpDom } from './helpers/chromium.ts';

test('daemon: metrics rise, status and roots match the node, SIGTERM mid-run leaves a committed block, restart resumes, lock refuses a second daemon', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-daemon-test-'));
  const chain = await hardhatChain(dir);
  const dataDir = join(dir, 'data');
  const args = ['--rpc', chain.node.url, '--genesis', chain.genesisPath, '--data-dir', dataDir, '--workers', '2', '--set', 'source.pollMs=100'];
  try {
    await chain.driver.setup();
    for (let i = 0; i < 4; i++) await chain.driver.randomBlock(50);
    let d = spawnDaemon(args);
    const url = await d.url;
    const nodeHead = async () => BigInt((await rpcBlock(chain.rpc, 'latest')).number);
    const caughtUp = (target: bigint) =>
      until(`executed head ${target}`, async () => {
        const s = await getJson(`${url}/status`);
        return s.status === 200 && BigInt(s.body.heads.executed) >= target ? s.body : undefined;
      });
    let head = await nodeHead();
    let status = await caughtUp(head);
    const m1 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(m1.get('parallax_executed_head'), Number(head));
    assert.equal(m1.get('parallax_blocks_executed_total'), Number(head));
    assert.ok(m1.get('parallax_gas_total')! > 0);

    // More blocks: the counters rise by what the node mined.
    for (let i = 0; i < 3; i++) await chain.driver.randomBlock(50);
    const head2 = await nodeHead();
    assert.ok(head2 > head);
    status = await caughtUp(head2);
    const m2 = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.equal(m2.get('parallax_blocks_executed_total'), Number(head2));
    assert.ok(m2.get('parallax_gas_total')! > m1.get('parallax_gas_total')!);
    assert.ok(m2.get('parallax_transactions_total')! >= m1.get('parallax_transactions_total')! + 150);
    assert.equal(m2.get('parallax_blocks_verified_total'), Number(head2));
    assert.equal(m2.get('parallax_blocks_mismatched_total'), 0);
    assert.equal(m2.get('parallax_canonical_head'), Number(head2));
    assert.equal(m2.get('parallax_node_up'), 1);
    assert.ok(m2.has('process_resident_memory_bytes') && m2.has('nodejs_eventloop_lag_seconds'));
    // Started through bin/parallax.js, the daemon runs with the semi-space its relaunch sets (src/cli/relaunch.ts):
    // the flags are logged with the configuration, and the new space is one or both semi-spaces of that size.
    const flags = (d.lines.find((l) => l.msg === 'configuration')?.node as { flags?: string[] } | undefined)?.flags;
    assert.deepEqual(flags?.slice(0, 2), [`--min-semi-space-size=${DEFAULT_SEMI_SPACE_MB}`, `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MB}`]);
    const newSpace = m2.get('nodejs_heap_space_size_total_bytes{space="new"}');
    assert.ok(newSpace === DEFAULT_SEMI_SPACE_MB * 2 ** 20 || newSpace === DEFAULT_SEMI_SPACE_MB * 2 ** 21, `new space ${newSpace} bytes`);
    assert.ok((m2.get('parallax_block_execution_seconds_count') ?? 0) >= Number(head2));

    // /status reports the heads; /roots/<n> the node's roots next to ours.
    assert.equal(status.heads.canonical, head2.toString());
    assert.equal(status.heads.executed, head2.toString());
    assert.equal(status.heads.lag, 0);
    assert.equal(status.counts.mismatched, 0);
    const b = await rpcBlock(chain.rpc, head2);
    assert.equal(status.lastBlock.hash, b.hash);
    const roots = await getJson(`${url}/roots/${head2}`);
    assert.equal(roots.status, 200);
    assert.equal(roots.body.parallax.stateRoot, b.stateRoot);
    assert.equal(roots.body.canonical.stateRoot, b.stateRoot);
    assert.equal(roots.body.canonical.receiptsRoot, b.receiptsRoot);
    assert.equal(roots.body.matched, true);
    assert.equal((await getJson(`${url}/roots/${head2 + 1000n}`)).status, 404);

    // The block's execution trace and its page, rendered by headless Chromium: one lane per worker plus the main
    // thread, a committed bar for every transaction, the critical path outlined.
    const trace = await getJson(`${url}/blocks/${head2}/trace`);
    assert.equal(trace.status, 200);
    const t = trace.body;
    assert.equal(t.number, head2.toString());
    assert.equal(t.hash, b.hash);
    assert.equal(t.txs.length, 50);
    assert.equal(t.conservation.ok, true);
    for (const x of t.txs) assert.equal(x.attempts.filter((a: { committed: boolean }) => a.committed).length, 1);
    assert.ok(t.critical.gas.txs.length >= 1 && t.speedup.achieved <= t.speedup.boundByTime + 1e-9);
    assert.ok(m2.has('parallax_speedup_bound') && m2.has('parallax_speedup_achieved'));
    assert.equal((await getJson(`${url}/blocks/${head2 + 1000n}/trace`)).status, 404);
    const dom = await dumpDom(`${url}/blocks/${head2}`);
    const lanes = [...dom.matchAll(/<g class="lane" data-lane="([a-z0-9-]+)"/g)].map((m) => m[1]);
    const workersUsed = new Set(t.txs.flatMap((x: { attempts: { worker: number }[] }) => x.attempts.map((a) => a.worker)).filter((w: number) => w >= 0));
    assert.deepEqual(lanes, ['main', ...[...workersUsed].sort().map((w) => `worker-${w}`)]);
    const bars = [...dom.matchAll(/<rect class="bar ([a-z ]+)" data-tx="(\d+)"/g)];
    const attempts = t.txs.reduce((s: number, x: { attempts: unknown[] }) => s + x.attempts.length, 0);
    assert.equal(bars.length, attempts);
    assert.equal(new Set(bars.map((m) => m[2])).size, 50, 'every transaction has a bar');
    assert.equal(bars.filter((m) => m[1].includes('critical')).length, t.critical.gas.txs.length);
    assert.equal(bars.filter((m) => m[1].includes('discarded')).length, attempts - 50);
    assert.match(dom, new RegExp(`Block ${head2}: 50 transactions`));
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.equal((await fetch(`${url}/ready`)).status, 200);

    // A backlog, then SIGTERM as soon as the daemon starts on it. The daemon is paused (SIGSTOP) while the backlog is
    // mined, so that it cannot keep up block by block however slow the mining is on a loaded machine.
    d.child.kill('SIGSTOP');
    for (let i = 0; i < 12; i++) await chain.driver.randomBlock(120);
    const target = await nodeHead();
    d.child.kill('SIGCONT');
    await d.waitFor((l) => l.msg === 'block' && BigInt(l.block as number) > head2);
    d.child.kill('SIGTERM');
    const exit = await d.exited;
    assert.equal(exit.code, 0, d.stderr.join(''));
    assert.ok(d.lines.some((l) => l.msg === 'closed (database last)'));

    const store = await StateStore.open(createDatabase(dataDir), createCommon(MAINNET, nativeCrypto()), { undoDepth: 128 });
    const stopped = store.head()!;
    try {
      assert.ok(stopped.number > head2 && stopped.number < target, `stopped at ${stopped.number}, between ${head2} and ${target}`);
      const c = await rpcBlock(chain.rpc, stopped.number);
      assert.equal('0x' + hex(stopped.hash), c.hash);
      assert.equal('0x' + hex(stopped.stateRoot), c.stateRoot);
      assert.equal(((await store.verification(stopped.number)) as { matched: boolean }).matched, true);
    } finally {
      await store.close();
    }

    // Restart: resumes from the executed head and catches up; a second daemon on the same directory is refused.
    d = spawnDaemon(args);
    const url2 = await d.url;
    const resumed = await d.waitFor((l) => l.msg === 'resuming from the executed head');
    assert.equal(BigInt(resumed.head as number), stopped.number);
    const second = spawnDaemon(args);
    const refused = await second.exited;
    assert.equal(refused.code, 2);
    assert.match(second.stderr.join(''), /in use by another Parallax process/);
    const final = await until('catch-up after restart', async () => {
      const s = await getJson(`${url2}/status`);
      return BigInt(s.body.heads.executed) >= target ? s.body : undefined;
    });
    assert.equal(final.counts.mismatched, 0);
    // LevelDB wrote the log it recovered at each reopening to a table: the gauge read at scrape time shows it.
    const m3 = parseMetrics(await (await fetch(`${url2}/metrics`)).text());
    assert.ok((m3.get('parallax_leveldb_tables') ?? 0) >= 1, `LevelDB tables ${m3.get('parallax_leveldb_tables')}`);
    const executedAfter = d.lines.filter((l) => l.msg === 'block').map((l) => BigInt(l.block as number));
    assert.equal(executedAfter[0], stopped.number + 1n, 'no block skipped or repeated after the restart');
    d.child.kill('SIGTERM');
    assert.equal((await d.exited).code, 0);

    // Operator tools on the stopped daemon's directory: inspect, then unwind two blocks.
    const cli = (...a: string[]) => execFileSync(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), ...a], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const inspect = cli('db', 'inspect', '--data-dir', dataDir);
    const headNow = BigInt(/executed head\s+(\d+)/.exec(inspect)![1]);
    assert.ok(headNow >= target);
    assert.match(inspect, /head verified\s+match/);
    assert.match(inspect, /last mismatch\s+none/);
    assert.match(cli('db', 'unwind', '2', '--data-dir', dataDir), new RegExp(`executed head ${headNow} -> ${headNow - 2n} `));
    assert.match(cli('db', 'inspect', '--data-dir', dataDir), new RegExp(`executed head\\s+${headNow - 2n} `));
  } finally {
    await chain.rpc.close();
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
