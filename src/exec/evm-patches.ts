/**
 * Patches to @ethereumjs/evm's interpreter, imported for their effect by the executor and the workers.
 *
 * 1. A cheaper, cached bytecode analysis.
 *
 * The first time a call frame jumps, the interpreter scans the whole bytecode: jump destinations, the opcode table
 * entry at each instruction, and a bigint for every PUSH's bytes (through a hex string). On the mainnet replay that
 * was 18% of the time, about 90 ns per byte of code, mostly the push values. So:
 * - push values are computed when a PUSH runs, not up front: PUSH1 and PUSH2 from two shared tables, longer ones
 *   once per site in a per-code map (the library's PUSH handler is replaced by one that reads them);
 * - the analysis is cached per code array (the state layers hand out one array per stored code) and per opcode
 *   table *contents*: a new EVM (a VM per replayed block, a hardfork switch) builds a new table object, but tables
 *   with the same opcodes, fees and handlers share one analysis.
 * Forks with EIP-8024 (immediate operands) or code-chunk witnesses (EIP-6800/7864) keep the library's analysis and
 * PUSH handler.
 *
 * 2. Self-destruct burns are reported to the state manager (see below).
 *
 * 3. Word conversions without hex strings in MLOAD, MSTORE and SLOAD (see below).
 *
 * 4. A call that moves no value does not read the caller's and callee's balances (see below).
 *
 * 5. Storage values loaded 32 bytes long, and SSTORE's and LOG's word conversions without hex strings (see below).
 *
 * 6. Opcodes stepped synchronously, awaiting only the steps that return a promise; step listeners that declare the
 *    opcodes they need (`onSteps`) get those steps only (see below).
 *
 * 7. Call frames' memory (8 KiB each) from a per-thread pool instead of a new allocation per frame (see below).
 */
import type { Account, Address } from '@ethereumjs/util';
import type { InterpreterStep } from '@ethereumjs/evm';
import { uintBytes } from '../util/rlp.ts';
import './hex-patches.ts';
import { notePatch } from '../util/patches.ts';

type Analysis = { jumps: Uint8Array; pushes: object; opcodesCached: unknown[] };
interface OpEntry {
  opcodeInfo: { name: string; fullName: string; fee: number; dynamicGas: boolean; isInvalid: boolean };
  opHandler: unknown;
  gasHandler: unknown;
}
interface AnalysisThis {
  _evm: { _opcodeMap: OpEntry[] };
  common: { isActivatedEIP(eip: number): boolean };
}
interface InterpreterProto {
  _getValidJumpDestinations(this: AnalysisThis, code: Uint8Array): Analysis;
  _selfDestruct(this: SelfDestructThis, to: Address): Promise<void>;
}
interface SelfDestructThis {
  _env: { address: Address };
  _stateManager: { getAccount(a: Address): Promise<Account | undefined>; noteBurned?(amount: bigint): void };
}
interface PushState {
  cachedPushes: object;
  code: Uint8Array;
  opCode: number;
  programCounter: number;
  stack: { push(v: bigint): void; pop(): bigint; popN(n: number): bigint[]; peek(n?: number): bigint[] };
  memory: { _store: Uint8Array; extend(offset: number, size: number): void; read(offset: number, size: number, avoidCopy?: boolean): Uint8Array };
  interpreter: { storageLoad(key: Uint8Array): Promise<Uint8Array> };
}
type Handler = (runState: PushState, common: unknown) => unknown;
type GasHandler = (runState: PushState, gas: bigint, common: { isActivatedEIP(eip: number): boolean }) => Promise<bigint>;

// Neither the Interpreter class nor the handler table is exported; their modules are the ones evm.js imports, so
// patching them affects every EVM created afterwards (the table is copied into each EVM's opcode map).
const base = import.meta.resolve('@ethereumjs/evm');
const { Interpreter } = (await import(new URL('./interpreter.js', base).href)) as { Interpreter: { prototype: InterpreterProto } };
const { handlers } = (await import(new URL('./opcodes/functions.js', base).href)) as { handlers: Map<number, Handler> };
const { dynamicGasHandlers } = (await import(new URL('./opcodes/gas.js', base).href)) as { dynamicGasHandlers: Map<number, GasHandler> };
const { accessStorageEIP2929 } = (await import(new URL('./opcodes/EIP2929.js', base).href)) as {
  accessStorageEIP2929(runState: PushState, key: Uint8Array, isSstore: boolean, common: unknown, chargeGas?: boolean): bigint;
};
const libraryAnalysis = Interpreter.prototype._getValidJumpDestinations;
const { EVMError, EVMErrorTypeString } = (await import(new URL('./errors.js', base).href)) as {
  EVMError: { new (message: string): Error; errorMessages: Record<string, string> };
  EVMErrorTypeString: string;
};
const { subMemUsage, divCeil, trap, setLengthLeftStorage } = (await import(new URL('./opcodes/util.js', base).href)) as {
  subMemUsage(runState: unknown, offset: bigint, length: bigint, common: unknown): bigint;
  divCeil(a: bigint, b: bigint): bigint;
  trap(message: string): never;
  setLengthLeftStorage(v: Uint8Array): Uint8Array;
};

const SMALL = Array.from({ length: 256 }, (_, i) => BigInt(i));
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** PUSH2 values by their 16 bits, filled on first use (preallocated: sparse writes would turn a growing array into a dictionary). */
const PUSH2 = new Array<bigint | undefined>(65536);

/** The big-endian value of `code[from, from + n)`, zero-padded on the right past the end of the code. */
export function pushValue(code: Uint8Array, from: number, n: number): bigint {
  const end = Math.min(from + n, code.length);
  if (n <= 6) {
    let v = 0;
    for (let j = from; j < end; j++) v = v * 256 + code[j]!;
    for (let j = end; j < from + n; j++) v *= 256;
    return v < 256 ? SMALL[v]! : BigInt(v);
  }
  let hex = '0x';
  for (let j = from; j < end; j++) hex += HEX[code[j]!];
  for (let j = end; j < from + n; j++) hex += '00';
  return BigInt(hex);
}

