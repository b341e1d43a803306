/**
 * Cache of @ethereumjs/evm's per-call bytecode analysis.
 *
 * The interpreter scans the whole bytecode (jump destinations, push values, opcode table lookups) every time a call
 * frame starts: 14% of the mainnet replay profile. The result depends only on the code and the active opcode table,
 * and the interpreter only reads it, so it is cached per code array (the state layers hand out one array per stored
 * code) and per opcode table (one per fork). Imported for its effect by the executor and the workers.
 */
type Analysis = { jumps: Uint8Array; pushes: Record<number, bigint>; opcodesCached: unknown[] };
interface InterpreterProto {
  _getValidJumpDestinations(this: { _evm: { _opcodeMap: object } }, code: Uint8Array): Analysis;
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

export const ANALYSIS_CACHE_INSTALLED = true;
