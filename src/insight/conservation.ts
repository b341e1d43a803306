/**
 * Value conservation: over one block, the balances of all accounts together change by exactly what the protocol
 * created (block rewards, withdrawals) minus what it destroyed (the base fee and blob fee burned, balances of
 * self-destructed accounts). Execution is per account and per slot; this check looks at the block as a whole, so
 * a wrong write anywhere (a lost fee credit, a double-applied transfer, a corrupted value) shows as a violation
 * even when every individual step looked plausible.
 */
import { ParallaxError } from '../errors.ts';
import type { StateDiff } from '../state/types.ts';

export interface ConservationTerms {
  /** Wei created: block and uncle rewards, withdrawals (and, on a Frontier chain, nothing). */
  minted: bigint;
  /** Base fee times gas used, summed over the block's transactions. */
  baseFeeBurned: bigint;
  /** Blob gas times the blob gas price. */
  blobFeeBurned: bigint;
  /** Balances of accounts deleted during the block (self-destruct). */
  destroyed: bigint;
}

export interface ConservationReport extends ConservationTerms {
  /** Sum over all changed accounts of (balance after - balance before). */
  delta: bigint;
  /** minted - burned: what `delta` must equal. */
  expected: bigint;
  ok: boolean;
  /** Accounts with the largest balance changes (address hex, change), most significant first. */
  accounts: [string, bigint][];
}

const SHOWN = 12;

/** Compare the block's net balance change with what the protocol minted and burned. */
export async function checkConservation(
  diff: StateDiff,
  preBalance: (addr: string) => bigint | Promise<bigint>,
  terms: ConservationTerms,
): Promise<ConservationReport> {
  let delta = 0n;
  /** The largest changes so far, largest first (at most SHOWN). */
  const largest: [string, bigint, bigint][] = [];
  for (const [addr, d] of diff.accounts) {
    const after = d.account?.balance ?? 0n;
    let before = preBalance(addr);
    if (typeof before !== 'bigint') before = await before;
    const change = after - before;
    if (change === 0n) continue;
    delta += change;
    const size = abs(change);
    if (largest.length === SHOWN && size <= largest[SHOWN - 1][2]) continue;
    let at = largest.length;
    while (at > 0 && largest[at - 1][2] < size) at--;
    largest.splice(at, 0, [addr, change, size]);
    if (largest.length > SHOWN) largest.pop();
  }
  const expected = terms.minted - terms.baseFeeBurned - terms.blobFeeBurned - terms.destroyed;
  return { ...terms, delta, expected, ok: delta === expected, accounts: largest.map(([a, c]) => [a, c]) };
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** The loud error for a violated check: the block, the imbalance, and the accounts that moved most. */
export function conservationError(block: bigint, r: ConservationReport): ParallaxError {
  const list = r.accounts.map(([a, c]) => `0x${a} ${c > 0n ? '+' : ''}${c}`).join(', ');
  return new ParallaxError(
    'CONSERVATION_VIOLATED',
    `block ${block}: value not conserved: balances changed by ${r.delta} wei, expected ${r.expected} ` +
      `(minted ${r.minted}, base fee burned ${r.baseFeeBurned}, blob fee burned ${r.blobFeeBurned}, destroyed ${r.destroyed}); ` +
      `off by ${r.delta - r.expected} wei; largest changes: ${list}`,
    { block, delta: r.delta.toString(), expected: r.expected.toString(), accounts: r.accounts.map(([a, c]) => [a, c.toString()]) },
  );
}
