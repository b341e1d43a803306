import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Common, Mainnet } from '@ethereumjs/common';
import { createEVM } from '@ethereumjs/evm';
import { bigIntToBytes, bytesToBigInt, hexToBytes, setLengthLeft } from '@ethereumjs/util';
import { uintBytes } from '../src/util/rlp.ts';
import { analyseCode, libraryCodeAnalysis, padWord, PushValues, readWord, wordBytes, writeWord } from '../src/exec/evm-patches.ts';

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