/** Push values of one code, filled as its PUSH instructions run. */
export class PushValues {
  private readonly wide = new Map<number, bigint>();

  /** The value pushed by the PUSH`n` whose immediate bytes start at `pc`. */
  at(code: Uint8Array, pc: number, n: number): bigint {
    if (n === 1) return SMALL[pc < code.length ? code[pc]! : 0]!;
    if (n === 2 && pc + 1 < code.length) {
      const v = code[pc]! * 256 + code[pc + 1]!;
      return (PUSH2[v] ??= BigInt(v));
    }
    let v = this.wide.get(pc);
    if (v === undefined) {
      v = pushValue(code, pc, n);
      this.wide.set(pc, v);
    }
    return v;
  }
}

const libraryPush = handlers.get(0x60)!;
const push: Handler = (runState, common) => {
  const cached = runState.cachedPushes;
  if (!(cached instanceof PushValues)) return libraryPush(runState, common);
  const pc = runState.programCounter;
  const n = runState.opCode - 0x5f;
  runState.stack.push(cached.at(runState.code, pc, n));
  runState.programCounter = pc + n;
};
for (let op = 0x60; op <= 0x7f; op++) {
  if (handlers.get(op) !== libraryPush) throw new Error(`@ethereumjs/evm: PUSH handler for 0x${op.toString(16)} is not the expected one`);
  handlers.set(op, push);
}

/*
 * 3. Word conversions. MSTORE, MLOAD and SLOAD turn a 256-bit word into 32 bytes and back through the library's
 * `bigIntToBytes` (a hex string, validated by a regular expression) and `setLengthLeft` (which pads by spreading both
 * arrays into a new one), or `bytesToBigInt` (a hex string again). In a profile of the mainnet replay MSTORE's
 * `setLengthLeft` alone was 1.1 s of a worker's 27 s of work. These write and read the bytes directly, with the same
 * results (tested against the library's functions, and by the official tests).
 */
const TWO_53 = 2n ** 53n;
/** One word of scratch for the conversions (each thread loads this module). */
const word = new DataView(new ArrayBuffer(32));
const wordBytesScratch = new Uint8Array(word.buffer);

/** Write `v` (0 <= v < 2^256) as 32 big-endian bytes at `out[off]`. */
export function writeWord(out: Uint8Array, off: number, v: bigint): void {
  if (v < TWO_53) {
    let n = Number(v);
    out.fill(0, off, off + 25);
    for (let i = off + 31; i > off + 24; i--) {
      out[i] = n % 256;
      n = Math.floor(n / 256);
    }
    return;
  }
  // Four 64-bit limbs (a quarter of the time of going through a hex string), written in a scratch word and copied:
  // a DataView over `out.buffer` would move a 32-byte `out` (a storage key, a topic) off V8's heap, a malloc each.
  word.setBigUint64(24, BigInt.asUintN(64, v));
  word.setBigUint64(16, BigInt.asUintN(64, v >> 64n));
  word.setBigUint64(8, BigInt.asUintN(64, v >> 128n));
  word.setBigUint64(0, v >> 192n);
  out.set(wordBytesScratch, off);
}

/** `v` as 32 big-endian bytes. */
export function wordBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  if (v !== 0n) writeWord(out, 0, v);
  return out;
}

/** The unsigned big-endian value of `bytes[from, to)`. */
export function readWord(bytes: Uint8Array, from: number, to: number): bigint {
  let i = from;
  while (i < to && bytes[i] === 0) i++;
  if (to - i <= 6) {
    let n = 0;
    for (; i < to; i++) n = n * 256 + bytes[i]!;
    return n < 256 ? SMALL[n]! : BigInt(n);
  }
  if (to - i <= 32) {
    // Right-aligned in the scratch word and read as four limbs, the bytes copied one by one: a view of `bytes` would
    // move a 32-byte array on V8's heap (a loaded storage value) into a backing store of its own.
    const pad = 32 - (to - i);
    wordBytesScratch.fill(0, 0, pad);
    for (let k = pad; i < to; k++, i++) wordBytesScratch[k] = bytes[i]!;
    return (((word.getBigUint64(0) << 64n) | word.getBigUint64(8)) << 128n) | (word.getBigUint64(16) << 64n) | word.getBigUint64(24);
  }
  return BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset + i, to - i).toString('hex'));
}

/** The library's dynamic-gas handlers this module replaced, by opcode (for the equivalence tests). */
export const libraryGasHandlers = new Map<number, unknown>();

/** Replace a handler after checking it is the library code this replacement was written against. */
function replaceHandler<T>(table: Map<number, T>, op: number, expected: string, replacement: T): void {
  const current = table.get(op);
  if (typeof current !== 'function' || !current.toString().includes(expected)) {
    throw new Error(`@ethereumjs/evm: the handler for 0x${op.toString(16)} is not the expected one (no "${expected}")`);
  }
  if ((table as Map<number, unknown>) === dynamicGasHandlers && !libraryGasHandlers.has(op)) libraryGasHandlers.set(op, current);
  table.set(op, replacement);
}

