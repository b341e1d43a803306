/**
 * Account records (RLP of [nonce, balance, storageRoot, codeHash]) decoded on the hot paths: every account a
 * transaction touches is decoded by the worker that runs it and again by the main thread that validates it. The
 * usual shape (a long-form list of two short strings and two 32-byte strings) is read in place here; anything else
 * goes to @ethereumjs/util's `createAccountFromRLP`, which decodes it or raises what is wrong with it.
 */
import { Account, bytesToBigInt, createAccountFromRLP } from '@ethereumjs/util';

/** The length of the short RLP string at `p`, its header byte included; -1 if it is no canonical short string. */
function shortString(rlp: Uint8Array, p: number): number {
  const h = rlp[p];
  if (h < 0x80) return 1;
  if (h > 0xb7) return -1;
  const len = h - 0x80;
  // A single byte below 0x80 must stand for itself (RLP rejects it prefixed).
  if (len === 1 && rlp[p + 1] < 0x80) return -1;
  return 1 + len;
}

/** A big-endian unsigned integer of `len` bytes at `from`. */
function uint(rlp: Uint8Array, from: number, len: number): bigint {
  if (len <= 6) {
    let v = 0;
    for (let i = 0; i < len; i++) v = v * 256 + rlp[from + i];
    return BigInt(v);
  }
  return bytesToBigInt(rlp.subarray(from, from + len));
}

export function decodeAccountRecord(rlp: Uint8Array): Account {
  const n = rlp.length;
  // Long-form list header (0xf8, payload length >= 56) over the whole record, both hashes as 32-byte strings.
  if (n >= 70 && rlp[0] === 0xf8 && rlp[1] >= 56 && rlp[1] + 2 === n && rlp[n - 66] === 0xa0 && rlp[n - 33] === 0xa0) {
    const nonceItem = shortString(rlp, 2);
    const balanceAt = 2 + nonceItem;
    const balanceItem = nonceItem < 0 ? -1 : shortString(rlp, balanceAt);
    if (balanceItem > 0 && balanceAt + balanceItem === n - 66) {
      const nonce = nonceItem === 1 ? (rlp[2] < 0x80 ? BigInt(rlp[2]) : 0n) : uint(rlp, 3, nonceItem - 1);
      const balance = balanceItem === 1 ? (rlp[balanceAt] < 0x80 ? BigInt(rlp[balanceAt]) : 0n) : uint(rlp, balanceAt + 1, balanceItem - 1);
      return new Account(nonce, balance, rlp.subarray(n - 65, n - 33), rlp.subarray(n - 32));
    }
  }
  return createAccountFromRLP(rlp);
}
