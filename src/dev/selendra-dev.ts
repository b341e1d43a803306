/**
 * `parallax dev --chain selendra`: the local Selendra chain (genuine runtime under chopsticks-core, served over
 * WebSocket on 127.0.0.1), the traffic driver building blocks of EVM and Substrate traffic, and Parallax following
 * the chain over WebSocket from an empty state, one verified line per block.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selendraProfile } from '../chain/frontier.ts';
import { createCommon } from '../chain/profile.ts';
import { nativeCrypto } from '../crypto/index.ts';
import { SelendraSource } from '../source/selendra/index.ts';
import { followSelendra, type SelendraBlockReport } from '../source/selendra/follow.ts';
import { startSelendraChain } from './selendra.ts';
import { SelendraTrafficDriver, selendraFunding, selendraGenerator } from './selendra-traffic.ts';

export interface SelendraDevOptions {
  specPath: string;
  workers: number;
  /** Stop after this many followed blocks; undefined = until the signal. */
  blocks?: number;
  txsPerBlock: number;
  seed: number;
  dataDir?: string;
  signal: AbortSignal;
  onInfo(line: string): void;
  onBlock(r: SelendraBlockReport): void;
}

export async function runSelendraDev(o: SelendraDevOptions): Promise<{ matched: number; mismatched: number; repairs: number }> {
  const common = createCommon(selendraProfile(), nativeCrypto());
  const gen = selendraGenerator(common, o.seed);
  o.onInfo(`starting the Selendra runtime from ${o.specPath} under chopsticks-core`);
  const chain = await startSelendraChain({ specPath: o.specPath, fund: await selendraFunding(gen) });
  const tmp = o.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'parallax-selendra-dev-')) : undefined;
  const source = new SelendraSource({ url: chain.url });
  const stopTraffic = new AbortController();
  try {
    const api = await source.connect();
    const start = await source.head();
    o.onInfo(`local Selendra chain at ${chain.url} (spec ${chain.runtime.specVersion}, block ${start}); deploying WETH9, Uniswap V2 and tokens`);
    const driver = new SelendraTrafficDriver(chain, api, gen);
    const traffic = (async () => {
      await driver.setup();
      while (!stopTraffic.signal.aborted && !o.signal.aborted) await driver.randomBlock(o.txsPerBlock);
    })();
    traffic.catch(() => {});
    const followed = await followSelendra({
      url: chain.url,
      dataDir: o.dataDir ?? tmp!,
      workers: o.workers,
      from: start + 1n,
      to: o.blocks === undefined ? 1n << 62n : start + BigInt(o.blocks),
      wait: true,
      signal: o.signal,
      onBlock: o.onBlock,
    });
    stopTraffic.abort();
    await traffic.catch((e: unknown) => {
      if (!o.signal.aborted) throw e;
    });
    return followed;
  } finally {
    stopTraffic.abort();
    await source.close();
    await chain.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}