// KECCAK256 pushes the hash read as a word, not parsed back from its hex string; the memory is hashed in place, not
// copied first. Without a custom keccak (Parallax always gives one) the library's handler runs.
const librarySha3 = handlers.get(0x20)!;
const EMPTY = new Uint8Array(0);
replaceHandler(handlers, 0x20, 'BigInt(bytesToHex(', (runState: PushState, common: unknown) => {
  const keccak = (common as { customCrypto: { keccak256?: (d: Uint8Array) => Uint8Array } }).customCrypto.keccak256;
  if (keccak === undefined) return librarySha3(runState, common);
  const [offset, length] = runState.stack.popN(2);
  const data = length === 0n ? EMPTY : runState.memory.read(Number(offset), Number(length), true);
  runState.stack.push(readWord(keccak(data), 0, 32));
});
replaceHandler(handlers, 0x51, 'runState.memory.read(Number(pos), 32, true)', (runState: PushState) => {
  const offset = Number(runState.stack.pop());
  runState.memory.extend(offset, 32);
  runState.stack.push(readWord(runState.memory._store, offset, offset + 32));
});
replaceHandler(handlers, 0x52, 'setLengthLeft(bigIntToBytes(word), 32)', (runState: PushState) => {
  const [offset, word] = runState.stack.popN(2);
  const o = Number(offset);
  // The library's `memory.write` extends, then checks the value's size (always 32 here) and bounds (met by extend).
  runState.memory.extend(o, 32);
  writeWord(runState.memory._store, o, word);
});
replaceHandler(handlers, 0x54, 'setLengthLeft(bigIntToBytes(key), 32)', async (runState: PushState) => {
  const value = await runState.interpreter.storageLoad(wordBytes(runState.stack.pop()));
  runState.stack.push(value.length === 0 ? SMALL[0]! : readWord(value, 0, value.length));
});
const librarySloadGas = dynamicGasHandlers.get(0x54)!;
replaceHandler(dynamicGasHandlers, 0x54, 'setLengthLeft(bigIntToBytes(key), 32)', ((runState: PushState, gas: bigint, common: { isActivatedEIP(eip: number): boolean }) => {
  // Verkle witnesses (EIP-6800, EIP-7864) charge differently: the library's handler.
  if (common.isActivatedEIP(6800) || common.isActivatedEIP(7864)) return librarySloadGas(runState, gas, common);
  if (common.isActivatedEIP(2929)) gas += accessStorageEIP2929(runState, wordBytes(runState.stack.peek()[0]!), false, common, true);
  return gas;
}) as GasHandler);

/** Jump destinations and opcode table entries of `code`, as the library computes them (push values lazily). */
export function analyseCode(code: Uint8Array, table: readonly unknown[]): Analysis {
  const len = code.length;
  const jumps = new Uint8Array(len);
  const opcodesCached = new Array<unknown>(len);
  for (let i = 0; i < len; i++) {
    const opcode = code[i]!;
    opcodesCached[i] = table[opcode];
    if (opcode >= 0x60 && opcode <= 0x7f) i += opcode - 0x5f;
    else if (opcode === 0x5b) jumps[i] = 1;
  }
  return { jumps, pushes: new PushValues(), opcodesCached };
}

/** One key per distinct opcode table contents: names, fees, handler identities for all 256 opcodes. */
const tableKeys = new WeakMap<object, object>();
const keysBySignature = new Map<string, object>();
const functionIds = new WeakMap<object, number>();
let nextFunctionId = 1;
function idOf(f: unknown): number {
  if (typeof f !== 'function') return 0;
  let id = functionIds.get(f);
  if (id === undefined) {
    id = nextFunctionId++;
    functionIds.set(f, id);
  }
  return id;
}
function tableKey(table: OpEntry[]): object {
  let key = tableKeys.get(table);
  if (key !== undefined) return key;
  const parts: string[] = [];
  for (let op = 0; op < 256; op++) {
    const e = table[op];
    const i = e?.opcodeInfo;
    parts.push(i === undefined ? '-' : `${i.name}:${i.fee}:${i.dynamicGas ? 1 : 0}:${i.isInvalid ? 1 : 0}:${idOf(e!.opHandler)}:${idOf(e!.gasHandler)}`);
  }
  const signature = parts.join(',');
  key = keysBySignature.get(signature);
  if (key === undefined) {
    key = {};
    keysBySignature.set(signature, key);
  }
  tableKeys.set(table, key);
  return key;
}

const cache = new WeakMap<Uint8Array, WeakMap<object, Analysis>>();

Interpreter.prototype._getValidJumpDestinations = function (this: AnalysisThis, code: Uint8Array): Analysis {
  const c = this.common;
  if (c.isActivatedEIP(8024) || c.isActivatedEIP(6800) || c.isActivatedEIP(7864)) return libraryAnalysis.call(this, code);
  const table = this._evm._opcodeMap;
  const key = tableKey(table);
  let byTable = cache.get(code);
  if (byTable === undefined) {
    byTable = new WeakMap();
    cache.set(code, byTable);
  }
  let a = byTable.get(key);
  if (a === undefined) {
    a = analyseCode(code, table);
    byTable.set(key, a);
  }
  return a;
};

/** The library's own analysis, for the equivalence test. */
export function libraryCodeAnalysis(interpreter: unknown, code: Uint8Array): { jumps: Uint8Array; pushes: Record<number, bigint>; opcodesCached: unknown[] } {
  return libraryAnalysis.call(interpreter as AnalysisThis, code) as never;
}

/**
 * A self-destruct whose beneficiary is the contract itself burns its balance (always before Cancun; after it, for a
 * contract created in the same transaction). The EVM just zeroes the balance, which looks like any other write, so
 * the burn is reported to the state manager here (undone with the call frame if it reverts); the value
 * conservation check counts it as destroyed.
 */
const selfDestruct = Interpreter.prototype._selfDestruct;
Interpreter.prototype._selfDestruct = async function (this: SelfDestructThis, to: Address): Promise<void> {
  const self = this._env.address;
  const sm = this._stateManager;
  if (sm.noteBurned === undefined || !self.equals(to)) return selfDestruct.call(this, to);
  const before = (await sm.getAccount(self))?.balance ?? 0n;
  try {
    return await selfDestruct.call(this, to);
  } finally {
    const after = (await sm.getAccount(self))?.balance ?? 0n;
    if (after < before) sm.noteBurned(before - after);
  }
};

/*
 * 4. Every call debits the caller and credits the callee, even with no value: the library reads both balances
 * (subtracting and adding zero, checking for underflow and overflow, which zero cannot cause) and re-stores both
 * accounts. With no value and no block-level access list (EIP-7928, which records balances), these only re-store
 * the accounts: the same state, and no read of a balance the transaction does not depend on (the overlay tracks
 * balance reads apart, see state/overlay.ts).
 */
