/**
 * `parallax dev`: the embedded demo. A Hardhat Network node from node_modules (Shanghai, automine off), the traffic
 * generator driving it over JSON-RPC, and the daemon following it with metrics on 127.0.0.1:9615, one verified line
 * per block. Everything runs offline on 127.0.0.1 and is removed at the end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRAFFIC_CHAIN, TrafficGenerator } from '../bench/traffic.ts';
import { createCommon } from '../chain/profile.ts';
import type { Config } from '../config/index.ts';
import { nativeCrypto } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import { runDaemon } from '../node/daemon.ts';
import type { BlockReport, FollowResult } from '../node/index.ts';
import { RpcClient, sleep } from '../source/ethereum/rpc.ts';
import { RpcTrafficDriver } from './driver.ts';
import { startHardhat } from './hardhat.ts';

export interface DevOptions {
  /** The daemon's configuration; source.url, source.genesis and (unless kept) dataDir are set here. */
  config: Config;
  log: Logger;
  signal: AbortSignal;
  /** Stop after this many blocks (counted from block 1, the setup included). */
  blocks?: number;
  txsPerBlock: number;
  /** Pause between mined blocks. */
  intervalMs: number;
  seed: number;
  /** Keep the data directory given in config.dataDir instead of a temporary one. */
  keepDataDir?: boolean;
  onBlock?: (r: BlockReport) => void;
  onInfo?: (line: string) => void;
}

const BLOCK_GAS_LIMIT = 60_000_000n;

export async function runDev(o: DevOptions): Promise<FollowResult> {
  const info = o.onInfo ?? (() => {});
  const work = await mkdtemp(join(tmpdir(), 'parallax-dev-'));
  const common = createCommon(TRAFFIC_CHAIN, nativeCrypto());
  const gen = new TrafficGenerator(common, { seed: o.seed, holders: 300, tokens: 5, pools: 10, swappers: 100, payers: 300 });
  const genesisPath = join(work, 'genesis.json');
  await writeFile(genesisPath, JSON.stringify(RpcTrafficDriver.genesisFile(gen, 'shanghai'), null, 1));
  info(`starting Hardhat Network (node_modules/hardhat, shanghai, ${RpcTrafficDriver.accounts(gen).length} genesis accounts)`);
  const node = await startHardhat({
    accounts: RpcTrafficDriver.accounts(gen),
    chainId: TRAFFIC_CHAIN.chainId,
    hardfork: 'shanghai',
    blockGasLimit: BLOCK_GAS_LIMIT,
    initialBaseFeePerGas: 1_000_000_000n,
  });
  info(`node at ${node.url}; genesis ${genesisPath}`);
  const config: Config = {
    ...o.config,
    dataDir: o.keepDataDir === true ? o.config.dataDir : join(work, 'data'),
    source: { ...o.config.source, kind: 'ethereum', url: node.url, genesis: genesisPath },
  };
  const stopAll = new AbortController();
  const onAbort = () => stopAll.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  const rpc = new RpcClient({ url: node.url, timeoutMs: 30_000, retries: 3, backoffMaxMs: 1000, signal: stopAll.signal });
  const driver = new RpcTrafficDriver(rpc, gen, { blockGasLimit: BLOCK_GAS_LIMIT });
  const until = o.blocks === undefined ? undefined : BigInt(o.blocks);
  const drive = async () => {
    const setupBlocks = await driver.setup();
    info(`setup: ${setupBlocks} blocks (WETH9, Uniswap V2 factory and router, 5 ERC-20 tokens, 10 pools, distribution, approvals)`);
    let head = setupBlocks;
    while (!stopAll.signal.aborted && (until === undefined || head < Number(until))) {
      head += await driver.randomBlock(o.txsPerBlock);
      await sleep(o.intervalMs, stopAll.signal);
    }
  };
  try {
    const driving = drive().catch((e: unknown) => {
      if (!stopAll.signal.aborted) {
        o.log.error({ err: e }, 'traffic generator failed');
        stopAll.abort();
      }
    });
    const result = await runDaemon({ config, log: o.log, signal: stopAll.signal, until, onBlock: o.onBlock, onListening: (url) => info(`metrics and status at ${url}`) });
    stopAll.abort();
    await driving;
    return result;
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    stopAll.abort();
    await rpc.close();
    await node.stop();
    await rm(work, { recursive: true, force: true });
  }
}
