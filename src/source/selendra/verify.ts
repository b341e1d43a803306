/**
 * One Frontier block through Parallax, checked against the chain's own results:
 *   1. execute it (parallel engine) on Parallax's state, noting every account and slot it read;
 *   2. compare those reads with the chain's state at the parent block; where the chain holds something else (balances
 *      moved outside the EVM: Substrate transfers, fees, rewards; or an account Parallax had never seen), the chain's
 *      values are written at the start of the block and the block is executed again, until every read agrees: each
 *      corrected account or slot is a drift repair;
 *   3. verify: receipts root, logs bloom and gas used against the Ethereum block Frontier built; status, gas used,
 *      logs and created address of every transaction against its receipt and status; and the post-state of every
 *      account and slot the block wrote against the chain's storage at that block.
 */
import type { Common } from '@ethereumjs/common';
import { KECCAK256_NULL } from '@ethereumjs/util';
import { keccak256 } from '../../crypto/index.ts';
import type { BlockResult, BlockExecutor, PreStateRepair } from '../../exec/executor.ts';
import type { ExecutedBlock } from '../../exec/parallel.ts';
import { sharedTxCommon } from '../../exec/tx-common.ts';
import type { StateStore } from '../../state/store.ts';
import { bytesEqual, fromHex, hex } from '../../util/bytes.ts';
import { executableBlock, type FrontierBlock } from './index.ts';
import type { FrontierState } from './state.ts';
import { ParallaxError } from '../../errors.ts';

export interface FrontierCheck {
  what: string;
  ours: string;
  chain: string;
}

export interface FrontierRun {
  executed: ExecutedBlock;
  /** Accounts and slots whose parent state Parallax corrected from the chain before the block. */
  repairs: { accounts: number; slots: number };
  /** Executions of the block (1 + the rounds that found reads to repair). */
  rounds: number;
  /** Block-level, per-transaction and post-state differences; empty when the block matches. */
  mismatches: FrontierCheck[];
  /** How many accounts and slots of the post-state were checked against the chain. */
  postState: { accounts: number; slots: number };
}

/** A cold start discovers state a call level at a time (the sender, then the contract, its slots, the contracts it calls...). */
const MAX_ROUNDS = 32;

/** Code hash of the code the chain holds for an account (the empty-code hash for none). */
const codeHashOf = (code: Uint8Array): Uint8Array => (code.length === 0 ? KECCAK256_NULL : keccak256(code));

export async function runFrontierBlock(o: {
  engine: { execute(block: ReturnType<typeof executableBlock>, opts?: { serial?: boolean }): Promise<ExecutedBlock> };
  executor: BlockExecutor;
  store: StateStore;
  state: FrontierState;
  block: FrontierBlock;
  common: Common;
}): Promise<FrontierRun> {
  const fb = o.block;
  // Built on a Common of the block's own that its transactions share (see sharedTxCommon), not on the executor's.
  const block = executableBlock(fb, sharedTxCommon(o.common));
  const repair: PreStateRepair = { accounts: [], slots: [] };
  const repaired = new Set<string>();
  let executed: ExecutedBlock | undefined;
  let rounds = 0;
  // EthereumChecked/Xvm entries: no EVM fee, a pallet-wide nonce, a sender only the status names: main thread only.
  const feeless = new Set(fb.transactions.flatMap((t, i) => (t.unsigned ? [i] : [])));
  o.executor.setFeeless(feeless);
  try {
    while (true) {
      rounds++;
      o.executor.setPreState(repair.accounts.length + repair.slots.length > 0 ? repair : undefined);
      o.store.recordReads();
      // A transaction the chain executed but Parallax finds invalid (a sender without the funds) is what a state
      // Parallax lacks looks like: repaired like any other read, then the block runs again.
      let invalid: unknown;
      executed = undefined;
      try {
        executed = await o.engine.execute(block, { serial: feeless.size > 0 });
      } catch (e) {
        if (!(e instanceof ParallaxError) || e.code !== 'BLOCK_INVALID') throw e;
        invalid = e;
      }
      const reads = o.store.takeReads();
      const accounts = [...reads.accounts].filter((a) => !repaired.has(a));
      const slots = [...reads.slots].filter((k) => !repaired.has(k));
      const found = await driftOf(o.store, o.state, fb.parentHash, accounts, slots);
      if (found.accounts.length + found.slots.length === 0) {
        if (invalid !== undefined) throw invalid;
        break;
      }
      if (rounds === MAX_ROUNDS) {
        throw new ParallaxError('SOURCE_FAILED', `block ${fb.number}: the state read still differs from the chain's after ${rounds} executions`, { block: fb.number, kind: 'bad_answer' });
      }
      for (const a of found.accounts) repaired.add(hex(a.address));
      for (const s of found.slots) repaired.add(hex(s.address) + hex(s.slot));
      repair.accounts.push(...found.accounts);
      repair.slots.push(...found.slots);
    }
  } finally {
    o.executor.setPreState(undefined);
    o.executor.setFeeless(undefined);
  }
  const result = executed!.result;
  const mismatches = [...blockChecks(result, fb)];
  const post = await postStateChecks(result, o.state, fb);
  mismatches.push(...post.mismatches);
  return { executed: executed!, repairs: { accounts: repair.accounts.length, slots: repair.slots.length }, rounds, mismatches, postState: post.checked };
}