interface ValueMessage {
  value: bigint;
  caller: Address;
  to: Address;
}
interface EvmThis {
  common: { isActivatedEIP(eip: number): boolean };
  journal: { putAccount(address: Address, account: Account): Promise<void> };
}
interface EvmProto {
  _reduceSenderBalance(this: EvmThis, account: Account, message: ValueMessage): Promise<void>;
  _addToBalance(this: EvmThis, toAccount: Account, message: ValueMessage): Promise<void>;
}
const { EVM } = (await import(new URL('./evm.js', base).href)) as { EVM: { prototype: EvmProto } };
const libraryReduce = EVM.prototype._reduceSenderBalance;
const libraryAdd = EVM.prototype._addToBalance;
for (const [f, expected] of [
  [libraryReduce, 'account.balance -= message.value'],
  [libraryAdd, 'toAccount.balance + message.value'],
] as const) {
  if (!f.toString().includes(expected)) throw new Error(`@ethereumjs/evm: ${f.name} is not the expected one (no "${expected}")`);
}
EVM.prototype._reduceSenderBalance = function (this: EvmThis, account: Account, message: ValueMessage): Promise<void> {
  if (message.value !== 0n || this.common.isActivatedEIP(7928)) return libraryReduce.call(this, account, message);
  return this.journal.putAccount(message.caller, account);
};
EVM.prototype._addToBalance = async function (this: EvmThis, toAccount: Account, message: ValueMessage): Promise<void> {
  if (message.value !== 0n || this.common.isActivatedEIP(7928)) return libraryAdd.call(this, toAccount, message);
  await this.journal.putAccount(message.to, toAccount);
};

/*
 * 5. SSTORE and LOG conversions. SSTORE's dynamic gas pads the slot's current and original values to 32 bytes with
 * the library's `setLengthLeft`, which builds the result by spreading both arrays into a new one (several us a call;
 * in a profile of the ERC-20 blocks it was 4% of the busy worker's time). Storage loads now hand out non-zero values
 * already 32 bytes long (zero stays empty): every reader of `storageLoad` in the library pads or converts them
 * (`setLengthLeftStorage`, `bytesToBigInt`, the SLOAD above) or only tests for emptiness (EIP-8037), so the values
 * they see are the same, and the padding returns its input. SSTORE's key and value and LOG's topics are converted
 * directly instead of through hex strings. SSTORE under EIP-8037 (state gas) keeps the library's handler.
 */
interface StorageThis {
  storageLoad(key: Uint8Array, original?: boolean, trackBAL?: boolean): Promise<Uint8Array>;
}
const storageProto = Interpreter.prototype as unknown as StorageThis;
const libraryStorageLoad = storageProto.storageLoad;
if (!libraryStorageLoad.toString().includes('getStorage(this._env.address, key)')) {
  throw new Error('@ethereumjs/evm: Interpreter.storageLoad is not the expected one (no "getStorage(this._env.address, key)")');
}
storageProto.storageLoad = async function (this: StorageThis, key: Uint8Array, original = false, trackBAL = true): Promise<Uint8Array> {
  return padWord(await libraryStorageLoad.call(this, key, original, trackBAL));
};

/** A storage value as 32 bytes, unless it is empty (zero) or 32 bytes already. */
export function padWord(v: Uint8Array): Uint8Array {
  if (v.length === 0 || v.length === 32) return v;
  const out = new Uint8Array(32);
  out.set(v, 32 - v.length);
  return out;
}

interface SstoreState {
  stack: { popN(n: number): bigint[] };
  interpreter: { _evm: { common: { isActivatedEIP(eip: number): boolean } }; storageStore(key: Uint8Array, value: Uint8Array): Promise<void> };
}
const librarySstore = handlers.get(0x55)!;
replaceHandler(handlers, 0x55, 'setLengthLeft(bigIntToBytes(key), 32)', (async (runState: SstoreState, common: unknown) => {
  if (runState.interpreter._evm.common.isActivatedEIP(8037)) return librarySstore(runState as never, common);
  const [key, val] = runState.stack.popN(2);
  await runState.interpreter.storageStore(wordBytes(key!), val === 0n ? new Uint8Array(0) : uintBytes(val!));
}) as unknown as Handler);

/*
 * SSTORE's gas (EIP-2200 with EIP-2929, Istanbul onwards): the same computation as the library's handler, with the
 * key and the new value converted to 32 bytes directly. Other rules (Constantinople's EIP-1283, the pre-Istanbul
 * rule, EIP-8038, block-level access lists, code-chunk witnesses) keep the library's handler.
 */
const { updateSstoreGasEIP2200 } = (await import(new URL('./opcodes/EIP2200.js', base).href)) as {
  updateSstoreGasEIP2200(runState: unknown, current: Uint8Array, original: Uint8Array, value: Uint8Array, key: Uint8Array, common: unknown): bigint;
};
interface SstoreGasCommon {
  isActivatedEIP(eip: number): boolean;
  gteHardfork(hardfork: string): boolean;
  hardfork(): string;
}
interface SstoreGasState {
  stack: { peek(n: number): bigint[] };
  interpreter: { isStatic(): boolean; storageLoad(key: Uint8Array, original?: boolean, trackBAL?: boolean): Promise<Uint8Array> };
}
const librarySstoreGas = dynamicGasHandlers.get(0x55)! as unknown as (runState: SstoreGasState, gas: bigint, common: SstoreGasCommon) => Promise<bigint>;
replaceHandler(dynamicGasHandlers, 0x55, 'updateSstoreGasEIP2200(runState, currentStorage, originalStorage, setLengthLeftStorage(value), keyBytes, common)', (async (
  runState: SstoreGasState,
  gas: bigint,
  common: SstoreGasCommon,
) => {
  if (
    !common.gteHardfork('istanbul') ||
    common.hardfork() === 'constantinople' ||
    common.isActivatedEIP(8038) ||
    common.isActivatedEIP(7928) ||
    common.isActivatedEIP(6800) ||
    common.isActivatedEIP(7864)
  ) {
    return librarySstoreGas(runState, gas, common);
  }
  if (runState.interpreter.isStatic()) trap(EVMError.errorMessages.STATIC_STATE_CHANGE!);
  const [key, val] = runState.stack.peek(2) as [bigint, bigint];
  const keyBytes = wordBytes(key);
  const current = setLengthLeftStorage(await runState.interpreter.storageLoad(keyBytes, false, false));
  const original = setLengthLeftStorage(await runState.interpreter.storageLoad(keyBytes, true, false));
  gas += updateSstoreGasEIP2200(runState, current, original, val === 0n ? new Uint8Array(0) : wordBytes(val), keyBytes, common);
  if (common.isActivatedEIP(2929)) gas += accessStorageEIP2929(runState as never, keyBytes, true, common, true);
  return gas;
}) as unknown as GasHandler);

