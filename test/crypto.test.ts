import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bn254 as curve } from '@noble/curves/bn254.js';
import { Common, Mainnet } from '@ethereumjs/common';
import { createEVM, EVM, EVMMockBlockchain } from '@ethereumjs/evm';
import { SimpleStateManager } from '@ethereumjs/statemanager';
import { Address, bytesToHex } from '@ethereumjs/util';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, loadBn254, recoveryBackend } from '../src/crypto/index.ts';
import { SYSTEM_SECP_ADDON, bundledSecp256k1, loadRecoveryBackend } from '../src/crypto/backend.ts';
import { isParallaxError } from '../src/errors.ts';
import { BlockExecutor } from '../src/exec/executor.ts';
import { openStore } from './helpers/store.ts';
import { hex } from '../src/util/bytes.ts';

test('keccak256 gives @noble keccak_256 at every length across three sponge blocks, on views, in arrays of its own', () => {
  const data = new Uint8Array(420 + 7);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 255;
  const results: [Uint8Array, string][] = [];
  for (let len = 0; len <= 420; len++) {
    // A view at an odd offset into a larger buffer: the hash must read exactly the view's bytes.
    const view = data.subarray(7, 7 + len);
    const out = keccak256(view);
    assert.equal(hex(out), hex(keccak_256(view)), `length ${len}`);
    // Each result is its own 32-byte buffer from offset 0 (the library's bloom filter reads `out.buffer` directly).
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, 32);
    results.push([out, hex(out)]);
  }
  // No result is a view of memory a later hash reuses.
  for (const [out, was] of results) assert.equal(hex(out), was, 'a later hash changed an earlier result');
  assert.equal(hex(keccak256(new TextEncoder().encode('abc'))), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
});

/**
 * The BN254 precompiles on rustbn-wasm against the EVM's default (@noble), called through the EVM: same return data,
 * same gas, and failing on the same inputs (points off the curve, coordinates past the field, G2 points outside the
 * subgroup, short and long inputs).
 */
test('BN254 precompiles on rustbn-wasm give the default implementation\'s results', async () => {
  const common = new Common({ chain: Mainnet, hardfork: 'cancun' });
  // Built directly: `createEVM` replaces the `bn254` it is given with the default.
  const ours = new EVM({ common, stateManager: new SimpleStateManager(), blockchain: new EVMMockBlockchain(), bn254: await loadBn254() });
  const library = await createEVM({ common: common.copy() });
  assert.notEqual((ours as unknown as { _bn254: unknown })._bn254, (library as unknown as { _bn254: unknown })._bn254);
  // The executor's EVM (the one every Parallax thread runs) has this implementation.
  const executor = await BlockExecutor.create({ common, store: await openStore(common) });
  assert.equal((executor.vm.evm as unknown as { _bn254: unknown })._bn254, await loadBn254());
  const b32 = (v: bigint) => v.toString(16).padStart(64, '0');
  const P = curve.G1.Point;
  const Q = curve.G2.Point;
  const p = curve.fields.Fp.ORDER;
  const g1 = (pt: InstanceType<typeof P>) => (pt.equals(P.ZERO) ? b32(0n) + b32(0n) : b32(pt.toAffine().x) + b32(pt.toAffine().y));
  const g2 = (pt: InstanceType<typeof Q>) => {
    const a = pt.toAffine();
    return b32(a.x.c1) + b32(a.x.c0) + b32(a.y.c1) + b32(a.y.c0);
  };
  const points = [1n, 2n, 7n, 123456789n, 2n ** 200n + 17n].map((k) => P.BASE.multiply(k));
  const scalars = [0n, 1n, 2n, 3n, 2n ** 128n + 1n, curve.fields.Fr.ORDER - 1n, curve.fields.Fr.ORDER, 2n ** 256n - 1n];
  const calls: [number, string][] = [];
  for (const a of points) for (const b of points) calls.push([6, g1(a) + g1(b)]);
  calls.push([6, g1(points[0]!) + g1(points[0]!.negate())]);
  calls.push([6, b32(1n) + b32(3n) + g1(points[1]!)]); // (1, 3) is not on the curve
  calls.push([6, b32(p) + b32(0n) + g1(points[1]!)]); // x past the field
  calls.push([6, g1(points[2]!).slice(0, 70)]); // short: padded with zeros
  for (const a of points) for (const k of scalars) calls.push([7, g1(a) + b32(k)]);
  calls.push([7, b32(0n) + b32(0n) + b32(5n)]);
  calls.push([7, b32(1n) + b32(3n) + b32(5n)]);
  calls.push([7, g1(points[3]!) + b32(9n) + 'ff'.repeat(40)]); // long: cut to 96 bytes
  // Pairings: e(aG1, bG2) e(-abG1, G2) = 1, a wrong product, the empty input, a G2 point off the subgroup.
  for (const [a, b] of [[3n, 5n], [11n, 2n ** 70n]] as const) {
    const ok = g1(P.BASE.multiply(a)) + g2(Q.BASE.multiply(b)) + g1(P.BASE.multiply(a * b).negate()) + g2(Q.BASE);
    const wrong = g1(P.BASE.multiply(a)) + g2(Q.BASE.multiply(b)) + g1(P.BASE.multiply(a * b + 1n).negate()) + g2(Q.BASE);
    calls.push([8, ok], [8, wrong]);
  }
  calls.push([8, '']);
  calls.push([8, g1(P.BASE) + b32(1n) + b32(1n) + b32(1n) + b32(1n)]);
  calls.push([8, g1(P.BASE) + g2(Q.BASE).slice(0, 200)]); // not a multiple of 192 bytes
  const results = new Set<string>();
  for (const [to, data] of calls) {
    const run = async (evm: typeof ours) => {
      const address = new Uint8Array(20);
      address[19] = to;
      const r = await evm.runCall({ to: new Address(address), data: Buffer.from(data, 'hex'), gasLimit: 1_000_000n });
      return `${r.execResult.exceptionError === undefined ? 'ok' : 'failed'} ${r.execResult.executionGasUsed} ${bytesToHex(r.execResult.returnValue)}`;
    };
    const mine = await run(ours);
    assert.equal(mine, await run(library), `precompile ${to} on ${data.slice(0, 80)}...`);
    results.add(`${to} ${mine.split(' ')[0]}`);
    if (to === 8 && mine.startsWith('ok')) results.add(`8 ok ${BigInt(mine.split(' ')[2]!)}`);
  }
  assert.ok(results.has('8 ok 1') && results.has('8 ok 0'), 'pairing checks both hold and fail');
  // Every precompile both succeeded and failed on some input.
  for (const to of [6, 7, 8]) for (const k of ['ok', 'failed']) assert.ok(results.has(`${to} ${k}`), `precompile ${to} ${k}`);
});

