import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Common, Mainnet } from '@ethereumjs/common';
import { createEVM } from '@ethereumjs/evm';
import { hexToBytes } from '@ethereumjs/util';
import { analyseCode, libraryCodeAnalysis, PushValues } from '../src/exec/evm-patches.ts';

const require = createRequire(import.meta.url);

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
