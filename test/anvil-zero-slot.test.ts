/**
 * anvil 1.7.1 keeps storage slots that a transaction set to zero in its state trie, so its header stateRoot is wrong
 * whenever that happens (receipts, gas and bloom stay right). Parallax must report exactly that: the block, the
 * account and the slot; and its own root must equal the root of anvil's state with the zero slots removed, while
 * anvil's header root is the root of the same state with them kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { Address, concatBytes } from '@ethereumjs/util';
import { encodeArgs } from '../src/bench/abi.ts';
import { TRAFFIC_CHAIN, TrafficGenerator } from '../src/bench/traffic.ts';
import { createCommon } from '../src/chain/profile.ts';
import { loadConfig } from '../src/config/index.ts';
import { keccak256, nativeCrypto } from '../src/crypto/index.ts';
import { RpcTrafficDriver } from '../src/dev/driver.ts';
import { silentLogger } from '../src/log/index.ts';
import { createMetrics } from '../src/metrics/index.ts';
import { ParallaxNode, type BlockReport } from '../src/node/index.ts';
import { createSource } from '../src/source/index.ts';
import { RpcClient } from '../src/source/ethereum/rpc.ts';
import { fromHex, hex } from '../src/util/bytes.ts';
import { CREATE2_DEPLOYER, startAnvil } from './helpers/anvil.ts';

const require = createRequire(import.meta.url);

interface DumpAccount {
  nonce: number | string;
  balance: string;
  code: string;
  storage: Record<string, string>;
}

const big = (v: string | number) => BigInt(v);
const unpadded = (n: bigint) => (n === 0n ? new Uint8Array(0) : fromHex(n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), '0')));

/** State root of a dumped state, independently of Parallax's trie code: zero-valued slots kept or dropped. */
async function rootOf(accounts: Record<string, DumpAccount>, keepZeroSlots: boolean): Promise<string> {
  const state = new MerklePatriciaTrie({ useKeyHashing: true });
  for (const [addr, a] of Object.entries(accounts)) {
    const storage = new MerklePatriciaTrie({ useKeyHashing: true });
    for (const [slot, value] of Object.entries(a.storage ?? {})) {
      const v = big(value);
      if (v === 0n && !keepZeroSlots) continue;
      await storage.put(fromHex(slot), RLP.encode(unpadded(v)));
    }
    const code = fromHex(a.code ?? '0x');
    const codeHash = keccak256(code);
    await state.put(fromHex(addr), RLP.encode([unpadded(big(a.nonce)), unpadded(big(a.balance)), storage.root(), codeHash]));
  }
  return '0x' + hex(state.root());
}

