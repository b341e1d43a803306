/**
 * Plain value transfers without the EVM: a transaction that sends ether (or nothing) to an account without code, with
 * no data and no access list, runs no bytecode, so what @ethereumjs/vm `runTx` does for it reduces to the sender's
 * fee and nonce, the value moving, the refund of unused gas, the coinbase's fee and EIP-161's clean-up of touched empty
 * accounts. `runTx` spends about 110 us on such a transaction (call frames, three journal checkpoints, warm-address
 * sets, events, bloom); this applies the same state changes through the same state manager calls, in `runTx`'s
 * order (EIP-161's clean-up of touched accounts done here instead of by the EVM's journal), so that the overlay
 * tracks the same reads and writes (conflict detection depends on that) and the state, receipt and gas come out
 * identical.
 *
 * Anything this cannot vouch for goes to `runTx` instead (`undefined` is returned before the transaction changes any
 * state; only runTx's own first step, the EIP-161 clean-up of accounts left touched, may have run): a
 * transaction `runTx` would reject (it then throws its own error), rules that change a transfer's gas or state (EIP-2780,
 * 7708, 7778, 7928, 8037, binary-tree and Verkle state), Frontier's meters, proof-of-authority coinbases, forks before
 * Byzantium (receipts there carry an intermediate state root), precompiles and accounts with code (including EIP-7702
 * delegations) on either end, and a self-transfer.
 */
import { ConsensusType, Hardfork } from '@ethereumjs/common';
import { Capability, getCalldataFloorGas, type TypedTransaction } from '@ethereumjs/tx';
import { Account, KECCAK256_NULL, MAX_INTEGER, equalsBytes, type Address } from '@ethereumjs/util';
import type { Block } from '@ethereumjs/block';
import type { VM } from '@ethereumjs/vm';
import { hasFrontierRules } from '../chain/frontier-meters.ts';
import type { OverlayStateManager } from '../state/overlay.ts';
import { NOT_NOW } from '../state/types.ts';
import type { TxOutcome } from './executor.ts';
import { journalIsClean } from './hex-patches.ts';

/** EIPs under which a value transfer costs or changes more than the classic rules say. */
const EXCLUDED_EIPS = [2780, 4762, 6800, 7708, 7778, 7864, 7928, 8037];

/** Whether the VM's rules allow the fast path at all (checked once per VM and hardfork). */
const rulesChecked = new WeakMap<VM, { hardfork: string; ok: boolean }>();

function rulesAllow(vm: VM): boolean {
  const hardfork = vm.common.hardfork();
  const seen = rulesChecked.get(vm);
  if (seen !== undefined && seen.hardfork === hardfork) return seen.ok;
  const c = vm.common;
  const ok =
    !hasFrontierRules(vm) &&
    c.gteHardfork(Hardfork.Byzantium) &&
    c.consensusType() !== ConsensusType.ProofOfAuthority &&
    !EXCLUDED_EIPS.some((eip) => c.isActivatedEIP(eip));
  rulesChecked.set(vm, { hardfork, ok });
  return ok;
}

/**
 * Run `tx` as a plain transfer on `vm`'s state if it is one this path vouches for; `undefined` when `runTx` must run
 * it instead (the transaction has changed nothing then).
 */
