/**
 * End to end on the local Selendra chain (the genuine spec-20005 runtime under chopsticks-core, over WebSocket):
 * the traffic generator's EVM transactions (ERC-20, WETH9 and Uniswap V2 from their npm artifacts, contract
 * creations, self-destructs, reverts), creations whose gas is set by the proof-size meter, and plain Substrate
 * transfers into EVM-mapped accounts, over more than 50 blocks. Parallax starts with an empty state and follows with
 * 2 workers under the Frontier rules: every account and slot it lacks or that moved outside the EVM is repaired from
 * the chain's parent state, and every block must match the chain: receipts root, logs bloom, gas used, each
 * transaction's status, gas, logs and created address, and the post-state of everything it wrote. The value
 * conservation check runs on every block (repairs count as minted, existential deposits as held).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { createAddressFromPrivateKey, hexToBytes } from '@ethereumjs/util';
import { selendraProfile, SELENDRA_20005 } from '../src/chain/frontier.ts';
import { createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { startSelendraChain } from '../src/dev/selendra.ts';
import { SelendraTrafficDriver, selendraFunding, selendraGenerator } from '../src/dev/selendra-traffic.ts';
import { BlockExecutor } from '../src/exec/executor.ts';
import { ParallelExecutor } from '../src/exec/parallel.ts';
import { SelendraSource } from '../src/source/selendra/index.ts';
import { FrontierState } from '../src/source/selendra/state.ts';
import { runFrontierBlock, type FrontierCheck } from '../src/source/selendra/verify.ts';
import { createDatabase } from '../src/state/db.ts';
import { commitGenesis } from '../src/state/genesis.ts';
import { StateStore } from '../src/state/store.ts';
import { PROJECT_ROOT, fixturesDir } from '../src/util/paths.ts';
import { execFile } from 'node:child_process';

test('Selendra end to end: 50+ blocks of EVM and Substrate traffic followed from an empty state with 2 workers, every block matching the chain', async () => {
  const profile = selendraProfile();
  const common = createCommon(profile, nativeCrypto());
  const gen = selendraGenerator(common, 11);
  const probeKey = Buffer.alloc(32, 0x51);
  const probe = createAddressFromPrivateKey(probeKey);
  const chain = await startSelendraChain({
    specPath: join(fixturesDir(), 'selendra', 'mainnet_chainspec.json'),
    fund: [...(await selendraFunding(gen)), { account: probe.bytes, balance: 10n ** 21n }],
  });
  const source = new SelendraSource({ url: chain.url });
  const store = await StateStore.open(createDatabase(':memory:'), common, { undoDepth: 16 });
  let engine: ParallelExecutor | undefined;
  try {
    const api = await source.connect();
    const state = new FrontierState(api, BigInt(SELENDRA_20005.existentialDeposit));
    const driver = new SelendraTrafficDriver(chain, api, gen);
    // Parallax's state begins empty at the chain's current head: everything it needs comes from the chain.
    const start = await source.head();
    const first = (await source.block(start, common))!;
    await commitGenesis(store, {}, { number: start, hash: first.ethHash, parentHash: first.header.parentHash, timestamp: first.header.timestampMs / 1000n }, 'empty start');
    const executor = await BlockExecutor.create({ common, store, frontier: SELENDRA_20005 });
    engine = await ParallelExecutor.create(executor, { workers: 2, minParallelTxs: 2, minSpeculativeGas: 0, txTimeoutMs: 60_000, profile, kzg: false });

    const totals = { blocks: 0, txs: 0, repairs: 0, reverted: 0, created: 0, parallel: 0, feeless: 0, postAccounts: 0, postSlots: 0 };
    const mismatches: (FrontierCheck & { block: bigint })[] = [];
    let next = start + 1n;
    const follow = async () => {
      const head = await source.head();
      for (; next <= head; next++) {
        const fb = (await source.block(next, common))!;
        const run = await runFrontierBlock({ engine: engine!, executor, store, state, block: fb, common });
        for (const m of run.mismatches) mismatches.push({ block: fb.number, ...m });
        await engine!.commitWith(run.executed.result);
        totals.blocks++;
        totals.txs += fb.transactions.length;
        totals.repairs += run.repairs.accounts + run.repairs.slots;
        totals.reverted += fb.receipts.filter((r) => r.status === 0).length;
        totals.created += fb.transactions.filter((t) => t.contractAddress !== undefined).length;
        totals.parallel += run.executed.stats.mode === 'parallel' ? 1 : 0;
        totals.feeless += fb.transactions.filter((t) => t.unsigned).length;
        totals.postAccounts += run.postState.accounts;
        totals.postSlots += run.postState.slots;
      }
    };

    // The creation the issue quotes, and creations that read the Uniswap router's and factory's code: the proof
    // then carries ~36 KB of code, and the proof-size meter (16 gas per byte) sets the gas, not the EVM.
    const fee = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
    await driver.send([createFeeMarket1559Tx({ chainId: 1961n, nonce: 0n, ...fee, gasLimit: 200_000n, data: '0x602a600055' }, { common }).sign(probeKey)]);
    await chain.newBlock();
    await follow();
    await driver.setup();
    await follow();
    const extcodesize = (a: Uint8Array) => '73' + Buffer.from(a).toString('hex') + '3b';
    const prober = hexToBytes(`0x${extcodesize(gen.router.bytes)}${extcodesize(gen.factory.bytes)}015000`);
    const probeTxs = [1n, 2n].map((nonce) => createFeeMarket1559Tx({ chainId: 1961n, nonce, ...fee, gasLimit: 1_500_000n, data: prober }, { common }).sign(probeKey));
    await driver.send(probeTxs);
    await chain.newBlock();
    await follow();
    const probeBlock = (await source.block(next - 1n, common))!;
    while (totals.blocks < 50) {
      await driver.randomBlock(10);
      await follow();
    }

    assert.deepEqual(mismatches, [], 'every block matches the chain');
    assert.ok(totals.blocks >= 50, `${totals.blocks} blocks`);
    // The 91,200-gas creation, as the chain recorded it and as Parallax executed it (no mismatch above).
    const creation = (await source.block(start + 1n, common))!;
    assert.equal(creation.transactions[0].gasUsed, 91_200n);
    // Proof size dominates the probes: at least 16 gas per byte of the two contracts' code.
    const [router, factory] = await state.accounts([gen.router.bytes, gen.factory.bytes], probeBlock.hash);
    assert.ok(router.code.length > 20_000 && factory.code.length > 10_000);
    for (const t of probeBlock.transactions.filter((x) => x.from.every((b, i) => b === probe.bytes[i]))) {
      assert.ok(t.gasUsed >= 16n * BigInt(router.code.length + factory.code.length), `probe gas ${t.gasUsed}`);
    }
    assert.ok(totals.reverted > 0, 'reverts executed');
    assert.ok(totals.created > 10, 'contract creations');
    assert.ok(totals.parallel > 0, 'blocks ran on the workers');
    assert.ok(totals.feeless >= 8, 'EthereumChecked calls (dummy signatures, sender from the status) executed');
    assert.ok(totals.repairs > 0, 'drift repaired');
    // `parallax verify --ws` over a range in the middle, in its own process and data directory: it starts from an
    // empty state at the block before the range and learns the rest from the chain.
    const from = start + 30n;
    // (Asynchronously: the chain serving it runs in this process.)
    const cli = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), 'verify', '--ws', chain.url, '--from', String(from), '--to', String(from + 9n), '--workers', '2'], { encoding: 'utf8', timeout: 300_000 }, (err, stdout, stderr) =>
        resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      );
    });
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    assert.equal(cli.stdout.split('\n').filter((l) => /^block \d+ .* match$/.test(l)).length, 10, cli.stdout);
    assert.match(cli.stdout, /^10 matched, 0 mismatched \(\d+ drift repairs\)$/m);
    process.stdout.write(`# selendra e2e: ${totals.blocks} blocks, ${totals.txs} EVM transactions (${totals.reverted} reverted, ${totals.created} creations), ${totals.parallel} blocks in parallel, ${totals.feeless} EthereumChecked calls, ${totals.repairs} drift repairs, post-state checked: ${totals.postAccounts} accounts, ${totals.postSlots} slots\n`);
  } finally {
    await engine?.close();
    await source.close();
    await store.close();
    await chain.close();
  }
});