test('anvil zero-slot bug: Parallax names the block, the account and the slot; its root is anvil\'s state without the zero slot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-anvil-test-'));
  const gen = new TrafficGenerator(createCommon(TRAFFIC_CHAIN, nativeCrypto()), { seed: 5, holders: 10, tokens: 1, pools: 0, swappers: 5, payers: 5 });
  const genesis = RpcTrafficDriver.genesisFile(gen, 'cancun');
  genesis.alloc[CREATE2_DEPLOYER.address] = { balance: '0x0', code: CREATE2_DEPLOYER.code };
  const genesisPath = join(dir, 'genesis.json');
  await writeFile(genesisPath, JSON.stringify({ ...genesis, timestamp: '0x6b000000', baseFeePerGas: '0x3b9aca00' }));
  const anvil = await startAnvil(genesisPath);
  const rpc = new RpcClient({ url: anvil.url, timeoutMs: 10_000, retries: 1, backoffMaxMs: 100 });
  const config = await loadConfig({ flags: { dataDir: join(dir, 'data'), 'source.url': anvil.url, 'source.genesis': genesisPath, 'engine.workers': 1, 'verify.onMismatch': 'continue' } });
  const node = await ParallaxNode.open({ config, source: createSource(config, { retryForever: false }), log: silentLogger(), metrics: createMetrics({ defaults: false }) });
  try {
    // Block 1: an OpenZeppelin ERC20PresetMinterPauser deployment (its constructor writes Pausable's flag as 0).
    const art = require('@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json') as { bytecode: string };
    const deploy = gen.tx(gen.holders[0], undefined, concatBytes(fromHex(art.bytecode), encodeArgs([{ string: 'Minter' }, { string: 'MNT' }])), 5_000_000n);
    await rpc.call('eth_sendRawTransaction', ['0x' + hex(deploy.serialize())]);
    await rpc.call('evm_mine', []);
    const receipt = await rpc.call<{ contractAddress: string; status: string }>('eth_getTransactionReceipt', ['0x' + hex(deploy.hash())]);
    assert.equal(receipt.status, '0x1');
    const token = receipt.contractAddress.toLowerCase();

    const reports: BlockReport[] = [];
    const r = await node.follow({ until: 1n, onBlock: (b) => reports.push(b) });
    assert.equal(r.reason, 'until');
    const v = reports[0].verification;
    assert.equal(v.number, '1');
    assert.equal(v.matched, false);
    assert.deepEqual(v.mismatches.map((m) => m.field), ['stateRoot'], 'only the state root differs: receipts root, bloom and gas match');
    const named = v.state?.filter((s) => s.slot !== undefined) ?? [];
    assert.equal(named.length, 1, JSON.stringify(v.state));
    assert.equal(named[0].account, token);
    assert.equal(BigInt(named[0].slot!), 7n);
    assert.equal(named[0].ours, 'absent');
    assert.equal(named[0].canonical, '0x0');
    // The record is persisted with the block and served as the last mismatch.
    const last = (await node.store.lastMismatch()) as { number: bigint; record: { state: { slot?: string }[] } };
    assert.equal(last.number, 1n);

    // anvil's own state after block 1: with the zero slot dropped it is Parallax's root; kept, it is anvil's header.
    const dump = await rpc.call<string>('anvil_dumpState', []);
    const state = JSON.parse(gunzipSync(Buffer.from(dump.slice(2), 'hex')).toString()) as { accounts: Record<string, DumpAccount> };
    assert.equal(big(state.accounts[token]?.storage['0x' + '7'.padStart(64, '0')] ?? '0x1'), 0n, 'anvil keeps slot 7 with value 0');
    const header = await rpc.call<{ stateRoot: string }>('eth_getBlockByNumber', ['0x1', false]);
    assert.equal(await rootOf(state.accounts, true), header.stateRoot);
    assert.equal(await rootOf(state.accounts, false), '0x' + hex(node.store.head()!.stateRoot));
    assert.notEqual(header.stateRoot, '0x' + hex(node.store.head()!.stateRoot));

    // Block 2: a value transfer to the BLAKE2F precompile with empty input fails (status 0, all gas). The failed call's
    // account creation is undone (and an empty touched account would be removed), but anvil keeps 0x09 as an empty
    // account: Parallax names it, and dropping it from anvil's state gives Parallax's root.
    const b2f = gen.tx(gen.holders[1], new Address(fromHex('0000000000000000000000000000000000000009')), new Uint8Array(0), 100_000n, 1000n);
    await rpc.call('eth_sendRawTransaction', ['0x' + hex(b2f.serialize())]);
    await rpc.call('evm_mine', []);
    await node.follow({ until: 2n, onBlock: (b) => reports.push(b) });
    const v2 = reports[1].verification;
    assert.deepEqual(v2.mismatches.map((m) => m.field), ['stateRoot']);
    assert.deepEqual(v2.state, [{ account: '0x0000000000000000000000000000000000000009', field: 'existence', ours: 'absent', canonical: 'present (nonce 0, balance 0)' }]);
    const dump2 = await rpc.call<string>('anvil_dumpState', []);
    const state2 = JSON.parse(gunzipSync(Buffer.from(dump2.slice(2), 'hex')).toString()) as { accounts: Record<string, DumpAccount> };
    assert.ok(state2.accounts['0x0000000000000000000000000000000000000009'] !== undefined);
    delete state2.accounts['0x0000000000000000000000000000000000000009'];
    assert.equal(await rootOf(state2.accounts, false), '0x' + hex(node.store.head()!.stateRoot));
  } finally {
    await node.close();
    await rpc.close();
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