interface LogState {
  opCode: number;
  stack: { popN(n: number): bigint[] };
  memory: { read(offset: number, size: number): Uint8Array };
  interpreter: { log(data: Uint8Array, numberOfTopics: number, topics: Uint8Array[]): void };
}
const logHandler = ((runState: LogState) => {
  const [memOffset, memLength] = runState.stack.popN(2);
  const count = runState.opCode - 0xa0;
  const topics = runState.stack.popN(count).map(wordBytes);
  const data = memLength === 0n ? new Uint8Array(0) : runState.memory.read(Number(memOffset), Number(memLength));
  runState.interpreter.log(data, count, topics);
}) as unknown as Handler;
for (let op = 0xa0; op <= 0xa4; op++) replaceHandler(handlers, op, 'setLengthLeft(bigIntToBytes(a), 32)', logHandler);

export const ANALYSIS_CACHE_INSTALLED = true;

/*
 * 6. Opcodes stepped without a promise each. The library's loop awaits `runStep`, an async method, for every opcode,
 * and `runStep` awaits the opcode's dynamic-gas handler (all of them async functions) and, for async opcodes, the
 * handler: at least one promise and one trip through the microtask queue per opcode, most of them for arithmetic,
 * stack and memory opcodes that never wait for anything. The loop below runs a step synchronously and awaits only
 * what is a promise (a state read, a call); the memory-only gas handlers are replaced by synchronous ones with the
 * same arithmetic. The step does what `runStep` does, in the same order: gas handler, invalid-opcode check, base and
 * dynamic gas, program counter, EIP-7928's pending post-call out-of-gas, handler. The library's loop and step stay in
 * charge wherever they do something this one does not: EOF code, the performance profiler, debug output, code-chunk
 * witnesses (EIP-6800/7864), and step listeners (tracers) unless every one of them was registered with `onSteps`: a
 * listener that needs a few opcodes (the Frontier meters) gets the library's own `runStep`, event and all, for those,
 * instead of an event (with a copy of the stack and of the memory) for every opcode.
 */
interface StepEntry {
  opcodeInfo: { code: number; feeBigInt: bigint; dynamicGas: boolean; isInvalid: boolean; isAsync: boolean };
  opHandler: (runState: unknown, common: unknown) => unknown;
  gasHandler: (runState: unknown, gas: bigint, common: unknown) => bigint | Promise<bigint>;
}
interface StepRunState {
  programCounter: number;
  opCode: number;
  code: Uint8Array;
  gasLeft: bigint;
  validJumps: Uint8Array;
  cachedPushes: object;
  shouldDoJumpAnalysis: boolean;
  env: { accessWitness?: unknown };
  eip8037BurnLeftoverAfterCreateHaltOntoAlive?: boolean;
}
interface RunThis {
  _runState: StepRunState;
  _evm: { DEBUG: boolean; events: { listenerCount(e: string): number; listeners(e: string): unknown[] }; _opcodeMap: OpEntry[] };
  common: { isActivatedEIP(eip: number): boolean };
  profilerOpts?: { enabled?: boolean };
  lookupOpInfo(op: number): StepEntry;
  runStep(entry?: StepEntry): Promise<void>;
  useGas(amount: bigint, context: unknown): void;
  _getValidJumpDestinations(code: Uint8Array): { jumps: Uint8Array; pushes: object; opcodesCached: StepEntry[] };
}
type RunResult = { runState: StepRunState; exceptionError: unknown };
const runProto = Interpreter.prototype as unknown as {
  run(this: RunThis, code: Uint8Array, opts?: { pc?: number }): Promise<RunResult>;
  runStep(this: RunThis, entry?: StepEntry): Promise<void>;
};
const { consumeEip7928PostTargetCallOog } = (await import(new URL('./opcodes/EIP7928.js', base).href)) as {
  consumeEip7928PostTargetCallOog(runState: unknown): void;
};
const libraryRun = runProto.run;
for (const [f, expected] of [
  [libraryRun, 'await this.runStep(opCodeObj)'],
  [runProto.runStep, 'consumeEip7928PostTargetCallOog(this._runState);'],
] as const) {
  if (!f.toString().includes(expected)) throw new Error(`@ethereumjs/evm: Interpreter.${f.name} is not the expected one (no "${expected}")`);
}

/** One opcode, as `runStep` runs it; a promise only when the gas handler or the opcode's handler returned one. */
function step(it: RunThis, rs: StepRunState, entry: StepEntry): Promise<void> | undefined {
  const info = entry.opcodeInfo;
  if (info.dynamicGas) {
    const gas = entry.gasHandler(rs, info.feeBigInt, it.common);
    if (typeof gas !== 'bigint') return gas.then((g) => finishStep(it, rs, entry, g));
    return finishStep(it, rs, entry, gas);
  }
  return finishStep(it, rs, entry, info.feeBigInt);
}

function finishStep(it: RunThis, rs: StepRunState, entry: StepEntry, gas: bigint): Promise<void> | undefined {
  const info = entry.opcodeInfo;
  if (info.isInvalid) throw new EVMError(EVMError.errorMessages.INVALID_OPCODE!);
  it.useGas(gas, info);
  rs.programCounter++;
  consumeEip7928PostTargetCallOog(rs);
  const out = entry.opHandler(rs, it.common);
  return info.isAsync ? (out as Promise<void>) : undefined;
}

