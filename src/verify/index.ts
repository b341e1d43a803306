/**
 * Verification: Parallax's results for a block against the canonical chain's. Compares the header values (state root
 * where the chain has a real one, receipts root, logs bloom, gas used); on a mismatch, asks the source for what it
 * can tell (receipts, post-state) and names the first differing transaction and the differing accounts and slots.
 */
import { RLP } from '@ethereumjs/rlp';
import type { BlockResult } from '../exec/executor.ts';
import { bytesEqual, fromHex, hex } from '../util/bytes.ts';
import type { BlockSource, CanonicalBlock } from '../source/types.ts';

export type Field = 'stateRoot' | 'receiptsRoot' | 'logsBloom' | 'gasUsed';

export interface FieldMismatch {
  field: Field;
  ours: string;
  canonical: string;
}

export interface TxMismatch {
  index: number;
  hash: string;
  what: string;
  ours: string;
  canonical: string;
}

export interface StateMismatch {
  account: string;
  slot?: string;
  field: string;
  ours: string;
  canonical: string;
}

export interface VerificationRecord {
  number: string;
  hash: string;
  matched: boolean;
  ours: Record<Field, string>;
  canonical: Partial<Record<Field, string>>;
  mismatches: FieldMismatch[];
  firstTx?: TxMismatch;
  state?: StateMismatch[];
  /** A Frontier block: drift repairs before it, how much post-state was checked, and every difference found. */
  frontier?: { repairs: { accounts: number; slots: number }; postState: { accounts: number; slots: number }; checks: { what: string; ours: string; chain: string }[] };
  at: string;
}

const p = (b: Uint8Array) => '0x' + hex(b);

/** Compare header values; a field the chain does not carry (Frontier's state root) is not compared. */
export function compare(result: BlockResult, c: CanonicalBlock): VerificationRecord {
  const ours: Record<Field, string> = {
    stateRoot: p(result.stateRoot),
    receiptsRoot: p(result.receiptsRoot),
    logsBloom: p(result.logsBloom),
    gasUsed: result.gasUsed.toString(),
  };
  const canonical: Partial<Record<Field, string>> = {
    receiptsRoot: p(c.receiptsRoot),
    logsBloom: p(c.logsBloom),
    gasUsed: c.gasUsed.toString(),
  };
  if (c.stateRoot !== undefined) canonical.stateRoot = p(c.stateRoot);
  const mismatches: FieldMismatch[] = [];
  if (c.stateRoot !== undefined && !bytesEqual(result.stateRoot, c.stateRoot)) mismatches.push({ field: 'stateRoot', ours: ours.stateRoot, canonical: canonical.stateRoot! });
  if (!bytesEqual(result.receiptsRoot, c.receiptsRoot)) mismatches.push({ field: 'receiptsRoot', ours: ours.receiptsRoot, canonical: canonical.receiptsRoot! });
  if (!bytesEqual(result.logsBloom, c.logsBloom)) mismatches.push({ field: 'logsBloom', ours: ours.logsBloom, canonical: canonical.logsBloom! });
  if (result.gasUsed !== c.gasUsed) mismatches.push({ field: 'gasUsed', ours: ours.gasUsed, canonical: canonical.gasUsed! });
  return { number: c.number.toString(), hash: p(c.hash), matched: mismatches.length === 0, ours, canonical, mismatches, at: new Date().toISOString() };
}

/** Ask the source what it can tell about a mismatched block: first differing receipt, differing post-state. */
/**
 * `readAccount` reads Parallax's state for accounts the block did not change (the committed parent state, which is
 * also their state after the block).
 */
