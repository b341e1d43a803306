/**
 * The daemon (`parallax run`, 2 workers) following the local Selendra chain over WebSocket with source.kind selendra:
 * it starts from an empty state at the chain's head, executes the blocks the traffic driver builds (deployments,
 * ERC-20/Uniswap traffic, Substrate transfers into mapped accounts), repairs its state from the chain, and serves
 * the verdicts: every block matched in /status and /roots/<n>, drift repairs in the metrics. Stopped with SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selendraProfile } from '../src/chain/frontier.ts';
import { createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { startSelendraChain } from '../src/dev/selendra.ts';
import { SelendraTrafficDriver, selendraFunding, selendraGenerator } from '../src/dev/selendra-traffic.ts';
import { SelendraSource } from '../src/source/selendra/index.ts';
import { fixturesDir } from '../src/util/paths.ts';
import { getJson, parseMetrics, spawnDaemon, until } from './helpers/daemon.ts';

test('daemon follows a Selendra node: every block executed, repaired from the chain and matched; /roots and metrics', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-selendra-daemon-'));
  const common = createCommon(selendraProfile(), nativeCrypto());
  const gen = selendraGenerator(common, 5);
  const chain = await startSelendraChain({ specPath: join(fixturesDir(), 'selendra', 'mainnet_chainspec.json'), fund: await selendraFunding(gen) });
  const source = new SelendraSource({ url: chain.url });
  // The daemon starts at the chain's head with an empty state: block head - 1 stands for genesis.
  const start = (await source.head()) - 1n;
  const d = spawnDaemon(['--data-dir', join(dir, 'data'), '--workers', '2', '--set', 'source.kind=selendra', '--set', `source.url=${chain.url}`, '--set', 'source.heads=best', '--set', 'source.pollMs=100']);
  try {
    const url = await d.url;
    await until('the node open', async () => ((await getJson(`${url}/status`)).status === 200 ? true : undefined));
    const driver = new SelendraTrafficDriver(chain, await source.connect(), gen);
    await driver.setup();
    for (let i = 0; i < 3; i++) await driver.randomBlock(8);
    const target = await source.head();
    const s = await until(`executed head ${target}`, async () => {
      const r = await getJson(`${url}/status`);
      return r.status === 200 && BigInt(r.body.heads.executed) >= target ? r.body : undefined;
    }, 300_000);
    const blocks = Number(target - start);
    assert.ok(blocks >= 8, `${blocks} blocks`);
    assert.equal(s.counts.mismatched, 0, JSON.stringify(s.lastMismatch));
    assert.equal(s.counts.matched, blocks);
    for (let n = start + 1n; n <= target; n++) {
      const r = await getJson(`${url}/roots/${n}`);
      assert.equal(r.status, 200, `block ${n}`);
      assert.equal(r.body.matched, true, `block ${n}: ${JSON.stringify(r.body)}`);
    }
    const m = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    assert.ok((m.get('parallax_drift_repairs_total') ?? 0) > 0, 'drift repairs counted');
    assert.equal(m.get('parallax_blocks_mismatched_total') ?? 0, 0);
    const lines = d.lines.filter((l) => l.msg === 'block');
    assert.equal(lines.length, blocks);
    assert.ok(lines.every((l) => l.verified === 'match'));
    d.child.kill('SIGTERM');
    assert.equal((await d.exited).code, 0);
  } finally {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await source.close();
    await chain.close();
    await rm(dir, { recursive: true, force: true });
  }
});