type StepListener = (step: InterpreterStep, resolve?: (result?: unknown) => void) => void;
/** The opcodes (by name) each listener registered with `onSteps` needs a step event for. */
const stepOpcodes = new WeakMap<object, ReadonlySet<string>>();
/** Per opcode table, the opcodes the listeners need, as flags by opcode byte (see `stepFilter`). */
const stepFilters = new WeakMap<object, { listeners: unknown[]; flags: Uint8Array }>();

/**
 * Register a `step` listener that only needs the steps of the named opcodes (as step events name them: LOG1, not
 * LOG): the interpreter keeps its fast loop and runs the library's `runStep` (which builds the event and calls every
 * listener) for those opcodes only. Other listeners on the same EVM may be called for those steps too, and all of
 * them for every step wherever the library's loop runs: a listener must ignore opcodes it did not ask for.
 */
export function onSteps(events: { on(e: 'step', f: StepListener): unknown }, opcodes: readonly string[], listener: StepListener): void {
  stepOpcodes.set(listener, new Set(opcodes));
  events.on('step', listener);
}

/** Flags by opcode byte for the steps the listeners need; undefined if one of them needs every step. */
function stepFilter(table: OpEntry[], listeners: unknown[]): Uint8Array | undefined {
  const cached = stepFilters.get(table);
  if (cached !== undefined && cached.listeners.length === listeners.length && cached.listeners.every((l, i) => l === listeners[i])) return cached.flags;
  const flags = new Uint8Array(256);
  for (const l of listeners) {
    const names = stepOpcodes.get(l as object);
    if (names === undefined) return undefined;
    // By the name a step event carries (`fullName`: LOG1, PUSH2, ...).
    for (let op = 0; op < 256; op++) if (table[op] !== undefined && names.has(table[op]!.opcodeInfo.fullName)) flags[op] = 1;
  }
  stepFilters.set(table, { listeners, flags });
  return flags;
}

runProto.run = async function (this: RunThis, code: Uint8Array, opts: { pc?: number } = {}): Promise<RunResult> {
  const c = this.common;
  const rs = this._runState;
  const listeners = this._evm.events.listenerCount('step') > 0 ? this._evm.events.listeners('step') : undefined;
  const observed = listeners === undefined ? undefined : stepFilter(this._evm._opcodeMap, listeners);
  if (
    (code[0] === 0xef && c.isActivatedEIP(3540)) ||
    this.profilerOpts?.enabled === true ||
    this._evm.DEBUG ||
    (listeners !== undefined && observed === undefined) ||
    c.isActivatedEIP(6800) ||
    c.isActivatedEIP(7864) ||
    rs.env.accessWitness !== undefined
  ) {
    return libraryRun.call(this, code, opts);
  }
  rs.code = code;
  rs.programCounter = opts.pc ?? rs.programCounter;
  const pc = rs.programCounter;
  if (pc !== 0 && (pc < 0 || pc >= code.length)) throw new Error('Internal error: program counter not in range');
  let err: unknown;
  let cached: StepEntry[] | undefined;
  while (rs.programCounter < code.length) {
    let entry: StepEntry;
    if (cached === undefined) {
      const op = code[rs.programCounter]!;
      // As the library: the code is analysed at its first jump (JUMP, JUMPI, or 0x5e, which was JUMPSUB).
      if (op === 0x56 || op === 0x57 || op === 0x5e) {
        const { jumps, pushes, opcodesCached } = this._getValidJumpDestinations(code);
        rs.validJumps = jumps;
        rs.cachedPushes = pushes;
        rs.shouldDoJumpAnalysis = false;
        cached = opcodesCached;
      }
      rs.opCode = op;
      entry = this.lookupOpInfo(op);
    } else {
      entry = cached[rs.programCounter]!;
      rs.opCode = entry.opcodeInfo.code;
    }
    try {
      const wait = observed !== undefined && observed[rs.opCode] === 1 ? this.runStep(entry) : step(this, rs, entry);
      if (wait !== undefined) await wait;
    } catch (e) {
      // (The library reverts code-chunk witness changes here; with a witness this loop is not used.)
      if (!('errorType' in (e as object) && (e as { errorType: string }).errorType === EVMErrorTypeString)) throw e;
      if ((e as { error: string }).error !== EVMError.errorMessages.STOP) err = e;
      break;
    }
  }
  if (err === undefined && rs.eip8037BurnLeftoverAfterCreateHaltOntoAlive === true && rs.gasLeft > 0n) {
    rs.gasLeft = 0n;
    err = new EVMError(EVMError.errorMessages.OUT_OF_GAS!);
  }
  return { runState: rs, exceptionError: err };
};

