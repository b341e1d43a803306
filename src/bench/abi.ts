/** A minimal Solidity ABI encoder for the workload generator's calls (static words, address[], string, bytes). */
import { keccak256 } from '../crypto/index.ts';
import { concatBytes } from '@ethereumjs/util';

export type AbiValue = { address: Uint8Array } | { uint: bigint } | { addresses: Uint8Array[] } | { string: string } | { bytes: Uint8Array };

export function selector(signature: string): Uint8Array {
  return keccak256(new TextEncoder().encode(signature)).subarray(0, 4);
}

function word(n: bigint): Uint8Array {
  if (n < 0n || n >= 1n << 256n) throw new Error(`uint256 out of range: ${n}`);
  const out = new Uint8Array(32);
  let v = n;
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function addressWord(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  out.set(a, 12);
  return out;
}

function dynamicBytes(b: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(b.length / 32) * 32);
  padded.set(b);
  return concatBytes(word(BigInt(b.length)), padded);
}

/** ABI-encode `values` as a function's argument tuple. */
export function encodeArgs(values: AbiValue[]): Uint8Array {
  const heads: Uint8Array[] = [];
  const tails: Uint8Array[] = [];
  let tailOffset = 32 * values.length;
  for (const v of values) {
    if ('address' in v) heads.push(addressWord(v.address));
    else if ('uint' in v) heads.push(word(v.uint));
    else {
      const tail =
        'addresses' in v
          ? concatBytes(word(BigInt(v.addresses.length)), ...v.addresses.map(addressWord))
          : dynamicBytes('string' in v ? new TextEncoder().encode(v.string) : v.bytes);
      heads.push(word(BigInt(tailOffset)));
      tails.push(tail);
      tailOffset += tail.length;
    }
  }
  return concatBytes(...heads, ...tails);
}

export function encodeCall(signature: string, values: AbiValue[]): Uint8Array {
  return concatBytes(selector(signature), encodeArgs(values));
}
