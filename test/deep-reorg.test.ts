/**
 * A reorganisation deeper than the undo journal is refused with a typed error that says how to recover, and the
 * database stays at its last committed block (nothing half-unwound).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { isParallaxError } from '../src/errors.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMetrics } from '../src/metrics/index.ts';
import { ParallaxNode } from '../src/node/index.ts';
import { createSource } from '../src/source/index.ts';
import { hex } from '../src/util/bytes.ts';
import { hardhatChain, rpcBlock } from './helpers/daemon.ts';

test('a reorg deeper than store.undoDepth is refused with UNWIND_TOO_DEEP and a recovery hint; the store keeps its head', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-deep-reorg-'));
  const chain = await hardhatChain(dir, 3);
  const config = await loadConfig({ env: {}, flags: { dataDir: join(dir, 'data'), 'source.url': chain.node.url, 'source.genesis': chain.genesisPath, 'engine.workers': 1, 'store.undoDepth': 2, 'source.pollMs': 20 } });
  const node = await ParallaxNode.open({ config, source: createSource(config, { retryForever: false }), log: silentLogger(), metrics: createMetrics({ defaults: false }) });
  try {
    await chain.driver.setup();
    const snap = await chain.rpc.call<string>('evm_snapshot', []);
    const base = BigInt((await rpcBlock(chain.rpc, 'latest')).number);
    for (let i = 0; i < 3; i++) {
      await chain.driver.send([chain.gen.ethTransfer(chain.gen.payers[i])]);
      await chain.driver.mine();
    }
    await node.follow({ until: base + 3n });
    const head = node.store.head()!;
    assert.equal(head.number, base + 3n);
    // Replace the last three blocks (one more than the journal holds) by four others.
    assert.equal(await chain.rpc.call('evm_revert', [snap]), true);
    for (let i = 0; i < 4; i++) {
      await chain.driver.send([chain.gen.ethTransfer(chain.gen.payers[10 + i])]);
      await chain.driver.mine();
    }
    await assert.rejects(node.follow({ until: base + 4n }), (e) => isParallaxError(e, 'UNWIND_TOO_DEEP') && /deeper than the undo journal/.test(e.message) && /empty dataDir/.test(e.message));
    assert.equal(node.store.head()!.number, head.number);
    assert.equal(hex(node.store.head()!.hash), hex(head.hash));
  } finally {
    await node.close();
    await chain.rpc.close();
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
