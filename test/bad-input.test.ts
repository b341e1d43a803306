/**
 * Bad input gets a typed error that names what and where, and nothing is written: transactions with a broken
 * signature or another chain's id, a corrupt database record, broken genesis and fixture files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Common, Mainnet } from '@ethereumjs/common';
import { createFeeMarket1559Tx, type FeeMarket1559Tx } from '@ethereumjs/tx';
import { ClassicLevel } from 'classic-level';
import { isParallaxError } from '../src/errors.ts';
import { decodeFixture, readFixture } from '../src/replay/fixture.ts';
import { MAINNET, createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { readGenesisFile } from '../src/source/ethereum/genesis.ts';
import { accountKey } from '../src/state/keys.ts';
import { hex } from '../src/util/bytes.ts';
import { fixturesDir } from '../src/util/paths.ts';
import { generator, node } from './helpers/traffic.ts';
import { hardhatChain } from './helpers/daemon.ts';
import { loadConfig } from '../src/config/index.ts';
import { createSource } from '../src/source/index.ts';

test('a transaction with a broken signature makes its block invalid, named by block and index; nothing is committed', async () => {
  for (const workers of [1, 2]) {
    const gen = generator({ seed: 21 });
    const { engine, store } = await node(gen, gen.setup(400), workers);
    try {
      const good = Array.from({ length: 9 }, (_, i) => gen.ethTransfer(gen.payers[1 + i]));
      const t = good[4] as FeeMarket1559Tx;
      // Same fields, r changed: the signature recovers to some other account, which has neither the nonce nor the funds.
      const forged = createFeeMarket1559Tx(
        { chainId: t.chainId, nonce: t.nonce, maxFeePerGas: t.maxFeePerGas, maxPriorityFeePerGas: t.maxPriorityFeePerGas, gasLimit: t.gasLimit, to: t.to, value: t.value, data: t.data, v: t.v, r: t.r! + 1n, s: t.s },
        { common: gen.common },
      );
      const txs = [...good.slice(0, 4), forged, ...good.slice(5)];
      const block = gen.block(txs);
      const head = store.head()!;
      await assert.rejects(engine.execute(block), (e: unknown) => {
        assert.ok(isParallaxError(e, 'BLOCK_INVALID'), String(e));
        assert.match(e.message, new RegExp(`^block ${block.header.number}: transaction 4 is invalid`));
        assert.equal(e.details.tx, 4);
        return true;
      });
      assert.deepEqual(store.head(), head, 'nothing committed');
    } finally {
      await engine.close();
    }
  }
});

test("a block carrying another chain's transaction does not decode: FIXTURE_INVALID names the file and the chain id", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-bad-'));
  try {
    const src = join(fixturesDir(), 'mainnet-blocks');
    // The newest (Cancun) fixture block.
    const first = (await readdir(src)).filter((f) => f.endsWith('.json.gz')).sort((a, b) => parseInt(b) - parseInt(a))[0];
    const raw = JSON.parse(gunzipSync(await readFile(join(src, first))).toString());
    // A type-2 transaction signed for chain 5 inside a mainnet block.
    const goerli = new Common({ chain: { ...Mainnet, chainId: 5 } as typeof Mainnet, hardfork: 'london' });
    const foreign = createFeeMarket1559Tx({ nonce: 0n, gasLimit: 21000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 5n, to: `0x${'11'.repeat(20)}` }, { common: goerli }).sign(
      new Uint8Array(32).fill(7),
    );
    const block = raw.block as { transactions: unknown[] };
    const rpcTx = { ...foreign.toJSON(), type: '0x2', gas: foreign.toJSON().gasLimit, input: foreign.toJSON().data, hash: '0x' + hex(foreign.hash()), from: foreign.getSenderAddress().toString() };
    block.transactions = [...block.transactions.slice(0, 1), rpcTx];
    const path = join(dir, 'foreign.json.gz');
    await writeFile(path, gzipSync(JSON.stringify(raw)));
    await assert.rejects(readFixture(path).then((r) => decodeFixture(r, createCommon(MAINNET, nativeCrypto()))), (e: unknown) => {
      assert.ok(isParallaxError(e, 'FIXTURE_INVALID'), String(e));
      assert.match(e.message, /foreign\.json\.gz/);
      assert.match(e.message, /chain ?id/i);
      return true;
    });
    // Truncated file: named, typed.
    const truncated = join(dir, 'truncated.json.gz');
    await writeFile(truncated, (await readFile(join(src, first))).subarray(0, 1000));
    await assert.rejects(readFixture(truncated), (e: unknown) => isParallaxError(e, 'FIXTURE_INVALID') && /truncated\.json\.gz/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a corrupt account record in the database: DB_CORRUPT names the account; the block is not committed', async () => {
  for (const workers of [1, 2]) {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-corrupt-'));
    const gen = generator({ seed: 22 });
    try {
      const setup = gen.setup(400);
      const victim = gen.payers[3];
      {
        const { engine, store } = await node(gen, setup, 1, {}, join(dir, 'db'));
        await engine.close();
        await store.close();
      }
      // Overwrite the payer's flat account record with bytes that are not an account.
      const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
      await db.put(accountKey(victim.address.bytes), Uint8Array.from([0xc3, 0x01, 0x02]));
      await db.close();
      const { engine, store } = await node(gen, [], workers, {}, join(dir, 'db'));
      try {
        const head = store.head()!;
        const txs = Array.from({ length: 9 }, (_, i) => gen.ethTransfer(gen.payers[1 + i]));
        await assert.rejects(engine.execute(gen.block(txs)), (e: unknown) => {
          assert.ok(isParallaxError(e, 'DB_CORRUPT'), `workers ${workers}: ${String(e)}`);
          assert.match(e.message, new RegExp(`account record of 0x${hex(victim.address.bytes)} does not decode`));
          return true;
        });
        assert.deepEqual(store.head(), head);
      } finally {
        await engine.close();
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('broken genesis files: CONFIG_INVALID names the file and what is wrong', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-genesis-'));
  try {
    const cases: [string, string, RegExp][] = [
      ['truncated.json', '{"config": {"chainId": 1337, "londonBlock"', /truncated\.json/],
      ['no-alloc.json', JSON.stringify({ config: { chainId: 1337 } }), /no "alloc" object/],
      ['missing.json', '', /cannot read genesis file/],
    ];
    for (const [name, text, re] of cases) {
      const path = join(dir, name);
      if (text !== '') await writeFile(path, text);
      await assert.rejects(readGenesisFile(path), (e: unknown) => {
        assert.ok(isParallaxError(e, 'CONFIG_INVALID'), `${name}: ${String(e)}`);
        assert.match(e.message, re);
        assert.match(e.message, new RegExp(name.replace('.', '\\.')));
        return true;
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a node serving another chain than the genesis file: CONFIG_INVALID names the node and both chain ids, nothing is created', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-otherchain-'));
  const chain = await hardhatChain(dir, 5);
  try {
    const genesis = JSON.parse(await readFile(chain.genesisPath, 'utf8'));
    genesis.config.chainId = 1961;
    const wrong = join(dir, 'other-chain.json');
    await writeFile(wrong, JSON.stringify(genesis));
    const config = await loadConfig({ env: {}, flags: { dataDir: join(dir, 'data'), 'source.url': chain.node.url, 'source.genesis': wrong } });
    const source = createSource(config, { retryForever: false });
    await assert.rejects(source.open(), (e: unknown) => {
      assert.ok(isParallaxError(e, 'CONFIG_INVALID'), String(e));
      assert.match(e.message, /serves chain id 31337, the genesis file .*other-chain\.json says 1961/);
      return true;
    });
    await source.close();
  } finally {
    await chain.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