// The memory-only dynamic-gas handlers, synchronous. Each replaces a library handler that awaits nothing.
type SyncGas = (runState: GasState, gas: bigint, common: GasCommon) => bigint;
interface GasState {
  stack: { peek(n?: number): bigint[] };
  opCode: number;
  env: { eof?: unknown };
  interpreter: { isStatic(): boolean; getReturnDataSize(): bigint };
}
interface GasCommon {
  param(name: string): bigint;
  isActivatedEIP(eip: number): boolean;
}
const syncGas = dynamicGasHandlers as unknown as Map<number, SyncGas | GasHandler>;
/** Memory expansion for `length` bytes at `offset`, plus the copy gas per 32-byte word copied (none when 0). */
function copyGas(rs: GasState, gas: bigint, common: GasCommon, offset: bigint, length: bigint): bigint {
  gas += subMemUsage(rs, offset, length, common);
  if (length !== 0n) gas += common.param('copyGas') * divCeil(length, 32n);
  return gas;
}
/** Memory expansion for the 32-byte word at the offset on top of the stack (MLOAD, MSTORE). */
const wordGas: SyncGas = (rs, gas, common) => gas + subMemUsage(rs, rs.stack.peek()[0]!, 32n, common);
/** Memory expansion for the range (offset, length) on top of the stack (RETURN, REVERT). */
const rangeGas: SyncGas = (rs, gas, common) => {
  const [offset, length] = rs.stack.peek(2) as [bigint, bigint];
  return gas + subMemUsage(rs, offset, length, common);
};
const memoryGas: [number, string, SyncGas][] = [
  [0x0a, "common.param('expByteGas')", (rs, gas, common) => {
    const exponent = rs.stack.peek(2)[1]!;
    if (exponent === 0n) return gas;
    const byteLength = Math.ceil(exponent.toString(2).length / 8);
    if (byteLength < 1 || byteLength > 32) trap(EVMError.errorMessages.OUT_OF_RANGE!);
    return gas + BigInt(byteLength) * common.param('expByteGas');
  }],
  [0x20, "common.param('keccak256WordGas') * divCeil(length, BIGINT_32)", (rs, gas, common) => {
    const [offset, length] = rs.stack.peek(2) as [bigint, bigint];
    return gas + subMemUsage(rs, offset, length, common) + common.param('keccak256WordGas') * divCeil(length, 32n);
  }],
  [0x37, 'const [memOffset, _dataOffset, dataLength] = runState.stack.peek(3)', (rs, gas, common) => {
    const [memOffset, , dataLength] = rs.stack.peek(3) as [bigint, bigint, bigint];
    return copyGas(rs, gas, common, memOffset, dataLength);
  }],
  [0x3e, 'runState.interpreter.getReturnDataSize()', (rs, gas, common) => {
    const [memOffset, returnDataOffset, dataLength] = rs.stack.peek(3) as [bigint, bigint, bigint];
    if (returnDataOffset + dataLength > rs.interpreter.getReturnDataSize() && rs.env.eof === undefined) trap(EVMError.errorMessages.OUT_OF_GAS!);
    return copyGas(rs, gas, common, memOffset, dataLength);
  }],
  [0x51, 'subMemUsage(runState, pos, BIGINT_32, common)', wordGas],
  [0x52, 'subMemUsage(runState, offset, BIGINT_32, common)', wordGas],
  [0x53, 'subMemUsage(runState, offset, BIGINT_1, common)', (rs, gas, common) => gas + subMemUsage(rs, rs.stack.peek()[0]!, 1n, common)],
  [0x5e, 'const wordsCopied = (length + BIGINT_31) / BIGINT_32', (rs, gas, common) => {
    const [dst, src, length] = rs.stack.peek(3) as [bigint, bigint, bigint];
    gas += 3n * ((length + 31n) / 32n);
    gas += subMemUsage(rs, src, length, common);
    return gas + subMemUsage(rs, dst, length, common);
  }],
  [0xf3, 'subMemUsage(runState, offset, length, common)', rangeGas],
  [0xfd, 'subMemUsage(runState, offset, length, common)', rangeGas],
];
const logGas: SyncGas = (rs, gas, common) => {
  if (rs.interpreter.isStatic()) trap(EVMError.errorMessages.STATIC_STATE_CHANGE!);
  const [memOffset, memLength] = rs.stack.peek(2) as [bigint, bigint];
  const topics = rs.opCode - 0xa0;
  if (topics < 0 || topics > 4) trap(EVMError.errorMessages.OUT_OF_RANGE!);
  gas += subMemUsage(rs, memOffset, memLength, common);
  return gas + common.param('logTopicGas') * BigInt(topics) + memLength * common.param('logDataGas');
};
for (let op = 0xa0; op <= 0xa4; op++) memoryGas.push([op, "common.param('logTopicGas') * BigInt(topicsCount)", logGas]);
for (const [op, expected, f] of memoryGas) replaceHandler(syncGas, op, expected, f);
/** The opcodes whose gas handlers are the synchronous memory-only ones above. */
export const MEMORY_GAS_OPCODES: readonly number[] = memoryGas.map(([op]) => op);

/*
 * 7. Call frames' memory from a pool. The library gives every call frame a new Memory, whose constructor allocates
 * 8 KiB of zeroed memory outside V8's heap: 2.2-2.7 us a frame here, whatever the frame uses, and an array buffer
 * for V8's helpers to sweep later. A frame's interpreter is built here instead, as the library's constructor builds it
 * but for a memory whose 8 KiB come from a per-thread pool, and the 8 KiB go back (zeroed) when the frame's run
 * ends. Nothing of a finished frame reads its memory: what leaves a frame is copied out of it (RETURN and REVERT data,
 * logs, step events' memory), and the views it hands out (a call's input, CREATE's init code, the bytes KECCAK256
 * hashes) are used by frames and calls that end before it does. The finished frame's memory is left empty, not
 * pointing at 8 KiB another frame may be using.
 */
interface FrameMemory {
  _store: Uint8Array;
}
interface FrameEnv {
  gasRefund?: bigint;
  initialLogs?: unknown[];
}
interface FrameInterpreter {
  _runState: { memory: FrameMemory; gasLeft: bigint; gasRefund: bigint; stateGasSpilled: bigint };
  _result: { logs: unknown[]; returnValue?: Uint8Array; selfdestruct: unknown; createdAddresses?: unknown };
  _env: FrameEnv;
  run(code: Uint8Array, opts: object): Promise<{ runState: FrameInterpreter['_runState']; exceptionError?: { error: string } }>;
}
interface FrameMessage {
  to?: Address;
  caller?: Address;
  data?: Uint8Array;
  value?: bigint;
  code?: Uint8Array;
  isStatic?: boolean;
  isCreate?: boolean;
  depth?: number;
  codeAddress?: Address;
  gasRefund?: bigint;
  gasLimit: bigint;
  chargeCodeAccesses?: boolean;
  blobVersionedHashes?: Uint8Array[];
  accessWitness?: { commit(): void };
  createdAddresses?: unknown;
  selfdestruct?: unknown;
}
interface FrameEvm {
  stateManager: { getAccount(a: Address): Promise<Account | undefined> };
  blockchain: unknown;
  journal: unknown;
  performanceLogger: unknown;
  common: { consensusType(): string };
  _optsCached: { profiler?: unknown; cliqueSigner?: unknown };
  _tx: { gasPrice: bigint; origin?: Address };
  _block?: unknown;
}
const evmModule = (await import(new URL('./evm.js', base).href)) as {
  EVM: { prototype: { runInterpreter(this: FrameEvm, message: FrameMessage, opts?: { initialLogs?: unknown[] }): Promise<unknown> } };
  defaultBlock(): unknown;
};
const { Memory } = (await import(new URL('./memory.js', base).href)) as { Memory: { prototype: object } };
const { Stack } = (await import(new URL('./stack.js', base).href)) as { Stack: new () => unknown };
const { Account: AccountClass, EthereumJSErrorWithoutCode, createZeroAddress } = await import('@ethereumjs/util');
const libraryRunInterpreter = evmModule.EVM.prototype.runInterpreter;
for (const [f, expected] of [
  [libraryRunInterpreter, 'new Interpreter(this, this.stateManager, this.blockchain, env, message.gasLimit, this.journal, this.performanceLogger, this._optsCached.profiler)'],
  [Interpreter as unknown as () => void, 'memory: new Memory(),'],
] as const) {
  if (!f.toString().includes(expected)) throw new Error(`@ethereumjs/evm: ${f.name} is not the expected one (no "${expected}")`);
}
const FRAME_MEMORY = 8192;
/** Zeroed 8 KiB stores of frames that ended; at most as many as frames were ever nested at once. */
const memoryPool: Uint8Array[] = [];
const NO_MEMORY = new Uint8Array(0);

