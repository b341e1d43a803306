import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Common, Mainnet } from '@ethereumjs/common';
import { createEVM, type InterpreterStep } from '@ethereumjs/evm';
import { Account, Address, bigIntToBytes, bytesToBigInt, bytesToHex, hexToBytes, setLengthLeft } from '@ethereumjs/util';
import { uintBytes } from '../src/util/rlp.ts';
import { addressHex, hex } from '../src/util/bytes.ts';
import { analyseCode, frameInterpreter, libraryCodeAnalysis, libraryGasHandlers, MEMORY_GAS_OPCODES, onSteps, padWord, PushValues, readWord, wordBytes, writeWord } from '../src/exec/evm-patches.ts';

const require = createRequire(import.meta.url);
// The library's storage-value padding, which SSTORE's gas applies to loaded values (not exported by the package).
const { setLengthLeftStorage } = (await import(new URL('./opcodes/util.js', import.meta.resolve('@ethereumjs/evm')).href)) as {
  setLengthLeftStorage(v: Uint8Array): Uint8Array;
};

/** Deployed bytecode of real contracts from npm packages, plus edge cases. */
function codes(): [string, Uint8Array][] {
  const artifact = (pkg: string): Uint8Array => {
    const j = JSON.parse(readFileSync(require.resolve(pkg), 'utf8')) as Record<string, unknown>;
    const evm = j.evm as { deployedBytecode?: { object: string } } | undefined;
    const hexCode = (evm?.deployedBytecode?.object ?? j.deployedBytecode ?? j.bytecode) as string;
    return hexToBytes(`0x${hexCode.replace(/^0x/, '')}`);
  };
  const router = artifact('@uniswap/v2-periphery/build/UniswapV2Router02.json');
  const out: [string, Uint8Array][] = [
    ['UniswapV2Router02', router],
    ['UniswapV2Pair', artifact('@uniswap/v2-core/build/UniswapV2Pair.json')],
    ['OpenZeppelin ERC20', artifact('@openzeppelin/contracts/build/contracts/ERC20.json')],
    ['WETH9', artifact('canonical-weth/build/contracts/WETH9.json')],
    // A PUSH32 cut short by the end of the code, and one cut after a single byte: both read as zero-padded.
    ['truncated PUSH32', new Uint8Array([0x60, 0x01, 0x5b, 0x7f, 0xaa, 0xbb])],
    ['truncated PUSH2', new Uint8Array([0x5b, 0x61, 0x12])],
    // JUMPDEST bytes inside push data are not destinations.
    ['jumpdest inside push data', new Uint8Array([0x62, 0x5b, 0x5b, 0x5b, 0x5b, 0x56])],
  ];
  let seed = 7;
  const random = new Uint8Array(20_000);
  for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  out.push(['20,000 pseudo-random bytes', random]);
  return out;
}

test('the patched code analysis gives the library analysis: jump destinations, opcode entries and every push value', async () => {
  for (const hardfork of ['homestead', 'shanghai', 'cancun', 'prague']) {
    const evm = (await createEVM({ common: new Common({ chain: Mainnet, hardfork }) })) as unknown as { _opcodeMap: unknown[] };
    const url = new URL('./interpreter.js', import.meta.resolve('@ethereumjs/evm')).href;
    const { Interpreter } = (await import(url)) as { Interpreter: { prototype: object } };
    const interpreter = Object.assign(Object.create(Interpreter.prototype) as object, { _evm: evm, common: (evm as unknown as { common: Common }).common });
    for (const [name, code] of codes()) {
      const lib = libraryCodeAnalysis(interpreter, code);
      const ours = analyseCode(code, evm._opcodeMap);
      assert.deepEqual(ours.jumps, lib.jumps, `${hardfork} ${name}: jump destinations`);
      const values = ours.pushes as PushValues;
      let pushes = 0;
      for (let pc = 0; pc < code.length; pc++) {
        if (!(pc in lib.opcodesCached)) continue;
        assert.equal(ours.opcodesCached[pc], lib.opcodesCached[pc], `${hardfork} ${name}: opcode entry at ${pc}`);
        const op = code[pc]!;
        if (op >= 0x60 && op <= 0x7f) {
          // Twice: the second read comes from the per-code map for PUSH3 and longer.
          for (let k = 0; k < 2; k++) assert.equal(values.at(code, pc + 1, op - 0x5f), lib.pushes[pc + 1], `${hardfork} ${name}: PUSH${op - 0x5f} at ${pc}`);
          pushes++;
        }
      }
      assert.ok(pushes > 0, `${name} has PUSH instructions`);
      // Positions inside push data hold no entry in either analysis.
      for (let pc = 0; pc < code.length; pc++) assert.equal(pc in ours.opcodesCached, pc in lib.opcodesCached, `${hardfork} ${name}: entry presence at ${pc}`);
    }
  }
});