export async function runPlainTransfer(vm: VM, state: OverlayStateManager, tx: TypedTransaction, block: Block): Promise<TxOutcome | undefined> {
  const to = tx.to;
  if (to === undefined || tx.data.length !== 0 || tx.type > 2) return undefined;
  if (!rulesAllow(vm)) return undefined;
  const common = vm.common;
  if (tx.common.hardfork() !== block.common.hardfork() || block.common.hardfork() !== common.hardfork()) return undefined;
  if (tx.supports(Capability.EIP2718TypedTransaction)) {
    if (!common.isActivatedEIP(2930)) return undefined;
    if ((tx as { accessList: unknown[] }).accessList.length !== 0) return undefined;
    if (tx.supports(Capability.EIP1559FeeMarket) && !common.isActivatedEIP(1559)) return undefined;
  }
  const header = block.header;
  if (header.gasLimit < tx.gasLimit) return undefined;
  if (vm.evm.getPrecompile === undefined || vm.evm.getPrecompile(to) !== undefined) return undefined;
  const caller = tx.getSenderAddress();
  if (equalsBytes(caller.bytes, to.bytes)) return undefined;

  const intrinsicGas = tx.getIntrinsicGas();
  const floorGas = getCalldataFloorGas(tx, caller);
  if (tx.gasLimit < (intrinsicGas > floorGas ? intrinsicGas : floorGas)) return undefined;
  const baseFee = header.baseFeePerGas ?? 0n;
  const eip1559 = common.isActivatedEIP(1559);
  const feeMarket = tx.supports(Capability.EIP1559FeeMarket);
  const maxFeePerGas = feeMarket ? (tx as { maxFeePerGas: bigint }).maxFeePerGas : (tx as { gasPrice: bigint }).gasPrice;
  if (eip1559 && maxFeePerGas < baseFee) return undefined;

  // runTx's first step (EIP-161 clean-up of accounts an earlier step left touched), so that what is checked below is
  // what runTx would see; runTx repeats it as a no-op when it takes the transaction after all. The state calls below
  // are answered on the call where the state can (`getAccountNow`, `putAccountNow`: the same reads, copies and
  // tracking as `getAccount` and `putAccount`), and awaited only where it cannot.
  const journal = vm.evm.journal;
  if (!journalIsClean(journal)) await journal.cleanup();
  // Everything `runTx` would check, on the state as it is: any doubt and it runs there (and rejects what it rejects).
  let read = state.getAccountNow(to);
  const recipient = read !== NOT_NOW ? read : await state.getAccount(to);
  if (recipient !== undefined && !equalsBytes(recipient.codeHash, KECCAK256_NULL)) return undefined;
  if (recipient !== undefined && recipient.balance + tx.value > MAX_INTEGER) return undefined;
  read = state.getAccountNow(caller);
  let from = read !== NOT_NOW ? read : await state.getAccount(caller);
  if (from === undefined || !equalsBytes(from.codeHash, KECCAK256_NULL)) return undefined;
  if (from.nonce !== tx.nonce) return undefined;
  if (from.balance < tx.getUpfrontCost(baseFee)) return undefined;
  if (feeMarket && from.balance < tx.value + tx.gasLimit * maxFeePerGas) return undefined;

  let gasPrice: bigint;
  let inclusionFeePerGas = 0n;
  if (feeMarket) {
    inclusionFeePerGas = (tx as { getEffectivePriorityFee(b: bigint): bigint }).getEffectivePriorityFee(baseFee);
    gasPrice = inclusionFeePerGas + baseFee;
  } else {
    gasPrice = maxFeePerGas;
    if (eip1559) inclusionFeePerGas = gasPrice - baseFee;
  }
  const txCost = tx.gasLimit * gasPrice;
  if (from.balance - txCost < tx.value) return undefined;

  // From here on the transaction runs; the state calls below are runTx's, in its order. Its writes go to the state
  // directly: through the EVM's journal they would only have been noted as touched (a hex string per call), for the
  // EIP-161 clean-up done below.
  state.checkpointNow();
  // The up-front gas purchase, then the nonce.
  from.balance -= txCost;
  if (!state.putAccountNow(caller, from)) await state.putAccount(caller, from);
  from.nonce += 1n;
  if (!state.putAccountNow(caller, from)) await state.putAccount(caller, from);
  // The call: the value leaves the sender and reaches the recipient (created if absent); no code runs.
  read = state.getAccountNow(caller);
  const sender = (read !== NOT_NOW ? read : await state.getAccount(caller)) ?? new Account();
  sender.balance -= tx.value;
  if (!state.putAccountNow(caller, sender)) await state.putAccount(caller, sender);
  read = state.getAccountNow(to);
  const target = (read !== NOT_NOW ? read : await state.getAccount(to)) ?? new Account();
  target.balance += tx.value;
  if (!state.putAccountNow(to, target)) await state.putAccount(to, target);
  state.markPostExecution();
  // Gas: the intrinsic cost alone (no execution, no refund), at least the calldata floor where EIP-7623 applies.
  let gasUsed = intrinsicGas;
  if (common.isActivatedEIP(7623) && gasUsed < floorGas) gasUsed = floorGas;
  read = state.getAccountNow(caller);
  from = (read !== NOT_NOW ? read : await state.getAccount(caller)) ?? new Account();
  from.balance += txCost - gasUsed * gasPrice;
  if (!state.putAccountNow(caller, from)) await state.putAccount(caller, from);
  const coinbase = header.coinbase;
  read = state.getAccountNow(coinbase);
  const miner = (read !== NOT_NOW ? read : await state.getAccount(coinbase)) ?? new Account();
  miner.balance += eip1559 ? gasUsed * inclusionFeePerGas : gasUsed * gasPrice;
  if (!state.putAccountNow(coinbase, miner)) await state.putAccount(coinbase, miner);
  // EIP-161: the touched accounts (sender, recipient, coinbase) left empty are removed, checked as the journal's
  // clean-up does (a read, then the deletion), in its order. The sender's nonce was raised, so it is never empty; an
  // account whose last write here was not empty is not either, and the journal's read of it would have noted
  // nothing new (the transaction wrote it and touched its balance).
  const toCoinbase = equalsBytes(to.bytes, coinbase.bytes);
  if (!toCoinbase && target.isEmpty()) await removeIfEmpty(state, to);
  if ((toCoinbase || !equalsBytes(caller.bytes, coinbase.bytes)) && miner.isEmpty()) await removeIfEmpty(state, coinbase);
  state.originalStorageCache.clear();
  state.commitNow();
  // No logs, so an empty bloom (an array of its own: receipts hand theirs on).
  return { type: tx.type, status: 1, gasUsed, blockGasSpent: gasUsed, logs: [], bloom: new Uint8Array(256) };
}

/** The journal's EIP-161 clean-up of one touched account: removed if it is (now) empty. */
async function removeIfEmpty(state: OverlayStateManager, address: Address): Promise<void> {
  const account = await state.getAccount(address);
  if (account === undefined || account.isEmpty()) await state.deleteAccount(address);
}
