/**
 * geth-style genesis files (`config` with the chain id and fork schedule, `alloc` with the initial state), the format
 * geth, anvil (`--init`) and most dev chains share. Turns the file into a chain profile and an allocation.
 */
import { readFile } from 'node:fs/promises';
import type { ChainProfile, ForkActivation } from '../../chain/profile.ts';
import { ParallaxError, errorMessage } from '../../errors.ts';
import type { Alloc } from '../../state/genesis.ts';

export interface GenesisFile {
  config: Record<string, unknown>;
  alloc: Alloc;
  timestamp?: string;
  gasLimit?: string;
  baseFeePerGas?: string;
  [key: string]: unknown;
}

/** geth config key -> @ethereumjs fork name, in fork order. */
const BLOCK_FORKS: [string, string][] = [
  ['homesteadBlock', 'homestead'],
  ['daoForkBlock', 'dao'],
  ['eip150Block', 'tangerineWhistle'],
  ['eip155Block', 'spuriousDragon'],
  ['byzantiumBlock', 'byzantium'],
  ['constantinopleBlock', 'constantinople'],
  ['petersburgBlock', 'petersburg'],
  ['istanbulBlock', 'istanbul'],
  ['muirGlacierBlock', 'muirGlacier'],
  ['berlinBlock', 'berlin'],
  ['londonBlock', 'london'],
  ['arrowGlacierBlock', 'arrowGlacier'],
  ['grayGlacierBlock', 'grayGlacier'],
  ['mergeNetsplitBlock', 'mergeNetsplitBlock'],
];
const TIME_FORKS: [string, string][] = [
  ['shanghaiTime', 'shanghai'],
  ['cancunTime', 'cancun'],
  ['pragueTime', 'prague'],
  ['osakaTime', 'osaka'],
];

function num(v: unknown, what: string): number {
  const n = typeof v === 'string' ? Number(v.startsWith('0x') ? BigInt(v) : v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ParallaxError('CONFIG_INVALID', `${what}: ${JSON.stringify(v)} is not a non-negative integer`);
  }
  return n;
}

/** The chain profile a genesis `config` describes. */
export function profileFromGenesis(g: GenesisFile, where: string): ChainProfile {
  const c = g.config;
  if (c === null || typeof c !== 'object') throw new ParallaxError('CONFIG_INVALID', `${where}: no "config" object`);
  const chainId = num(c.chainId, `${where} config.chainId`);
  const forks: ForkActivation[] = [{ name: 'chainstart', block: 0 }];
  for (const [key, name] of BLOCK_FORKS) {
    if (c[key] === undefined || c[key] === null) continue;
    if (name === 'dao' && c.daoForkSupport !== true) continue;
    forks.push({ name, block: num(c[key], `${where} config.${key}`) });
  }
  // Proof of stake from genesis (every post-merge dev chain): terminal total difficulty 0, or timed forks present.
  const ttd = c.terminalTotalDifficulty;
  const hasTimeForks = TIME_FORKS.some(([k]) => c[k] !== undefined && c[k] !== null);
  if (ttd !== undefined && ttd !== null && BigInt(ttd as string | number) !== 0n && !hasTimeForks) {
    throw new ParallaxError('CONFIG_INVALID', `${where}: a merge after genesis (terminalTotalDifficulty ${String(ttd)}) is not supported; only proof-of-work or proof-of-stake from genesis`);
  }
  if ((ttd !== undefined && ttd !== null) || hasTimeForks) {
    if (!forks.some((f) => f.name === 'london')) throw new ParallaxError('CONFIG_INVALID', `${where}: proof of stake needs londonBlock`);
    forks.push({ name: 'paris', block: Math.max(...forks.map((f) => f.block ?? 0)) });
  }
  for (const [key, name] of TIME_FORKS) {
    if (c[key] === undefined || c[key] === null) continue;
    forks.push({ name, timestamp: num(c[key], `${where} config.${key}`) });
  }
  return { name: `genesis-${chainId}`, chainId, forks };
}

export async function readGenesisFile(path: string): Promise<GenesisFile> {
  let g: GenesisFile;
  try {
    g = JSON.parse(await readFile(path, 'utf8')) as GenesisFile;
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `cannot read genesis file ${path}: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
  if (g === null || typeof g !== 'object' || typeof g.alloc !== 'object' || g.alloc === null) {
    throw new ParallaxError('CONFIG_INVALID', `genesis file ${path}: no "alloc" object`, { file: path });
  }
  profileFromGenesis(g, `genesis file ${path}`);
  return g;
}