test('word conversions give the library conversions, at every byte length and around 2^53', () => {
  const values: bigint[] = [0n, 1n, 255n, 256n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 256n - 1n];
  // Random words of every byte length, from a fixed-seed generator.
  let x = 0x2545f4914f6cdd1dn;
  const next = () => (x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n);
  for (let len = 1; len <= 32; len++) {
    for (let k = 0; k < 8; k++) {
      let v = 0n;
      for (let b = 0; b < len; b++) v = (v << 8n) | (next() & 255n);
      values.push(v | (1n << BigInt(8 * len - 1)));
    }
  }
  const memory = new Uint8Array(96).fill(0xab);
  for (const v of values) {
    const expected = setLengthLeft(bigIntToBytes(v), 32);
    assert.deepEqual(wordBytes(v), expected, `wordBytes(${v})`);
    // Written over non-zero memory at an odd offset: every one of the 32 bytes is set, nothing around them.
    writeWord(memory, 33, v);
    assert.deepEqual(memory.subarray(33, 65), expected, `writeWord(${v})`);
    assert.equal(memory[32], 0xab);
    assert.equal(memory[65], 0xab);
    assert.equal(readWord(memory, 33, 65), v, `readWord of ${v}`);
    assert.equal(readWord(memory, 33, 65), bytesToBigInt(memory.subarray(33, 65)));
    // Storage values come unpadded: read at their own length.
    const unpadded = bigIntToBytes(v);
    assert.equal(readWord(unpadded, 0, unpadded.length), v === 0n ? 0n : bytesToBigInt(unpadded));
    if (v === 0n) continue;
    // SSTORE's value: the library's minimal bytes. A loaded value, padded: what the library's padding makes of it.
    assert.deepEqual(uintBytes(v), bigIntToBytes(v), `uintBytes(${v})`);
    assert.deepEqual(padWord(unpadded), setLengthLeftStorage(unpadded), `padWord of ${v}`);
    assert.deepEqual(setLengthLeftStorage(padWord(unpadded)), setLengthLeftStorage(unpadded));
  }
  assert.equal(padWord(new Uint8Array(0)).length, 0, 'zero stays empty');
});

test('the synchronous memory gas handlers give the library handlers: gas, memory size, errors', async () => {
  const { dynamicGasHandlers } = (await import(new URL('./opcodes/gas.js', import.meta.resolve('@ethereumjs/evm')).href)) as {
    dynamicGasHandlers: Map<number, (rs: unknown, gas: bigint, common: Common) => bigint | Promise<bigint>>;
  };
  const words = [0n, 1n, 31n, 32n, 33n, 1000n, 2n ** 32n, 2n ** 255n];
  const ops = [...MEMORY_GAS_OPCODES];
  assert.ok(ops.length >= 14, 'the replaced handlers are listed');
  let compared = 0;
  for (const hardfork of ['byzantium', 'cancun', 'prague']) {
    // The EVM adds its gas parameters to the Common it is given.
    const common = ((await createEVM({ common: new Common({ chain: Mainnet, hardfork }) })) as unknown as { common: Common }).common;
    for (const op of ops) {
      const ours = dynamicGasHandlers.get(op)!;
      const lib = libraryGasHandlers.get(op) as (rs: unknown, gas: bigint, common: Common) => Promise<bigint>;
      assert.notEqual(ours, lib, `0x${op.toString(16)} is replaced`);
      for (const a of words) for (const b of words) for (const c of [0n, 32n, 2n ** 64n]) {
        for (const [memoryWordCount, isStatic] of [[0n, false], [40n, false], [0n, true]] as const) {
          const state = () => ({
            stack: { peek: (n = 1) => [a, b, c].slice(0, n) },
            opCode: op,
            env: { eof: undefined },
            interpreter: { isStatic: () => isStatic, getReturnDataSize: () => 64n },
            memoryWordCount,
            highestMemCost: memoryWordCount * 3n,
          });
          const run = async (f: typeof lib, rs: ReturnType<typeof state>) => {
            try {
              return { gas: await f(rs, 10n, common), words: rs.memoryWordCount, cost: rs.highestMemCost };
            } catch (e) {
              return { error: (e as { error?: string }).error ?? String(e) };
            }
          };
          let direct: unknown;
          try {
            direct = ours(state(), 10n, common);
          } catch {
            direct = 0n;
          }
          assert.equal(typeof direct, 'bigint', `0x${op.toString(16)} answers without a promise`);
          assert.deepEqual(await run(ours as typeof lib, state()), await run(lib, state()), `0x${op.toString(16)} ${hardfork} stack ${a} ${b} ${c} words ${memoryWordCount} static ${isStatic}`);
          compared++;
        }
      }
    }
  }
  assert.ok(compared > 10_000);
});

