/**
 * Frontier's two extra gas meters, run beside @ethereumjs's own gas accounting:
 *   - proof size (PoV): bytes of storage proof the transaction makes the block carry. A base of the transaction's
 *     SCALE-encoded `TransactionData` plus a constant, then a fixed size per external operation (account read, code
 *     read, storage read/write, emptiness check), some of them only the first time per transaction;
 *   - storage growth: bytes of new storage (a slot going from empty to set, a contract's code and its metadata).
 * Each meter is converted to gas by its ratio; the transaction is charged the largest of the EVM's gas (after
 * refunds), proof size x ratio and storage growth x ratio, which is what its receipt records and what its fee is
 * computed from. The adjustment happens where @ethereumjs computes the charge (after the top-level call returns,
 * before refunds and fees), so the sender's refund, the coinbase's tip and the receipt all follow from it, in the
 * worker threads and on the main thread alike.
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import { EVMError, type InterpreterStep } from '@ethereumjs/evm';
import { Address } from '@ethereumjs/util';
import type { VM } from '@ethereumjs/vm';
import { onSteps } from '../exec/evm-patches.ts';
import type { FrontierRules } from './frontier.ts';

/** Sizes (bytes) of the records a proof carries (pallet-evm). */
const CODE_METADATA = 76; // AccountCodesMetadata: key + (size, hash)
const IS_EMPTY = 93; // an emptiness check: account basic + code metadata
const STORAGE = 116; // one AccountStorages entry with its key
const WRITE = 32; // a storage write on top of the read
const CODE_KEY = 36; // AccountCodes key
const CREATE = 32;

interface TxMeter {
  intrinsic: bigint;
  gasLimit: bigint;
  pov: number;
  storage: number;
  /** Addresses whose code is already in the proof, and slots already in it (per transaction, kept across reverts). */
  codes: Set<string>;
  slots: Set<string>;
  /** Slots already counted as new storage. */
  grown: Set<string>;
}

interface Installed {
  rules: FrontierRules;
  tx?: TxMeter;
}

const installed = new WeakMap<object, Installed>();

/** SCALE compact length prefix of `n` (single-byte, two-byte, four-byte modes; then one byte plus the value's bytes). */
function compactLen(n: number): number {
  if (n < 1 << 6) return 1;
  if (n < 1 << 14) return 2;
  if (n < 2 ** 30) return 4;
  return 1 + Math.ceil(n.toString(16).length / 2);
}

/** SCALE length of Frontier's `TransactionData` for a transaction (the proof-size base, before the constant). */
export function transactionDataSize(tx: TypedTransaction): number {
  let n = tx.to === undefined ? 1 : 21; // action
  n += compactLen(tx.data.length) + tx.data.length; // input
  n += 32 + 32; // nonce, gas_limit
  const some = (present: boolean, size: number) => 1 + (present ? size : 0);
  n += some(tx.type !== 2, 32); // gas_price
  n += 2 * some(tx.type === 2, 32); // max_fee_per_gas, max_priority_fee_per_gas
  n += 32; // value
  const chainId = tx.type === 0 ? (tx as { supports(c: number): boolean }).supports(155) : true;
  n += some(chainId, 8);
  const list = (tx as { accessList?: [Uint8Array, Uint8Array[]][] }).accessList ?? [];
  n += compactLen(list.length);
  for (const [, keys] of list) n += 20 + compactLen(keys.length) + 32 * keys.length;
  return n;
}

