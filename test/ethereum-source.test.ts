/**
 * The Ethereum JSON-RPC source end to end against Hardhat Network (shanghai): 200+ blocks of 50+ transactions each
 * followed with 2 workers and every block's state root, receipts root, logs bloom and gas used equal to the node's;
 * a reorganisation made with evm_snapshot/evm_revert unwound and re-followed; the node stopped and restarted mid-run
 * (it comes back with the same chain, mined again from the recorded blocks) with Parallax recovering and missing no
 * block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMetrics } from '../src/metrics/index.ts';
import { ParallaxNode, type BlockReport } from '../src/node/index.ts';
import { createSource, rpcHooks } from '../src/source/index.ts';
import { hex } from '../src/util/bytes.ts';
import { hardhatChain, rpcBlock, startChainNode, until } from './helpers/daemon.ts';

test('ethereum source: 200+ blocks of 50+ txs with 2 workers, all four roots equal; reorg unwound; node restart recovered', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-eth-test-'));
  const chain = await hardhatChain(dir, 11, { reproducible: true });
  const config = await loadConfig({ flags: { dataDir: join(dir, 'data'), 'source.url': chain.node.url, 'source.genesis': chain.genesisPath, 'engine.workers': 2, 'engine.minSpeculativeGas': 0, 'source.pollMs': 50, 'source.timeoutMs': 5000, 'source.backoffMaxMs': 500 } });
  const log = silentLogger();
  const metrics = createMetrics({ defaults: false });
  const stop = new AbortController();
  const source = createSource(config, { retryForever: true, hooks: rpcHooks(metrics, log), signal: stop.signal });
  const node = await ParallaxNode.open({ config, source, log, metrics });
  const reports: BlockReport[] = [];
  const following = node.follow({ signal: stop.signal, onBlock: (r) => reports.push(r) });
  const executed = (n: bigint) => until(`parallax at block ${n}`, async () => (node.store.head()!.number >= n ? true : undefined), 180_000, 50);
  const nodeHead = async () => BigInt((await rpcBlock(chain.rpc, 'latest')).number);
  try {
    await chain.driver.setup();
    const mineTo = async (n: bigint) => {
      while ((await nodeHead()) < n) await chain.driver.randomBlock(55);
    };
    await mineTo(90n);
    await executed(90n);

    // Reorg: three blocks, then back to the snapshot and the same transactions in four other blocks.
    const snap = await chain.rpc.call<string>('evm_snapshot', []);
    const base = await nodeHead();
    for (let i = 0; i < 3; i++) await chain.driver.randomBlock(55);
    await executed(base + 3n);
    const orphaned = chain.driver.mined.splice(chain.driver.mined.length - 3, 3);
    const orphanHash = '0x' + hex((await node.store.blockRecord(base + 3n))!.hash);
    assert.equal(await chain.rpc.call('evm_revert', [snap]), true);
    assert.equal(await nodeHead(), base);
    const raws = orphaned.flatMap((b) => b.rawTxs);
    const quarter = Math.ceil(raws.length / 4);
    for (let i = 0; i < 4; i++) {
      await chain.driver.sendRaw(raws.slice(i * quarter, (i + 1) * quarter));
      await chain.driver.mine();
    }
    await executed(base + 4n);
    await until('reorg followed', async () => ('0x' + hex(node.store.head()!.hash) === (await rpcBlock(chain.rpc, base + 4n)).hash ? true : undefined));
    assert.notEqual((await rpcBlock(chain.rpc, base + 3n)).hash, orphanHash);
    assert.equal('0x' + hex((await node.store.blockRecord(base + 3n))!.hash), (await rpcBlock(chain.rpc, base + 3n)).hash);
    const status = await node.status();
    assert.ok(status.counts.reorgs >= 1);
    assert.ok((await metrics.unwoundBlocks.get()).values[0].value >= 3);

    // The node stops mid-run and comes back with the same chain; Parallax waits, reconnects and goes on.
    await mineTo(150n);
    await chain.node.stop();
    await until('parallax notices the node is down', async () => ((await metrics.nodeUp.get()).values[0].value === 0 ? true : undefined), 60_000, 50);
    const restarted = await startChainNode(chain.gen, chain.node.port, true);
    chain.node = restarted;
    await chain.driver.replay(chain.driver.mined);
    await until('parallax reconnects', async () => ((await metrics.rpcReconnects.get()).values[0].value >= 1 ? true : undefined), 60_000, 50);
    await mineTo(215n);
    const head = await nodeHead();
    await executed(head);

    // Every block of the node's chain was executed, once on the final chain, and all four values matched.
    assert.ok(reports.every((r) => r.verification.matched), JSON.stringify(reports.find((r) => !r.verification.matched)?.verification));
    for (let n = 1n; n <= head; n++) {
      const ours = await node.store.blockRecord(n);
      const theirs = await rpcBlock(chain.rpc, n);
      assert.equal('0x' + hex(ours!.hash), theirs.hash, `block ${n}`);
      assert.equal('0x' + hex(ours!.stateRoot), theirs.stateRoot, `block ${n} state root`);
    }
    const full = reports.filter((r) => r.txs >= 50 && r.verification.canonical.stateRoot !== undefined);
    assert.ok(full.length >= 200, `${full.length} blocks of 50+ transactions`);
    assert.ok(reports.some((r) => r.mode === 'parallel' && r.reexecuted >= 0));
  } finally {
    stop.abort();
    await following.catch(() => {});
    await node.close();
    await chain.rpc.close();
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