type Script = [string, Uint8Array, { data: string; value?: bigint }[]];
const CALLER = new Address(hexToBytes('0x00000000000000000000000000000000000000c0'));
const TARGET = new Address(hexToBytes('0x00000000000000000000000000000000000000aa'));
const word = (v: bigint) => bytesToHex(setLengthLeft(bigIntToBytes(v), 32)).slice(2);

/** Real contracts' calls, and pseudo-random programs. */
function scripts(): Script[] {
  const weth = codes().find(([n]) => n === 'WETH9')![1];
  const erc20 = codes().find(([n]) => n === 'OpenZeppelin ERC20')![1];
  const sel = (s: string) => s.slice(0, 10);
  // WETH9: deposit 5 ether, transfer 2 to another account, withdraw more than is left (reverts), withdraw 1.
  const out: Script[] = [
    ['WETH9', weth, [
      { data: sel('0xd0e30db0'), value: 5n * 10n ** 18n },
      { data: sel('0xa9059cbb') + word(0xbbn) + word(2n * 10n ** 18n) },
      { data: sel('0x2e1a7d4d') + word(9n * 10n ** 18n) },
      { data: sel('0x2e1a7d4d') + word(10n ** 18n) },
      { data: sel('0x70a08231') + word(0xc0n) },
    ]],
    // Without a constructor's state: name() reads empty strings, transfer() reverts for want of a balance.
    ['OpenZeppelin ERC20', erc20, [{ data: sel('0x06fdde03') }, { data: sel('0xa9059cbb') + word(0xbbn) + word(1n) }, { data: '0x1234' }]],
  ];
  // Pseudo-random programs: PUSHes of small values mixed with arithmetic, memory, storage, log, jump, call and halting
  // opcodes, so most run for a while before they stop (some run out of gas, fail a jump or underflow the stack).
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const pool = [0x01, 0x02, 0x03, 0x04, 0x0a, 0x10, 0x14, 0x16, 0x19, 0x1b, 0x20, 0x35, 0x36, 0x37, 0x3d, 0x3e, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5e, 0x80, 0x81, 0x90, 0xa0, 0xa1, 0xa2, 0xf3, 0xfd, 0xfe, 0x00, 0x31, 0x47, 0x3b];
  for (let k = 0; k < 300; k++) {
    const code: number[] = [];
    while (code.length < 120) {
      if (rnd(2) === 0) code.push(0x60, rnd(3) === 0 ? rnd(256) : rnd(70));
      else code.push(pool[rnd(pool.length)]!);
    }
    out.push([`random program ${k}`, Uint8Array.from(code), [{ data: '0x' + word(BigInt(k)) }]]);
  }
  return out;
}

/** Every script's calls on `evm`, each on a fresh deployment: what each call gives back, and the state after it. */
async function runScripts(evm: Awaited<ReturnType<typeof createEVM>>, list: Script[]): Promise<string[]> {
  const out: string[] = [];
  for (const [name, code, txs] of list) {
    await evm.stateManager.putAccount(CALLER, new Account(0n, 10n ** 20n));
    await evm.stateManager.putCode(TARGET, code);
    for (const tx of txs) {
      const r = await evm.runCall({ caller: CALLER, origin: CALLER, to: TARGET, data: hexToBytes(tx.data as `0x${string}`), value: tx.value ?? 0n, gasLimit: 300_000n });
      const e = r.execResult;
      const logs = (e.logs ?? []).map((l) => l.map((x: unknown) => (x instanceof Uint8Array ? bytesToHex(x) : (x as Uint8Array[]).map(bytesToHex).join())).join('/'));
      const balance = (await evm.stateManager.getAccount(CALLER))?.balance;
      const slot0 = bytesToHex(await evm.stateManager.getStorage(TARGET, new Uint8Array(32)));
      out.push(`${name}: ${e.executionGasUsed} ${e.gasRefund} ${e.exceptionError?.error ?? 'ok'} ${bytesToHex(e.returnValue)} [${logs.join(';')}] ${balance} ${slot0}`);
    }
  }
  return out;
}

