/**
 * Two patches to @ethereumjs/evm's interpreter, imported for their effect by the executor and the workers.
 *
 * 1. Cache of the per-call bytecode analysis.
 *
 * The interpreter scans the whole bytecode (jump destinations, push values, opcode table lookups) every time a call
 * frame starts: 14% of the mainnet replay profile. The result depends only on the code and the active opcode table,
 * and the interpreter only reads it, so it is cached per code array (the state layers hand out one array per stored
 * code) and per opcode table (one per fork).
 *
 * 2. Self-destruct burns are reported to the state manager (see below).
 */
import type { Account, Address } from '@ethereumjs/util';

type Analysis = { jumps: Uint8Array; pushes: Record<number, bigint>; opcodesCached: unknown[] };
interface InterpreterProto {
  _getValidJumpDestinations(this: { _evm: { _opcodeMap: object } }, code: Uint8Array): Analysis;
  _selfDestruct(this: SelfDestructThis, to: Address): Promise<void>;
}
interface SelfDestructThis {
  _env: { address: Address };
  _stateManager: { getAccount(a: Address): Promise<Account | undefined>; noteBurned?(amount: bigint): void };
}

// The Interpreter class is not exported; its module is the one evm.js imports, so patching it affects every EVM.
const url = new URL('./interpreter.js', import.meta.resolve('@ethereumjs/evm')).href;
const { Interpreter } = (await import(url)) as { Interpreter: { prototype: InterpreterProto } };
const analyse = Interpreter.prototype._getValidJumpDestinations;
const cache = new WeakMap<Uint8Array, WeakMap<object, Analysis>>();

Interpreter.prototype._getValidJumpDestinations = function (code: Uint8Array): Analysis {
  const table = this._evm._opcodeMap;
  let byTable = cache.get(code);
  if (byTable === undefined) {
    byTable = new WeakMap();
    cache.set(code, byTable);
  }
  let a = byTable.get(table);
  if (a === undefined) {
    a = analyse.call(this, code);
    byTable.set(table, a);
  }
  return a;
};

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

export const ANALYSIS_CACHE_INSTALLED = true;