/** Install the meters on a VM whose EVM runs Frontier rules. */
export function installFrontierMeters(vm: VM, rules: FrontierRules): void {
  const self: Installed = { rules };
  installed.set(vm, self);
  const evm = vm.evm as unknown as {
    runCall(opts: { message?: unknown; gasLimit?: bigint; to?: Address }): Promise<{ execResult: { executionGasUsed: bigint; gasRefund?: bigint; exceptionError?: unknown } }>;
    events: { on(e: 'step', f: (s: InterpreterStep, resolve?: () => void) => void): void };
  };
  const runCall = evm.runCall.bind(evm);
  evm.runCall = async (opts) => {
    const top = opts.message === undefined;
    const m = self.tx;
    if (!top || m === undefined) return runCall(opts);
    await start(self, m, opts.to, vm.stateManager);
    // A checkpoint around the whole call: a meter over its limit fails the transaction as a whole, even where the
    // EVM itself succeeded or the frame that crossed the limit was a caught sub-call.
    await vm.evm.journal.checkpoint();
    const res = await runCall(opts);
    if (overLimit(self, m)) {
      await vm.evm.journal.revert();
      res.execResult = { ...res.execResult, executionGasUsed: m.gasLimit - m.intrinsic, gasRefund: 0n, exceptionError: new EVMError(EVMError.errorMessages.OUT_OF_GAS), returnValue: new Uint8Array(), logs: [], selfdestruct: new Set(), createdAddresses: new Set() } as typeof res.execResult;
      delete (res as { createdAddress?: unknown }).createdAddress;
      return res;
    }
    await vm.evm.journal.commit();
    charge(self, res.execResult);
    return res;
  };
  // A contract created (by the transaction or by CREATE/CREATE2) stores its code: key, metadata and the code, counted
  // as storage growth even when the code is empty.
  const create = evm as unknown as { _executeCreate(message: unknown): Promise<{ execResult: { exceptionError?: unknown; returnValue?: Uint8Array } }> };
  const executeCreate = create._executeCreate.bind(evm);
  create._executeCreate = async (message) => {
    const result = await executeCreate(message);
    const r = result.execResult;
    if (self.tx !== undefined && r.exceptionError === undefined) {
      self.tx.pov += WRITE;
      self.tx.storage += codeDepositGrowth(r.returnValue?.length ?? 0);
    }
    return result;
  };
  // Step events for the metered opcodes only (the interpreter's fast loop runs the others without building one).
  onSteps(vm.evm.events!, METERED_OPCODES, async (step: InterpreterStep, resolve?: (result?: unknown) => void) => {
    try {
      if (self.tx !== undefined) await record(self, self.tx, step);
    } finally {
      resolve?.();
    }
  });
}

/** Whether `vm` runs under Frontier's meters (installed by `installFrontierMeters`). */
export function hasFrontierRules(vm: VM): boolean {
  return installed.has(vm);
}

/** Start metering a transaction (before runTx). A no-op on a VM without Frontier rules. */
export function beginFrontierTx(vm: VM, tx: TypedTransaction): void {
  const self = installed.get(vm);
  if (self === undefined) return;
  self.tx = {
    intrinsic: tx.getIntrinsicGas(),
    gasLimit: tx.gasLimit,
    pov: transactionDataSize(tx) + 67,
    storage: 0,
    codes: new Set(),
    slots: new Set(),
    grown: new Set(),
  };
}

/** A meter past its limit (gas limit / ratio): the transaction runs out of gas. */
function overLimit(self: Installed, m: TxMeter): boolean {
  const { povRatio, storageRatio } = self.rules;
  return (povRatio > 0 && BigInt(m.pov) > m.gasLimit / BigInt(povRatio)) || (storageRatio > 0 && BigInt(m.storage) > m.gasLimit / BigInt(storageRatio));
}

/** The charge: the largest of the EVM's gas after refunds and the two meters in gas. */
function charge(self: Installed, r: { executionGasUsed: bigint; gasRefund?: bigint; exceptionError?: unknown }): void {
  const m = self.tx!;
  const std = r.executionGasUsed + m.intrinsic;
  const refund = (r.gasRefund ?? 0n) < std / 5n ? (r.gasRefund ?? 0n) : std / 5n;
  const meters = [BigInt(m.pov * self.rules.povRatio), BigInt(m.storage * self.rules.storageRatio)];
  const meter = meters[0] > meters[1] ? meters[0] : meters[1];
  if (meter > std - refund) {
    r.executionGasUsed = (meter > m.gasLimit ? m.gasLimit : meter) - m.intrinsic;
    r.gasRefund = 0n;
  }
}

async function codeSize(step: InterpreterStep, address: Address): Promise<number> {
  return (await step.stateManager.getCode(address)).length;
}

function stackAddress(step: InterpreterStep, fromTop: number): Address {
  const v = step.stack[step.stack.length - 1 - fromTop];
  const hex = v.toString(16).padStart(40, '0').slice(-40);
  return new Address(Uint8Array.from(Buffer.from(hex, 'hex')));
}