/**
 * Sender recovery (src/crypto/backend.ts): the add-on over the system's libsecp256k1, built at install when the system
 * has the library, gives the npm package's add-on's results: the same keys for valid signatures under every recovery
 * id, and a refusal of the same malformed ones (r or s zero or not below the curve order, an x that is no point).
 */
test("sender recovery: the system libsecp256k1 add-on is used when the system has the library, and agrees with the npm package's", async () => {
  const bundled = bundledSecp256k1();
  const systemHas = existsSync('/usr/include/secp256k1_recovery.h') || existsSync('/usr/local/include/secp256k1_recovery.h');
  // The install builds the add-on whenever it can (scripts/build-native.ts), and the crypto module then uses it.
  assert.equal(existsSync(SYSTEM_SECP_ADDON), systemHas, `add-on built: ${existsSync(SYSTEM_SECP_ADDON)}, system library headers: ${systemHas}`);
  assert.equal(recoveryBackend, systemHas ? 'system' : 'bundled');
  if (!systemHas) return;
  const system = loadRecoveryBackend();
  assert.equal(system.name, 'system');
  const outcome = (f: () => Uint8Array): string => {
    try {
      return hex(f());
    } catch {
      return 'refused';
    }
  };
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const be32 = (x: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * (31 - i))) & 0xffn));
  let compared = 0;
  let refused = 0;
  for (let k = 1; k <= 300; k++) {
    const key = keccak256(new Uint8Array([k, 1]));
    const msg = keccak256(new Uint8Array([k, 2]));
    const { signature, recid } = bundled.ecdsaSign(msg, key);
    const r = signature.subarray(0, 32);
    const s = signature.subarray(32);
    const variants: Uint8Array[] = [signature];
    if (k <= 20) {
      // Malformed: r or s zero, equal to the order, above it; r all ones (no point has that x).
      for (const bad of [0n, N, N + 1n, 2n ** 256n - 1n]) {
        const b = be32(bad);
        variants.push(Uint8Array.of(...b, ...s), Uint8Array.of(...r, ...b));
      }
    }
    for (const sig of variants) {
      for (let id = 0; id < 4; id++) {
        const want = outcome(() => bundled.ecdsaRecover(sig, id, msg, false));
        assert.equal(outcome(() => system.recover(sig, id, msg)), want, `key ${k}, recid ${id}, signature ${hex(sig)}`);
        if (sig === signature && id === recid) assert.notEqual(want, 'refused');
        if (want === 'refused') refused++;
        compared++;
      }
    }
  }
  assert.ok(compared === 300 * 4 + 20 * 8 * 4 && refused > 20 * 8 * 2, `${compared} compared, ${refused} refused by both`);
  // Arguments of the wrong shape are refused before any curve arithmetic.
  const msg = new Uint8Array(32);
  assert.throws(() => system.recover(new Uint8Array(63), 0, msg), TypeError);
  assert.throws(() => system.recover(new Uint8Array(64), 4, msg), TypeError);
  assert.throws(() => system.recover(new Uint8Array(64), 0, new Uint8Array(31)), TypeError);
});

test('an add-on file that does not load is an error naming it, not a quiet switch to the slower library', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-addon-'));
  try {
    const file = join(dir, 'secp256k1.node');
    await writeFile(file, 'not a shared library');
    assert.throws(() => loadRecoveryBackend(file), (e) => isParallaxError(e, 'CONFIG_INVALID') && e.message.includes(file) && /build-native\.ts/.test(e.message));
    assert.equal(loadRecoveryBackend(join(dir, 'absent.node')).name, 'bundled');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