/**
 * Runs each code as a call, once on the patched loop and gas handlers, and once on the library's loop (a step listener
 * sends the interpreter back to it) with the library's gas handlers (an EVM copies the handler table when it is
 * created), on the same pre-state, and compares everything the call gives back.
 */
test('the synchronous opcode loop and gas handlers give the library ones: real contracts and pseudo-random code', async () => {
  const { dynamicGasHandlers } = (await import(new URL('./opcodes/gas.js', import.meta.resolve('@ethereumjs/evm')).href)) as { dynamicGasHandlers: Map<number, unknown> };
  assert.ok(libraryGasHandlers.has(0x54) && libraryGasHandlers.has(0x55) && libraryGasHandlers.size >= 16);
  const createLibraryEvm = async (common: Common) => {
    const patched = new Map([...libraryGasHandlers.keys()].map((op) => [op, dynamicGasHandlers.get(op)]));
    for (const [op, f] of libraryGasHandlers) dynamicGasHandlers.set(op, f);
    try {
      return await createEVM({ common });
    } finally {
      for (const [op, f] of patched) dynamicGasHandlers.set(op, f);
    }
  };
  const list = scripts();
  let calls = 0;
  for (const hardfork of ['byzantium', 'cancun', 'prague']) {
    const outcomes: string[][] = [];
    for (const withListener of [false, true]) {
      const common = new Common({ chain: Mainnet, hardfork });
      const evm = withListener ? await createLibraryEvm(common) : await createEVM({ common });
      if (withListener) evm.events!.on('step', () => {});
      const out = await runScripts(evm, list);
      outcomes.push(out);
      calls += out.length;
    }
    assert.deepEqual(outcomes[0], outcomes[1], hardfork);
    const distinct = new Set(outcomes[0]!.map((o) => o.split(' ')[3]));
    assert.ok(distinct.size >= 4, `${hardfork}: the programs end in several ways (${[...distinct].join(', ')})`);
  }
  assert.ok(calls > 1800);
});

/**
 * A listener registered with `onSteps` for some opcodes gets, on the fast loop, exactly the step events a listener on
 * the library's loop gets for those opcodes (program counter, gas left, dynamic fee, stack, memory size, depth), and
 * the calls give the same results.
 */
test('onSteps: a listener gets the same steps of its opcodes as on the library loop, and nothing else changes', async () => {
  const names = ['SLOAD', 'SSTORE', 'CALL', 'STATICCALL', 'BALANCE', 'EXTCODESIZE', 'LOG1'];
  const list = scripts();
  for (const hardfork of ['byzantium', 'cancun']) {
    const seen: string[][] = [];
    const outcomes: string[][] = [];
    for (const filtered of [true, false]) {
      const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork }) });
      const steps: string[] = [];
      let all = 0;
      const listener = (s: InterpreterStep, resolve?: (r?: unknown) => void) => {
        all++;
        if (names.includes(s.opcode.name)) steps.push(`${s.opcode.name} pc ${s.pc} gas ${s.gasLeft} fee ${s.opcode.dynamicFee} stack ${s.stack.join(',')} mem ${s.memoryWordCount} depth ${s.depth}`);
        resolve?.();
      };
      if (filtered) onSteps(evm.events!, names, listener);
      else evm.events!.on('step', listener);
      outcomes.push(await runScripts(evm, list));
      seen.push(steps);
      if (filtered) assert.equal(all, steps.length, 'the fast loop made events for the named opcodes only');
      else assert.ok(all > steps.length * 3, 'the library loop made an event for every step');
    }
    assert.deepEqual(outcomes[0], outcomes[1], `${hardfork}: results`);
    assert.deepEqual(seen[0], seen[1], `${hardfork}: step events of the named opcodes`);
    const kinds = new Set(seen[0]!.map((x) => x.split(' ')[0]));
    assert.ok(seen[0]!.length >= 40 && kinds.size >= 5, `${hardfork}: ${seen[0]!.length} steps of ${[...kinds].join(', ')} compared`);
  }
});