/** The opcodes `record` meters (every case of its switch). */
export const METERED_OPCODES = ['BALANCE', 'EXTCODESIZE', 'EXTCODEHASH', 'EXTCODECOPY', 'CALL', 'CALLCODE', 'DELEGATECALL', 'STATICCALL', 'SLOAD', 'SSTORE', 'CREATE', 'CREATE2', 'SELFDESTRUCT'] as const;

/** Record an opcode's external operations (pallet-evm `record_external_dynamic_opcode_cost` and the gasometer's). */
async function record(self: Installed, m: TxMeter, step: InterpreterStep): Promise<void> {
  const basic = self.rules.accountBasicProofSize;
  /** First reference to an address's code by an opcode: 76 + its size, then it is in the proof. */
  const dynamicCode = async (a: Address, extra: number) => {
    const key = a.toString();
    if (m.codes.has(key)) return;
    m.codes.add(key);
    m.pov += CODE_METADATA + extra + (await codeSize(step, a));
  };
  switch (step.opcode.name) {
    case 'BALANCE':
      if (!m.codes.has(stackAddress(step, 0).toString())) m.pov += basic;
      break;
    case 'EXTCODESIZE':
    case 'EXTCODEHASH':
    case 'EXTCODECOPY':
      await dynamicCode(stackAddress(step, 0), 0);
      break;
    case 'CALL':
    case 'CALLCODE':
      // The gasometer's emptiness check, the target's code, and the value transfer's account read (even of 0).
      m.pov += IS_EMPTY;
      await dynamicCode(stackAddress(step, 1), IS_EMPTY);
      m.pov += basic;
      break;
    case 'DELEGATECALL':
    case 'STATICCALL':
      m.pov += IS_EMPTY;
      await dynamicCode(stackAddress(step, 1), IS_EMPTY);
      break;
    case 'SLOAD':
    case 'SSTORE': {
      const slot = step.stack[step.stack.length - 1];
      const key = `${step.address.toString()}:${slot.toString(16)}`;
      if (!m.slots.has(key)) {
        m.slots.add(key);
        m.pov += (step.opcode.name === 'SSTORE' ? WRITE : 0) + STORAGE;
      }
      if (step.opcode.name === 'SSTORE' && step.stack[step.stack.length - 2] !== 0n && !m.grown.has(key)) {
        // New storage: the slot was empty when the transaction started (its current value does not matter).
        const slotBytes = Uint8Array.from(Buffer.from(slot.toString(16).padStart(64, '0'), 'hex'));
        const original = await (step.stateManager as unknown as { originalStorageCache: { get(a: Address, k: Uint8Array): Promise<Uint8Array> } }).originalStorageCache.get(step.address, slotBytes);
        if (original.every((b) => b === 0)) {
          m.grown.add(key);
          m.storage += STORAGE;
        }
      }
      break;
    }
    case 'CREATE':
    case 'CREATE2':
      // The opcode, then the creation: the creator's account, the new address's code (empty), its nonce.
      m.pov += CREATE + basic + IS_EMPTY + basic;
      break;
    case 'SELFDESTRUCT':
      m.pov += IS_EMPTY + (m.codes.has(stackAddress(step, 0).toString()) ? 0 : IS_EMPTY);
      break;
  }
}

/** What a transaction records before its code runs: the caller's account, the target's code, the transfer. */
async function start(self: Installed, m: TxMeter, to: Address | undefined, state: { getCode(a: Address): Promise<Uint8Array> }): Promise<void> {
  const basic = self.rules.accountBasicProofSize;
  if (to === undefined) {
    m.pov += basic + IS_EMPTY + basic;
    return;
  }
  m.pov += basic;
  const size = (await state.getCode(to)).length;
  if (size === 0) m.pov += IS_EMPTY;
  else {
    m.codes.add(to.toString());
    m.pov += IS_EMPTY + CODE_METADATA + size;
  }
  m.pov += basic;
}

/** Storage growth of a contract's code being stored (key, metadata and the code). */
export function codeDepositGrowth(size: number): number {
  return CODE_KEY + CODE_METADATA + size;
}

