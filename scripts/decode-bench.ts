/**
 * Block decoding, as the daemon's sources do it: each transaction built by @ethereumjs/tx on the Common it is given
 * (the library copies that Common and merges its parameter tables once per transaction), against the same blocks
 * decoded on a per-block Common that their transactions share (`sharedTxCommon`, what the daemon does). Both decodes
 * run alternately in one process on the same blocks, and must agree on every hash and sender.
 *
 *   npm run bench:decode [-- --rounds 5]      (or node scripts/decode-bench.ts under Node >= 22.18)
 *
 * Blocks: the 30 mainnet fixture blocks from their JSON-RPC form (the Ethereum source's path), and two generated
 * blocks of 2,000 transactions (ETH transfers, ERC-20 transfers) from their RLP.
 */
import { parseArgs } from 'node:util';
import { createBlockFromRLP, createBlockFromRPC, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createCommon, MAINNET } from '../src/chain/profile.ts';
import { loadKzg, nativeCrypto } from '../src/crypto/index.ts';
import { sharedTxCommon } from '../src/exec/tx-common.ts';
import { TRAFFIC_CHAIN, TrafficGenerator } from '../src/bench/traffic.ts';
import { trafficOptionsFor, workloadBlocks } from '../src/bench/workloads.ts';
import { mainnetFiles } from '../src/bench/run.ts';
import { readFixture } from '../src/replay/fixture.ts';
import { hex } from '../src/util/bytes.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, not ${values.rounds}`);

interface Set {
  name: string;
  /** Decode every block, each on the Common `per()` gives it. */
  decode: (per: () => Common) => Block[];
}

const fingerprint = (bs: Block[]) => bs.map((b) => [hex(b.hash()), ...b.transactions.map((t) => `${hex(t.hash())}:${t.getSenderAddress().toString()}`)].join(',')).join(';');

async function sets(): Promise<{ set: Set; common: Common }[]> {
  const raws = await Promise.all((await mainnetFiles(false)).map((f) => readFixture(f)));
  const mainnet = createCommon(MAINNET, nativeCrypto(await loadKzg()));
  const traffic = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  process.stdout.write('generating 2 blocks of 2,000 transactions each...\n');
  const gen = new TrafficGenerator(traffic, trafficOptionsFor(1, 2000, 2, 10_000));
  gen.setup(2000);
  const generated = [workloadBlocks(gen, 'transfers', 1, 2000)[0], workloadBlocks(gen, 'erc20', 1, 2000)[0]].map((b) => b.serialize());
  return [
    { set: { name: 'mainnet (30 blocks, JSON-RPC)', decode: (per) => raws.map((r) => createBlockFromRPC(r.block, [], { common: per(), setHardfork: true })) }, common: mainnet },
    { set: { name: 'generated (2 x 2,000 txs, RLP)', decode: (per) => generated.map((r) => createBlockFromRLP(r, { common: per() })) }, common: traffic },
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

for (const { set, common } of await sets()) {
  const plain: number[] = [];
  const shared: number[] = [];
  let txs = 0;
  for (let k = 0; k <= rounds; k++) {
    // Round 0 warms both paths up and checks they agree; it is not counted.
    let t = performance.now();
    // The library copies the Common for the header and again for each transaction; the shared one is made once per
    // block, as the daemon makes it (a block's header reads its Common's fork when hashed, so blocks never share one).
    const a = set.decode(() => common);
    const ta = performance.now() - t;
    t = performance.now();
    const b = set.decode(() => sharedTxCommon(common));
    const tb = performance.now() - t;
    if (k === 0) {
      if (fingerprint(a) !== fingerprint(b)) throw new Error(`${set.name}: the two decodes differ`);
      txs = a.reduce((n, x) => n + x.transactions.length, 0);
      continue;
    }
    plain.push(ta);
    shared.push(tb);
  }
  const [p, s] = [median(plain), median(shared)];
  console.log(`${set.name}, ${txs} txs, median of ${rounds}: library ${p.toFixed(1)} ms (${((p * 1000) / txs).toFixed(1)} us/tx), shared Common ${s.toFixed(1)} ms (${((s * 1000) / txs).toFixed(1)} us/tx), ${(p / s).toFixed(2)}x`);
}