test("the logs bloom's add sets the bits the library's add sets, entry by entry, with either keccak", async () => {
  const { Bloom } = await import('@ethereumjs/vm');
  const { libraryBloomAdd } = await import('../src/exec/bloom.ts');
  const { keccak256 } = await import('../src/crypto/index.ts');
  assert.notEqual(Bloom.prototype.add, libraryBloomAdd, 'the patched add is installed');
  const native = new Common({ chain: Mainnet, customCrypto: { keccak256 } });
  for (const common of [undefined, native]) {
    const ours = new Bloom(undefined, common);
    const theirs = new Bloom(undefined, common);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let k = 0; k < 3000; k++) {
      const entry = new Uint8Array(k % 3 === 0 ? 20 : 32).map(() => next() & 255);
      ours.add(entry);
      libraryBloomAdd.call(theirs as never, entry);
      if (k < 200 || k % 100 === 0) assert.equal(bytesToHex(ours.bitvector), bytesToHex(theirs.bitvector), `after entry ${k}`);
    }
    assert.equal(bytesToHex(ours.bitvector), bytesToHex(theirs.bitvector));
    assert.ok(ours.bitvector.some((b) => b !== 0xff), 'the vector is not saturated, so a wrong bit would show');
  }
});

/**
 * The journal's warm sets and touches, the original-storage cache and `Address.toString` with Buffer's hex give what
 * the library's methods give: the same answers and the same internal maps, over a random run of warmings, lookups,
 * touches, checkpoints, commits and reverts, with and without an access list being reported.
 */
