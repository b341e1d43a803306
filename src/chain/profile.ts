/**
 * Chain profiles: which rules a chain executes with. A profile names the chain id and its fork schedule; the
 * executor turns it into an @ethereumjs Common (with Parallax's native crypto) and picks the active fork per block.
 */
import { Common, Mainnet, Hardfork, type ChainConfig, type CustomCrypto } from '@ethereumjs/common';
import { ParallaxError } from '../errors.ts';
import type { FrontierRules } from './frontier.ts';

export interface ForkActivation {
  /** @ethereumjs hardfork name: chainstart, homestead, dao, tangerineWhistle, spuriousDragon, byzantium, ... */
  name: string;
  block?: number | null;
  timestamp?: number;
}

export interface ChainProfile {
  name: string;
  chainId: number;
  /** Fork schedule, oldest first. Absent: Ethereum mainnet's own schedule. */
  forks?: ForkActivation[];
  /** A Frontier (Substrate) EVM: its precompiles, header environment and extra gas meters (see ./frontier.ts). */
  frontier?: FrontierRules;
}

/** The fork order @ethereumjs knows, oldest first. */
export const FORK_ORDER: string[] = [
  Hardfork.Chainstart,
  Hardfork.Homestead,
  Hardfork.Dao,
  Hardfork.TangerineWhistle,
  Hardfork.SpuriousDragon,
  Hardfork.Byzantium,
  Hardfork.Constantinople,
  Hardfork.Petersburg,
  Hardfork.Istanbul,
  Hardfork.MuirGlacier,
  Hardfork.Berlin,
  Hardfork.London,
  Hardfork.ArrowGlacier,
  Hardfork.GrayGlacier,
  Hardfork.Paris,
  Hardfork.MergeNetsplitBlock,
  Hardfork.Shanghai,
  Hardfork.Cancun,
  Hardfork.Prague,
  Hardfork.Osaka,
];

export const MAINNET: ChainProfile = { name: 'mainnet', chainId: 1 };

/** Every fork from Chainstart to Cancun active from block 0 (dev chains, generated traffic, Frontier chains). */
export const CANCUN_FROM_GENESIS: ForkActivation[] = ['chainstart', 'homestead', 'tangerineWhistle', 'spuriousDragon', 'byzantium', 'constantinople', 'petersburg', 'istanbul', 'berlin', 'london', 'paris', 'shanghai', 'cancun'].map(
  (name) => ({ name, block: 0 }),
);

/** The @ethereumjs chain config of a profile. */
export function chainConfig(profile: ChainProfile): ChainConfig {
  if (profile.forks === undefined) return Mainnet;
  const known = new Set(FORK_ORDER);
  for (const f of profile.forks) {
    if (!known.has(f.name)) {
      throw new ParallaxError('CONFIG_INVALID', `chain ${profile.name}: unknown fork "${f.name}" (allowed: ${FORK_ORDER.join(', ')})`);
    }
  }
  const byName = new Map(profile.forks.map((f) => [f.name, f]));
  // Every fork @ethereumjs knows must appear; those the profile does not activate are never reached.
  const hardforks = FORK_ORDER.map((name) => {
    const f = byName.get(name);
    if (f === undefined) return { name, block: null };
    return f.timestamp !== undefined ? { name, block: null, timestamp: f.timestamp } : { name, block: f.block ?? 0 };
  });
  return {
    ...Mainnet,
    name: profile.name,
    chainId: profile.chainId,
    defaultHardfork: profile.forks[profile.forks.length - 1]?.name ?? Hardfork.Chainstart,
    // Consensus (and so block rewards) follows the active fork: @ethereumjs switches to proof of stake at Paris.
    hardforks,
    bootstrapNodes: [],
    dnsNetworks: [],
  } as ChainConfig;
}

export function createCommon(profile: ChainProfile, customCrypto: CustomCrypto): Common {
  const chain = chainConfig(profile);
  return new Common({ chain, hardfork: chain.defaultHardfork, customCrypto });
}
