/**
 * ethereum/tests network names as chain profiles: every fork up to the named one active from block 0, and for
 * transition networks the next fork at the block number or timestamp the name gives.
 */
import { FORK_ORDER, type ChainProfile, type ForkActivation } from '../chain/profile.ts';

const NAMES: Record<string, string> = {
  Frontier: 'chainstart',
  Homestead: 'homestead',
  Dao: 'dao',
  EIP150: 'tangerineWhistle',
  EIP158: 'spuriousDragon',
  Byzantium: 'byzantium',
  Constantinople: 'constantinople',
  ConstantinopleFix: 'petersburg',
  Istanbul: 'istanbul',
  MuirGlacier: 'muirGlacier',
  Berlin: 'berlin',
  London: 'london',
  ArrowGlacier: 'arrowGlacier',
  GrayGlacier: 'grayGlacier',
  Paris: 'paris',
  Merge: 'paris',
  Shanghai: 'shanghai',
  Cancun: 'cancun',
  Prague: 'prague',
};

function upTo(fork: string): string[] {
  const i = FORK_ORDER.indexOf(fork);
  // The DAO fork only matters at its own block; networks after it simply include it (never at a block > 0).
  return FORK_ORDER.slice(0, i + 1).filter((f) => f !== 'mergeNetsplitBlock');
}

/**
 * Profile of a test network, or undefined if the name is unknown. `parisBlock` serves the
 * ArrowGlacierToParisAtDiffC0000 network, whose switch happens at a total difficulty: the caller finds the block.
 */
export function networkProfile(network: string, parisBlock?: number): ChainProfile | undefined {
  const base: ChainProfile = { name: `test-${network}`, chainId: 1 };
  const simple = NAMES[network];
  if (simple !== undefined) return { ...base, forks: upTo(simple).map((name) => ({ name, block: 0 })) };
  const m = /^(\w+?)To(\w+?)At(Time)?(\w+)$/.exec(network);
  if (m === null) return undefined;
  const [, fromName, toName, time, at] = m;
  const from = NAMES[fromName];
  const to = NAMES[toName];
  if (from === undefined || to === undefined) return undefined;
  const forks: ForkActivation[] = upTo(from).map((name) => ({ name, block: 0 }));
  // Forks between the two take effect with the second; the DAO fork only when it is the named one (its block has
  // its own header rule, extraData "dao-hard-fork").
  const between = FORK_ORDER.slice(FORK_ORDER.indexOf(from) + 1, FORK_ORDER.indexOf(to) + 1).filter(
    (f) => f !== 'mergeNetsplitBlock' && (f !== 'dao' || to === 'dao'),
  );
  for (const name of between) {
    if (time !== undefined) {
      forks.push({ name, timestamp: at === '15k' ? 15_000 : Number(at) });
    } else if (at.startsWith('Diff')) {
      if (parisBlock === undefined) return undefined;
      forks.push({ name, block: parisBlock });
    } else {
      forks.push({ name, block: Number(at) });
    }
  }
  return { ...base, forks };
}