test("hex-patches: the journal (its clean-up too), the original-storage cache, the precompile lookup and Address.toString behave as the library's", async () => {
  const { libraryMethods } = await import('../src/exec/hex-patches.ts');
  const { Journal } = (await import(new URL('./journal.js', import.meta.resolve('@ethereumjs/evm')).href)) as { Journal: new (sm: unknown, c: Common) => Record<string, unknown> };
  const { OriginalStorageCache } = await import('@ethereumjs/statemanager');
  let seed = 11;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const addresses = Array.from({ length: 6 }, (_, i) => new Address(Uint8Array.from({ length: 20 }, (_, j) => (i * 37 + j * (i + 1)) & 255)));
  // Slots with leading zeros, as storage keys have them (hex keeps every byte: '00' pairs, not stripped).
  const slots = Array.from({ length: 8 }, (_, i) => Uint8Array.from({ length: 32 }, (_, j) => (j < 30 ? 0 : (i * 53 + j) & 255)));
  // Touched accounts exist and are not empty (so the clean-up of touched accounts deletes none).
  const stateManager = { getAccount: async () => new Account(1n, 1n), putAccount: async () => {}, deleteAccount: async () => {}, checkpoint: async () => {}, commit: async () => {}, revert: async () => {} };
  const common = new Common({ chain: Mainnet, hardfork: 'cancun' });
  const view = (j: Record<string, unknown>) => JSON.stringify(j, (_, v) => (v instanceof Set ? [...v].sort() : v instanceof Map ? [...v].sort() : v), 0);
  for (const reporting of [false, true]) {
    const [mine, theirs] = [new Journal(stateManager, common), new Journal(stateManager, common)];
    // As runTx warms them at each transaction's start: an access list's slots, the recipient and the coinbase.
    const warmAlways = (j: Record<string, unknown>) => {
      (j.addAlwaysWarmSlot as (a: string, s: string) => void)(addresses[0].toString().slice(2), bytesToHex(slots[0]).slice(2));
      (j.addAlwaysWarmSlot as (a: string, s: string) => void)(addresses[1].toString(), bytesToHex(slots[3]));
      (j.addAlwaysWarmAddress as (a: string) => void)(addresses[2].toString());
    };
    for (const j of [mine, theirs]) {
      if (reporting) (j.startReportingAccessList as () => void)();
      warmAlways(j);
    }
    const answers: [unknown, unknown][] = [];
    for (let step = 0; step < 3000; step++) {
      const a = addresses[rand(addresses.length)];
      const s = slots[rand(slots.length)];
      const op = rand(10);
      const rand2 = rand(4);
      const text = rand(2) === 0 ? a.toString() : a.toString().slice(2);
      const call = async (j: Record<string, unknown>, lib: boolean): Promise<unknown> => {
        const m = (name: keyof typeof libraryMethods) => (lib ? (libraryMethods[name] as (...args: unknown[]) => unknown) : (j[name] as (...args: unknown[]) => unknown)).bind(j);
        if (op === 0) return m('isWarmedAddress')(a.bytes);
        if (op === 1) return m('addWarmedAddress')(a.bytes);
        if (op === 2) return m('isWarmedStorage')(a.bytes, s);
        if (op === 3) return m('addWarmedStorage')(a.bytes, s);
        if (op === 4) return m('touchAddress')(a);
        if (op === 5) return (j.checkpoint as () => Promise<void>)();
        if (op === 6 && (j.journalHeight as number) > 0) return (j.commit as () => Promise<void>)();
        if (op === 7 && (j.journalHeight as number) > 0) return (j.revert as () => Promise<void>)();
        // Warm for the whole transaction (runTx: the sender with 0x, the precompiles and the recipient without; an
        // access list's entries also reported).
        if (op === 8 && rand2 === 1) return m('addAlwaysWarmAddress')(text, reporting);
        // A transaction's end: everything cold again.
        if (op === 8 && rand2 === 0) {
          (j.cleanJournal as () => void)();
          warmAlways(j);
        }
        // runTx's clean-up, at a transaction's start and end: twice in a row half the time (the second on a journal
        // already clean, which the patched one leaves alone); the always-warm entries come back afterwards, or not.
        if (op === 9) {
          await m('cleanup')();
          if (rand2 < 2) await m('cleanup')();
          if (rand2 === 0) warmAlways(j);
          if (reporting && rand2 === 1) (j.startReportingAccessList as () => void)();
        }
        return undefined;
      };
      answers.push([await call(mine, false), await call(theirs, true)]);
      assert.equal(view(mine), view(theirs), `step ${step}, operation ${op}, reporting ${reporting}`);
    }
    for (const [x, y] of answers) assert.equal(x, y);
    const [yes, no] = [answers.filter(([x]) => x === true).length, answers.filter(([x]) => x === false).length];
    assert.ok(yes > 100 && no > 100, `both answers occur (${yes} warm, ${no} cold)`);
  }
  // Clean-up of a journal with nothing to clean keeps its (empty) sets and maps; anything to clean, an access list
  // being reported included, is cleaned as the library cleans it.
  for (const dirty of [undefined, 'accessList', 'preimages', 'touched', 'warm', 'checkpoint'] as const) {
    const [mine, theirs] = [new Journal(stateManager, common), new Journal(stateManager, common)];
    for (const j of [mine, theirs]) {
      if (dirty === 'accessList') (j.startReportingAccessList as () => void)();
      if (dirty === 'preimages') j.preimages = new Map();
      if (dirty === 'touched') (j.touchAddress as (a: Address) => void)(addresses[1]);
      if (dirty === 'warm') (j.addAlwaysWarmAddress as (a: string) => void)(addresses[2].toString());
      if (dirty === 'checkpoint') await (j.checkpoint as () => Promise<void>)();
    }
    const before = mine.touched;
    await (mine.cleanup as () => Promise<void>)();
    await (libraryMethods.cleanup as () => Promise<void>).call(theirs);
    assert.equal(view(mine), view(theirs), `clean-up with ${dirty ?? 'nothing'} to clean`);
    assert.equal(mine.touched === before, dirty === undefined, `the journal's sets kept: ${dirty === undefined}`);
  }
  // An address warmed for the whole transaction while an access list is reported enters the list when asked to, as
  // the library's does, with or without 0x.
  for (const [text, listed] of [[addresses[5].toString(), true], [addresses[5].toString().slice(2), true], [addresses[5].toString(), false]] as const) {
    const [mine, theirs] = [new Journal(stateManager, common), new Journal(stateManager, common)];
    for (const j of [mine, theirs]) (j.startReportingAccessList as () => void)();
    (mine.addAlwaysWarmAddress as (a: string, l: boolean) => void)(text, listed);
    (libraryMethods.addAlwaysWarmAddress as (a: string, l: boolean) => void).call(theirs, text, listed);
    assert.equal(view(mine), view(theirs), `${text}, listed ${listed}`);
    assert.equal((mine.accessList as Map<string, unknown>).has(addresses[5].toString().slice(2)), listed);
  }
  // Touched accounts found empty or absent are deleted (EIP-161) as the library deletes them, in the same order, and
  // the Address objects the clean-up makes carry their own hex.
  {
    const deleted: string[][] = [[], []];
    const journals = [0, 1].map(
      (k) =>
        new Journal(
          {
            ...stateManager,
            getAccount: async (a: Address) => {
              assert.equal(addressHex(a), hex(a.bytes));
              return a.equals(addresses[1]) ? new Account() : a.equals(addresses[4]) ? undefined : new Account(1n, 1n);
            },
            deleteAccount: async (a: Address) => void deleted[k].push(a.toString()),
          },
          common,
        ),
    );
    for (const j of journals) for (const a of addresses) (j.touchAddress as (a: Address) => void)(a);
    await (journals[0].cleanup as () => Promise<void>)();
    await (libraryMethods.cleanup as () => Promise<void>).call(journals[1]);
    assert.deepEqual(deleted[0], [addresses[1].toString(), addresses[4].toString()]);
    assert.deepEqual(deleted[1], deleted[0]);
    assert.equal(view(journals[0]), view(journals[1]));
  }
  // The original-storage cache: the same values, from one read of the state per slot.
  const reads: string[][] = [[], []];
  const caches = [0, 1].map((k) => new OriginalStorageCache(async (addr: Address, key: Uint8Array) => (reads[k].push(addr.toString() + bytesToHex(key)), key.subarray(31))));
  for (let i = 0; i < 500; i++) {
    if (i % 50 === 0 || i % 50 === 1) {
      caches[0].clear();
      (libraryMethods.cacheClear as () => void).call(caches[1]);
    }
    const a = addresses[rand(addresses.length)];
    const s = slots[rand(slots.length)];
    if (rand(4) === 0) {
      const v = Uint8Array.of(rand(256));
      caches[0].put(a, s, v);
      (libraryMethods.cachePut as (a: Address, k: Uint8Array, v: Uint8Array) => void).call(caches[1], a, s, v);
    } else {
      const mine = await caches[0].get(a, s);
      const theirs = await (libraryMethods.cacheGet as (a: Address, k: Uint8Array) => Promise<Uint8Array>).call(caches[1], a, s);
      assert.deepEqual(mine, theirs);
    }
  }
  assert.deepEqual(reads[0], reads[1]);
  assert.ok(reads[0].length > 50, `${reads[0].length} reads`);
  for (const a of addresses) assert.equal(a.toString(), (libraryMethods.addressToString as () => string).call(a));
  // The precompile table, looked up by Address object (twice: the second time by its kept hex) and by string.
  const evm = await createEVM({ common });
  const libraryGet = (a: Address | string) => (libraryMethods.getPrecompile as (a: Address | string) => unknown).call(evm, a);
  const candidates = [...[1, 2, 5, 9, 10, 11, 17, 18, 0x100, 0x101].map((n) => new Address(setLengthLeft(bigIntToBytes(BigInt(n)), 20))), ...addresses];
  let found = 0;
  for (const a of candidates) {
    for (let k = 0; k < 2; k++) assert.equal(evm.getPrecompile(a), libraryGet(a), a.toString());
    if (libraryGet(a) !== undefined) found++;
    for (const str of [a.toString(), a.toString().toUpperCase().replace('0X', '0x'), '0x' + a.toString().slice(2).replace(/^0+/, '')]) {
      assert.equal(evm.getPrecompile(str as `0x${string}`), libraryGet(str), str);
    }
  }
  assert.equal(found, 5, 'under Cancun 0x01, 0x02, 0x05, 0x09 and 0x0a are precompiles; 0x0b, 0x11, 0x12, 0x100 and 0x101 are not');
});

