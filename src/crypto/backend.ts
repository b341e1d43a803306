/**
 * Which libsecp256k1 recovers transaction senders. The system's (Debian's libsecp256k1-1, 0.2.0 on bookworm) through
 * Parallax's own add-on, build/secp256k1.node (src/native/secp256k1.c, built at install by scripts/build-native.ts),
 * when it was built; otherwise the `secp256k1` npm package's prebuilt add-on, whose library dates from 2019. Side by
 * side on this project's machine, 2,000 signatures, 4 alternating rounds: 46.6-55.3 us per recovery against
 * 61.1-76.6 (1.31-1.39x), the same keys.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ParallaxError } from '../errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

/** Where scripts/build-native.ts puts the add-on over the system library. */
export const SYSTEM_SECP_ADDON = join(PROJECT_ROOT, 'build', 'secp256k1.node');

/** 65-byte uncompressed public key from a 64-byte compact signature, its recovery id and the signed hash; throws. */
export type Recover = (signature: Uint8Array, recid: number, msgHash: Uint8Array) => Uint8Array;

export interface RecoveryBackend {
  /** 'system': build/secp256k1.node over the system's libsecp256k1; 'bundled': the npm package's add-on. */
  name: 'system' | 'bundled';
  recover: Recover;
}

const require = createRequire(import.meta.url);

/** The `secp256k1` npm package's prebuilt add-on: recovery where the system's library is not built, and signing. */
export interface BundledSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  publicKeyCreate(privateKey: Uint8Array, compressed?: boolean): Uint8Array;
}

/**
 * The N-API binding itself: the package's index silently falls back to elliptic.js (20x slower) if the binary is
 * missing, and we would rather fail loudly than run that slowly without noticing.
 */
export function bundledSecp256k1(): BundledSecp256k1 {
  return require('secp256k1/bindings') as BundledSecp256k1;
}

/**
 * The system library when its add-on was built, else the npm package's. An add-on that was built but no longer loads
 * (the library removed since) is an error naming the file and the fix, not a quiet switch to the slower library.
 */
export function loadRecoveryBackend(addon = SYSTEM_SECP_ADDON): RecoveryBackend {
  if (existsSync(addon)) {
    let m: { ecdsaRecover: Recover };
    try {
      m = require(addon) as { ecdsaRecover: Recover };
    } catch (e) {
      throw new ParallaxError('CONFIG_INVALID', `${addon} does not load (${(e as Error).message.split('\n')[0]}): install the system's libsecp256k1 again, or rebuild (node scripts/build-native.ts), or delete the file to use the npm package's library`, { file: addon });
    }
    return { name: 'system', recover: m.ecdsaRecover };
  }
  const bundled = bundledSecp256k1();
  return { name: 'bundled', recover: (sig, recid, msg) => bundled.ecdsaRecover(sig, recid, msg, false) };
}
