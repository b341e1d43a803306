/**
 * `parallax verify` over a range that a different generator produced: ethers (not the project's code) signs and
 * sends the transactions, with gas estimated by the node, nonces from the node, legacy (type 0), EIP-2930 (type 1)
 * and EIP-1559 (type 2) envelopes, over other contracts (OpenZeppelin ERC-721 and ERC-1155 presets, an ERC-20 with
 * mint, burn and pause) and other mixes; Hardhat Network mines it. The command must end with "N matched, 0 mismatched".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContractFactory, JsonRpcProvider, Wallet, keccak256 as ethersKeccak, toUtf8Bytes, type Contract } from 'ethers';
import { startHardhat } from '../src/dev/hardhat.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';

const require = createRequire(import.meta.url);
const artifact = (name: string) => require(`@openzeppelin/contracts/build/contracts/${name}.json`) as { abi: unknown[]; bytecode: string };

/** Deterministic PRNG of this test (xorshift), independent of the project's generator. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

test('parallax verify: a range from another generator (ethers, ERC-721/1155/20 presets, tx types 0/1/2) ends with 0 mismatched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-verify-test-'));
  const keys = Array.from({ length: 12 }, (_, i) => ethersKeccak(toUtf8Bytes(`other-generator-${i}`)));
  const balance = 10n ** 22n;
  const config: Record<string, unknown> = { chainId: 31337, terminalTotalDifficulty: 0, shanghaiTime: 0 };
  for (const k of ['homesteadBlock', 'eip150Block', 'eip155Block', 'eip158Block', 'byzantiumBlock', 'constantinopleBlock', 'petersburgBlock', 'istanbulBlock', 'berlinBlock', 'londonBlock']) config[k] = 0;
  const alloc = Object.fromEntries(keys.map((k) => [new Wallet(k).address, { balance: '0x' + balance.toString(16) }]));
  const genesisPath = join(dir, 'genesis.json');
  await writeFile(genesisPath, JSON.stringify({ config, alloc }));
  const node = await startHardhat({ accounts: keys.map((privateKey) => ({ privateKey, balance })), chainId: 31337, hardfork: 'shanghai', blockGasLimit: 30_000_000n, initialBaseFeePerGas: 1_000_000_000n });
  const provider = new JsonRpcProvider(node.url, 31337, { staticNetwork: true, batchMaxCount: 1 });
  const mine = () => provider.send('evm_mine', []);
  try {
    const wallets = keys.map((k) => new Wallet(k, provider));
    const nonces = await Promise.all(wallets.map((w) => provider.getTransactionCount(w.address)));
    const next = (i: number) => nonces[i]++;
    const deploy = async (name: string, args: unknown[], from: number) => {
      const f = new ContractFactory(artifact(name).abi as never, artifact(name).bytecode, wallets[from]);
      const c = await f.deploy(...args, { nonce: next(from), gasLimit: 6_000_000 });
      return c as unknown as Contract;
    };
    const nft = await deploy('ERC721PresetMinterPauserAutoId', ['Other NFT', 'ONFT', 'ipfs://x/'], 0);
    const multi = await deploy('ERC1155PresetMinterPauser', ['ipfs://y/{id}'], 1);
    const coin = await deploy('ERC20PresetMinterPauser', ['Other Coin', 'OC'], 2);
    await mine();
    const r = prng(42);
    let minted = 0;
    const owners = new Map<number, number>();
    for (let b = 0; b < 15; b++) {
      const pending: Promise<unknown>[] = [];
      for (let t = 0; t < 20; t++) {
        const kind = r(7);
        const w = r(wallets.length);
        const to = wallets[r(wallets.length)].address;
        if (kind === 0) {
          pending.push((nft.connect(wallets[0]) as Contract).mint(to, { nonce: next(0), gasLimit: 300_000 }));
          owners.set(minted++, wallets.findIndex((x) => x.address === to));
        } else if (kind === 1 && owners.size > 0) {
          const id = [...owners.keys()][r(owners.size)];
          const owner = owners.get(id)!;
          // Transfers of tokens minted in this very block may revert (not yet minted when estimated): a mix with reverts.
          pending.push((nft.connect(wallets[owner]) as Contract).transferFrom(wallets[owner].address, to, id, { nonce: next(owner), gasLimit: 200_000 }));
          owners.set(id, wallets.findIndex((x) => x.address === to));
        } else if (kind === 2) {
          pending.push((multi.connect(wallets[1]) as Contract).mintBatch(to, [1, 2, 3], [10, 20, 30], '0x', { nonce: next(1), gasLimit: 400_000, type: 1, accessList: [{ address: String(multi.target), storageKeys: [] }] }));
        } else if (kind === 3) {
          pending.push((coin.connect(wallets[2]) as Contract).mint(to, 10n ** 18n * BigInt(1 + r(100)), { nonce: next(2), gasLimit: 200_000, type: 0, gasPrice: 3_000_000_000n }));
        } else if (kind === 4) {
          pending.push(wallets[w].sendTransaction({ to, value: 10n ** 15n * BigInt(1 + r(50)), nonce: next(w), gasLimit: 21_000, type: 0, gasPrice: 2_000_000_000n }));
        } else if (kind === 5) {
          pending.push(wallets[w].sendTransaction({ to: ethersKeccak(toUtf8Bytes(`fresh-${b}-${t}`)).slice(0, 42), value: 1n, nonce: next(w), gasLimit: 30_000, type: 1, accessList: [] }));
        } else {
          // Pause and unpause the ERC-20 in one block: the flag is written and set back to zero.
          pending.push((coin.connect(wallets[2]) as Contract).pause({ nonce: next(2), gasLimit: 100_000 }));
          pending.push((coin.connect(wallets[2]) as Contract).unpause({ nonce: next(2), gasLimit: 100_000 }));
        }
      }
      await Promise.all(pending);
      await mine();
    }
    const head = BigInt(await provider.send('eth_blockNumber', []));
    assert.ok(head >= 16n);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), 'verify', '--rpc', node.url, '--genesis', genesisPath, '--from', '1', '--to', 'latest', '--workers', '2'], { cwd: PROJECT_ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    const lines = out.stdout.trim().split('\n');
    assert.equal(lines[lines.length - 1], `${head} matched, 0 mismatched`, out.stdout + out.stderr);
    assert.equal(out.code, 0);
    const blockLines = lines.filter((l) => l.startsWith('block '));
    assert.equal(blockLines.length, Number(head));
    const txs = blockLines.reduce((a, l) => a + Number(/ (\d+) txs /.exec(l)![1]), 0);
    assert.ok(txs >= 250, `${txs} transactions verified`);
    // A range that starts later still executes from genesis but counts only the range; this time over WebSocket.
    const partial = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), 'verify', '--rpc', node.url.replace('http://', 'ws://'), '--genesis', genesisPath, '--from', '5', '--to', '9', '--workers', '1'], { cwd: PROJECT_ROOT });
      let stdout = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.on('exit', () => resolve(stdout));
    });
    assert.match(partial, /^block 5 [\s\S]*^block 9 [\s\S]*^5 matched, 0 mismatched$/m);
  } finally {
    provider.destroy();
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