/**
 * Call frames take their 8 KiB of memory from a pool and give it back when they end: a frame must still start with
 * zeroed memory, what a frame returned must not change when its memory goes to the next frame, and the interpreter
 * must be the one the library's constructor makes.
 */
test("call frames' memory from the pool: zeroed for every frame, results unchanged by reuse, the library's interpreter fields", async () => {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: 'cancun' }) });
  const at = (n: number) => new Address(hexToBytes(`0x${n.toString(16).padStart(40, '0')}`));
  const push32 = (b: number) => [0x7f, ...new Array<number>(32).fill(b)];
  // DIRTY: ff.. at offset 0 and ee.. at 0x1fe0 (the last word of the 8 KiB), returns the word at 0.
  const dirty = [...push32(0xff), 0x60, 0x00, 0x52, ...push32(0xee), 0x61, 0x1f, 0xe0, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];
  // PROBE: returns MLOAD(0) | MLOAD(0x1fe0), read before it writes anything (zero on fresh memory).
  const probe = [0x60, 0x00, 0x51, 0x61, 0x1f, 0xe0, 0x51, 0x17, 0x60, 0x40, 0x52, 0x60, 0x20, 0x60, 0x40, 0xf3];
  // OUTER: calls DIRTY (its word copied to 0..32), PROBE (to 32..64), DIRTY again (nothing copied), returns 0..64.
  const call = (to: number, retOffset: number, retLength: number) => [0x60, retLength, 0x60, retOffset, 0x60, 0, 0x60, 0, 0x60, 0, 0x60, to, 0x5a, 0xf1, 0x50];
  const outer = [...call(0xd1, 0x00, 0x20), ...call(0xd2, 0x20, 0x20), ...call(0xd1, 0x00, 0x00), 0x60, 0x40, 0x60, 0x00, 0xf3];
  for (const [n, code] of [[0xd1, dirty], [0xd2, probe], [0xd3, outer]] as const) await evm.stateManager.putCode(at(n), Uint8Array.from(code));
  await evm.stateManager.putAccount(CALLER, new Account(0n, 10n ** 20n));
  const run = (to: number) => evm.runCall({ caller: CALLER, origin: CALLER, to: at(to), gasLimit: 1_000_000n });
  for (let round = 0; round < 3; round++) {
    const r = await run(0xd3);
    assert.equal(r.execResult.exceptionError, undefined);
    assert.equal(bytesToHex(r.execResult.returnValue), `0x${'ff'.repeat(32)}${'00'.repeat(32)}`, `round ${round}: DIRTY's word, then PROBE's zero`);
    // Right after frames that left ff.. and ee.. in their memory.
    const p = await run(0xd2);
    assert.equal(bytesToHex(p.execResult.returnValue), `0x${'00'.repeat(32)}`, `round ${round}: PROBE alone`);
    const d = await run(0xd1);
    assert.equal(bytesToHex(d.execResult.returnValue), `0x${'ff'.repeat(32)}`);
    const left = (d.execResult.runState as unknown as { memory: { _store: Uint8Array } }).memory._store;
    assert.equal(left.length, 0, "a finished frame's memory no longer holds the pooled 8 KiB");
  }
  // The fields, in order, of the library's constructor.
  const url = new URL('./interpreter.js', import.meta.resolve('@ethereumjs/evm')).href;
  const { Interpreter } = (await import(url)) as { Interpreter: new (...a: unknown[]) => Record<string, unknown> };
  const e = evm as unknown as { stateManager: unknown; blockchain: unknown; journal: unknown; performanceLogger: unknown; _optsCached: { profiler?: unknown } };
  const env = { gasRefund: 0n, initialLogs: undefined };
  const lib = new Interpreter(evm, e.stateManager, e.blockchain, env, 5n, e.journal, e.performanceLogger, e._optsCached.profiler);
  const ours = frameInterpreter(evm as never, env, 5n) as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(ours), Object.keys(lib));
  const [libState, ourState] = [lib._runState, ours._runState] as Record<string, unknown>[];
  assert.deepEqual(Object.keys(ourState!), Object.keys(libState!));
  for (const k of Object.keys(libState!)) {
    if (k === 'memory' || k === 'interpreter' || k === 'stack') continue;
    assert.deepEqual(ourState![k], libState![k], `runState.${k}`);
  }
  assert.equal(ourState!.interpreter, ours);
  assert.deepEqual((ourState!.memory as { _store: Uint8Array })._store, new Uint8Array(8192));
  assert.equal(Object.getPrototypeOf(ourState!.memory), Object.getPrototypeOf(libState!.memory));
  assert.deepEqual(ours._result, lib._result);
});