/** An interpreter as the library's constructor makes it (same fields, same order), with a memory from the pool. */
export function frameInterpreter(evm: FrameEvm, env: FrameEnv, gasLeft: bigint): FrameInterpreter {
  if (evm.common.consensusType() === 'poa' && evm._optsCached.cliqueSigner === undefined) {
    throw EthereumJSErrorWithoutCode('Must include cliqueSigner function if clique/poa is being used for consensus type');
  }
  const memory = Object.create(Memory.prototype) as FrameMemory;
  memory._store = memoryPool.pop() ?? new Uint8Array(FRAME_MEMORY);
  const it = Object.create(Interpreter.prototype) as Record<string, unknown>;
  it.opDebuggers = {};
  it._evm = evm;
  it._stateManager = evm.stateManager;
  it.common = evm.common;
  it._runState = {
    programCounter: 0,
    opCode: 0xfe,
    memory,
    memoryWordCount: 0n,
    highestMemCost: 0n,
    stack: new Stack(),
    code: NO_MEMORY,
    validJumps: NO_MEMORY,
    cachedPushes: {},
    stateManager: evm.stateManager,
    blockchain: evm.blockchain,
    env,
    shouldDoJumpAnalysis: true,
    interpreter: it,
    gasRefund: env.gasRefund,
    gasLeft,
    stateGasSpilled: 0n,
    returnBytes: NO_MEMORY,
  };
  it.journal = evm.journal;
  it._env = env;
  it._result = { logs: env.initialLogs !== undefined ? [...env.initialLogs] : [], returnValue: undefined, selfdestruct: new Map() };
  it.profilerOpts = evm._optsCached.profiler;
  it.performanceLogger = evm.performanceLogger;
  return it as unknown as FrameInterpreter;
}

/** Give a finished frame's 8 KiB back to the pool, zeroed (a store that grew past them is left to the collector). */
function releaseFrameMemory(memory: FrameMemory): void {
  const store = memory._store;
  memory._store = NO_MEMORY;
  if (store.length !== FRAME_MEMORY || store.byteOffset !== 0 || store.buffer.byteLength !== FRAME_MEMORY) return;
  store.fill(0);
  memoryPool.push(store);
}

evmModule.EVM.prototype.runInterpreter = async function (this: FrameEvm, message: FrameMessage, opts: { initialLogs?: unknown[] } = {}) {
  const contract = (await this.stateManager.getAccount(message.to ?? createZeroAddress())) ?? new AccountClass();
  const env = {
    address: message.to ?? createZeroAddress(),
    caller: message.caller ?? createZeroAddress(),
    callData: message.data ?? Uint8Array.from([0]),
    callValue: message.value ?? 0n,
    code: message.code,
    isStatic: message.isStatic ?? false,
    isCreate: message.isCreate ?? false,
    depth: message.depth ?? 0,
    gasPrice: this._tx.gasPrice,
    origin: this._tx.origin ?? message.caller ?? createZeroAddress(),
    block: this._block ?? evmModule.defaultBlock(),
    contract,
    codeAddress: message.codeAddress,
    gasRefund: message.gasRefund,
    chargeCodeAccesses: message.chargeCodeAccesses,
    blobVersionedHashes: message.blobVersionedHashes ?? [],
    accessWitness: message.accessWitness,
    createdAddresses: message.createdAddresses,
    initialLogs: opts.initialLogs,
  };
  const interpreter = frameInterpreter(this, env, message.gasLimit);
  if (message.selfdestruct !== undefined) interpreter._result.selfdestruct = message.selfdestruct;
  if (message.createdAddresses !== undefined) interpreter._result.createdAddresses = message.createdAddresses;
  let ran: Awaited<ReturnType<FrameInterpreter['run']>>;
  try {
    ran = await interpreter.run(message.code!, opts);
  } finally {
    releaseFrameMemory(interpreter._runState.memory);
  }
  let result: FrameInterpreter['_result'] = interpreter._result;
  let gasUsed = message.gasLimit - ran.runState.gasLeft;
  const error = ran.exceptionError;
  if (error) {
    if (error.error !== EVMError.errorMessages.REVERT && error.error !== EVMError.errorMessages.INVALID_EOF_FORMAT) gasUsed = message.gasLimit;
    result = { ...result, logs: [], selfdestruct: new Map(), createdAddresses: new Set() };
  }
  message.accessWitness?.commit();
  return {
    ...result,
    runState: { ...ran.runState, ...result, ...interpreter._env },
    exceptionError: error,
    gas: ran.runState?.gasLeft,
    executionGasUsed: gasUsed,
    gasRefund: ran.runState.gasRefund,
    stateGasSpilled: ran.runState.stateGasSpilled,
    returnValue: result.returnValue ?? new Uint8Array(0),
  };
};

notePatch('@ethereumjs/evm interpreter: code analysis, PUSH, word conversions, stepping, gas handlers, pooled frame memory (src/exec/evm-patches.ts)');