/** Accounts and slots whose value in the store (the parent state) is not the chain's at the parent block. */
async function driftOf(store: StateStore, state: FrontierState, parent: Uint8Array, accounts: string[], slots: string[]): Promise<PreStateRepair> {
  const out: PreStateRepair = { accounts: [], slots: [] };
  const addrs = accounts.map((a) => fromHex(a));
  const chain = await state.accounts(addrs, parent);
  for (const [i, address] of addrs.entries()) {
    const local = await store.getAccount(address);
    const c = chain[i];
    if ((local?.nonce ?? 0n) !== c.nonce || (local?.balance ?? 0n) !== c.balance || !bytesEqual(local?.codeHash ?? KECCAK256_NULL, codeHashOf(c.code))) {
      out.accounts.push({ address, nonce: c.nonce, balance: c.balance, code: c.code });
    }
  }
  const pairs = slots.map((k) => [fromHex(k.slice(0, 40)), fromHex(k.slice(40))] as [Uint8Array, Uint8Array]);
  const values = await state.slots(pairs, parent);
  for (const [i, [address, slot]] of pairs.entries()) {
    const local = await store.getStorage(address, slot);
    const v = local.length === 0 ? 0n : BigInt('0x' + hex(local));
    if (v !== values[i]) out.slots.push({ address, slot, value: values[i] });
  }
  return out;
}

function* blockChecks(r: BlockResult, fb: FrontierBlock): Generator<FrontierCheck> {
  const p = (b: Uint8Array) => '0x' + hex(b);
  if (!bytesEqual(r.receiptsRoot, fb.header.receiptsRoot)) yield { what: 'receiptsRoot', ours: p(r.receiptsRoot), chain: p(fb.header.receiptsRoot) };
  if (!bytesEqual(r.logsBloom, fb.header.logsBloom)) yield { what: 'logsBloom', ours: p(r.logsBloom), chain: p(fb.header.logsBloom) };
  if (r.gasUsed !== fb.header.gasUsed) yield { what: 'gasUsed', ours: String(r.gasUsed), chain: String(fb.header.gasUsed) };
  if (r.txs.length !== fb.transactions.length) {
    yield { what: 'transactions', ours: String(r.txs.length), chain: String(fb.transactions.length) };
    return;
  }
  for (const [i, t] of fb.transactions.entries()) {
    const ours = r.txs[i];
    const rc = fb.receipts[i];
    const status = ours.reverted ? 0 : 1;
    if (status !== rc.status) yield { what: `tx ${i} status`, ours: String(status), chain: String(rc.status) };
    if (ours.gasUsed !== t.gasUsed) yield { what: `tx ${i} gasUsed`, ours: String(ours.gasUsed), chain: String(t.gasUsed) };
    if (ours.receipt.logs.length !== rc.logs.length) yield { what: `tx ${i} logs`, ours: String(ours.receipt.logs.length), chain: String(rc.logs.length) };
    const created = ours.createdAddress === undefined || ours.reverted ? undefined : p(ours.createdAddress);
    const chainCreated = t.contractAddress === undefined || rc.status === 0 ? undefined : p(t.contractAddress);
    if (created !== chainCreated) yield { what: `tx ${i} contractAddress`, ours: String(created), chain: String(chainCreated) };
  }
}

/** Every account and slot the block wrote, against the chain's storage at the block. */
async function postStateChecks(r: BlockResult, state: FrontierState, fb: FrontierBlock): Promise<{ mismatches: FrontierCheck[]; checked: { accounts: number; slots: number } }> {
  const mismatches: FrontierCheck[] = [];
  const diffs = [...r.diff.accounts.values()];
  const chain = await state.accounts(diffs.map((d) => d.address), fb.hash);
  const slotPairs: [Uint8Array, Uint8Array, bigint][] = [];
  for (const [i, d] of diffs.entries()) {
    const a = '0x' + hex(d.address);
    const c = chain[i];
    const nonce = d.account?.nonce ?? 0n;
    const balance = d.account?.balance ?? 0n;
    const codeHash = d.account?.codeHash ?? KECCAK256_NULL;
    const chainCodeHash = codeHashOf(c.code);
    if (nonce !== c.nonce) mismatches.push({ what: `${a} nonce`, ours: String(nonce), chain: String(c.nonce) });
    // The chain's balance also holds what moved outside the EVM in this block (picked up as drift next block).
    const outside = fb.nonEvm.get(hex(c.id)) ?? 0n;
    if (balance + outside !== c.balance) mismatches.push({ what: `${a} balance`, ours: outside === 0n ? String(balance) : `${balance} + ${outside} outside the EVM`, chain: String(c.balance) });
    if (!bytesEqual(codeHash, chainCodeHash)) mismatches.push({ what: `${a} code`, ours: '0x' + hex(codeHash), chain: '0x' + hex(chainCodeHash) });
    for (const [slot, value] of d.storage) slotPairs.push([d.address, fromHex(slot.padStart(64, '0')), value.length === 0 ? 0n : BigInt('0x' + hex(value))]);
  }
  const values = await state.slots(slotPairs.map(([a, s]) => [a, s]), fb.hash);
  for (const [i, [a, s, v]] of slotPairs.entries()) {
    if (v !== values[i]) mismatches.push({ what: `0x${hex(a)} slot 0x${hex(s)}`, ours: String(v), chain: String(values[i]) });
  }
  return { mismatches, checked: { accounts: diffs.length, slots: slotPairs.length } };
}