export async function diagnose(
  rec: VerificationRecord,
  result: BlockResult,
  source: BlockSource,
  n: bigint,
  readAccount?: (address: Uint8Array) => Promise<unknown | undefined>,
): Promise<void> {
  const theirs = await source.receipts?.(n).catch(() => undefined);
  if (theirs !== undefined) {
    for (let i = 0; i < Math.max(theirs.length, result.txs.length); i++) {
      const t = theirs[i];
      const o = result.txs[i];
      const hash = t?.hash ?? p(result.block.transactions[i]?.hash() ?? new Uint8Array());
      if (t === undefined || o === undefined) {
        rec.firstTx = { index: i, hash, what: 'presence', ours: o === undefined ? 'absent' : 'present', canonical: t === undefined ? 'absent' : 'present' };
        break;
      }
      const status = o.reverted ? 0 : 1;
      const cumulative = (o.receipt as { cumulativeBlockGasUsed: bigint }).cumulativeBlockGasUsed;
      const checks: [string, string, string][] = [
        ['status', String(status), String(t.status)],
        ['cumulativeGasUsed', cumulative.toString(), t.cumulativeGasUsed.toString()],
        ['logs', String(o.receipt.logs.length), String(t.logs)],
      ];
      if (t.contractAddress !== undefined && o.createdAddress !== undefined) checks.push(['contractAddress', p(o.createdAddress), t.contractAddress]);
      const bad = checks.find(([, a, b]) => a !== b);
      if (bad !== undefined) {
        rec.firstTx = { index: i, hash, what: bad[0], ours: bad[1], canonical: bad[2] };
        break;
      }
    }
  }
  const post = await source.stateDiff?.(n).catch(() => undefined);
  if (post !== undefined) {
    const state: StateMismatch[] = [];
    const ours = result.diff.accounts;
    for (const [addr, a] of post.accounts) {
      const d = ours.get(addr.replace(/^0x/, ''));
      if (d === undefined) {
        state.push({ account: addr, field: 'touched', ours: 'unchanged', canonical: 'changed' });
        continue;
      }
      if (a.balance !== undefined && d.account != null && d.account.balance !== a.balance) {
        state.push({ account: addr, field: 'balance', ours: String(d.account?.balance), canonical: a.balance.toString() });
      }
      if (a.nonce !== undefined && d.account != null && d.account.nonce !== a.nonce) {
        state.push({ account: addr, field: 'nonce', ours: String(d.account?.nonce), canonical: a.nonce.toString() });
      }
      for (const [slot, v] of a.storage) {
        const mine = d.storage.get(BigInt(slot).toString(16).padStart(64, '0'));
        if (mine === undefined) continue;
        const mineV = mine.length === 0 ? 0n : BigInt(p(mine));
        if (mineV !== v) state.push({ account: addr, slot, field: 'storage', ours: '0x' + mineV.toString(16), canonical: '0x' + v.toString(16) });
      }
    }
    if (state.length > 0) rec.state = state.slice(0, 32);
  }
  if (rec.mismatches.some((m) => m.field === 'stateRoot') && source.accountProof !== undefined) {
    const root = fromHex(rec.canonical.stateRoot!);
    const proven = await provenDifferences(result, source, n);
    // Accounts the block's transactions named but did not change here: does the node hold one Parallax does not
    // (an empty account left behind by a failed call, say)?
    for (const address of touchedUnchanged(result)) {
      if (proven.length >= 64) break;
      const proof = await source.accountProof(address, [], n, root).catch(() => undefined);
      if (proof?.exists === true && readAccount !== undefined && (await readAccount(fromHex(address))) === undefined) {
        proven.push({ account: address, field: 'existence', ours: 'absent', canonical: `present (nonce ${proof.nonce}, balance ${proof.balance})` });
      }
    }
    if (proven.length > 0) rec.state = [...(rec.state ?? []), ...proven].slice(0, 64);
  }
}

/** Senders and recipients of the block's transactions that the block's diff does not contain. */
function touchedUnchanged(result: BlockResult): string[] {
  const out = new Set<string>();
  for (const tx of result.block.transactions) {
    for (const a of [tx.to?.bytes, tx.isSigned() ? tx.getSenderAddress().bytes : undefined]) {
      if (a === undefined) continue;
      const h = hex(a);
      if (!result.diff.accounts.has(h)) out.add('0x' + h);
    }
  }
  return [...out].slice(0, 64);
}

/**
 * Every account the block changed, compared with the node's EIP-1186 proof after the block: balance, nonce, code
 * hash, storage root, and for a differing storage root each slot the block wrote (present or absent in the node's
 * trie, and its value). This names a zero-valued slot the node kept where Parallax deleted it.
 */
async function provenDifferences(result: BlockResult, source: BlockSource, n: bigint): Promise<StateMismatch[]> {
  const out: StateMismatch[] = [];
  let asked = 0;
  for (const [addr, d] of result.diff.accounts) {
    if (asked++ >= 256 || out.length >= 64) break;
    const rlp = result.trie.accounts.get(addr);
    const slots = [...d.storage.keys()].slice(0, 64).map((k) => '0x' + k);
    const proof = await source.accountProof!('0x' + addr, slots, n).catch(() => undefined);
    if (proof === undefined) return out;
    const account = '0x' + addr;
    if (rlp === undefined || rlp === null) {
      if (proof.nonce !== 0n || proof.balance !== 0n) out.push({ account, field: 'existence', ours: 'deleted', canonical: 'present' });
      continue;
    }
    const [nonceB, balanceB, storageRoot, codeHash] = RLP.decode(rlp) as Uint8Array[];
    const big = (b: Uint8Array) => (b.length === 0 ? 0n : BigInt(p(b)));
    if (big(balanceB) !== proof.balance) out.push({ account, field: 'balance', ours: big(balanceB).toString(), canonical: proof.balance.toString() });
    if (big(nonceB) !== proof.nonce) out.push({ account, field: 'nonce', ours: big(nonceB).toString(), canonical: proof.nonce.toString() });
    if (p(codeHash) !== proof.codeHash) out.push({ account, field: 'codeHash', ours: p(codeHash), canonical: proof.codeHash });
    if (p(storageRoot) === proof.storageHash) continue;
    out.push({ account, field: 'storageRoot', ours: p(storageRoot), canonical: proof.storageHash });
    for (const slot of slots) {
      const v = d.storage.get(slot.slice(2))!;
      const ours = v.length === 0 ? undefined : big(v);
      const theirs = proof.slots.get(slot);
      if (!proof.slots.has(slot) || ours === theirs) continue;
      const show = (x: bigint | undefined) => (x === undefined ? 'absent' : '0x' + x.toString(16));
      out.push({ account, slot, field: theirs === 0n && ours === undefined ? 'storage (zero value kept in the trie)' : 'storage', ours: show(ours), canonical: show(theirs) });
    }
  }
  return out;
}
