/**
 * A Common for decoding transactions cheaply.
 *
 * Every @ethereumjs/tx constructor copies the Common it is given and merges the transaction parameters into the copy
 * (`common.copy()`, then `updateParams`, which deep-copies parameter tables through JSON and rebuilds the parameter
 * cache). Profiled on a worker thread, that was about 130 us per transaction: more than recovering its sender. The
 * Common returned here is its own copy and merges each parameter table once, so decoding a transaction costs what
 * decoding its fields costs. Transactions decoded with it share it: set its hardfork per block, as the executor does
 * with its own.
 */
import { Common } from '@ethereumjs/common';
import { AccessList2930Tx, Blob4844Tx, Capability, EOACode7702Tx, FeeMarket1559Tx, LegacyTx, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx';
import { Address, MAX_INTEGER, SECP256K1_ORDER_DIV_2 } from '@ethereumjs/util';
import { ecdsaRecover, ecrecover, keccak256 } from '../crypto/index.ts';
import { serializeTx, signingPayload } from '../util/rlp.ts';

export function sharedTxCommon(common: Common): Common {
  const shared = common.copy();
  const merged = new Set<object>();
  shared.copy = () => shared;
  shared.updateParams = (params) => {
    if (merged.has(params)) return;
    merged.add(params);
    Common.prototype.updateParams.call(shared, params);
  };
  return shared;
}

type Pinnable = { cache: { senderPubKey?: Uint8Array } };

/**
 * Fix a transaction's sender's public key (recovered now unless given); its address then comes from the one-time
 * computation below, or is `address` when the caller has it already (a worker that recovered the key hashed it
 * there). A transaction whose sender a source already fixed (Frontier's EthereumChecked calls carry it in their
 * status) is left as it is. Throws as `getSenderPublicKey` does for a bad signature.
 */
export function pinSender(tx: TypedTransaction, pubkey?: Uint8Array, address?: Uint8Array): void {
  if (Object.hasOwn(tx, 'getSenderAddress')) return;
  (tx as unknown as Pinnable).cache.senderPubKey = pubkey ?? recoverSenderKey(tx);
  if (address !== undefined && tx.common.customCrypto.keccak256 !== undefined) senderAddresses.set(tx, new Address(address));
}

/**
 * Senders' addresses, computed once.
 *
 * The library's `getSenderAddress` hashes the (cached) public key with its pure-JS keccak on every call: 5-7 us, and
 * the executor, the scheduler and runTx call it several times per transaction. A transaction is frozen by default and
 * cannot hold the address itself, so for transactions whose Common carries a keccak (every Parallax Common has the
 * native one), the address is computed with it once and kept here. Transactions on a Common without one (the
 * benchmark's reference engine, on library defaults) keep the library's method.
 */
const senderAddresses = new WeakMap<object, Address>();
/** Every transaction class the library decodes into (the prototypes patched here). */
const TX_CLASSES = [LegacyTx, AccessList2930Tx, FeeMarket1559Tx, Blob4844Tx, EOACode7702Tx];
for (const Tx of TX_CLASSES) {
  const proto = Tx.prototype as unknown as { getSenderAddress(this: TypedTransaction): Address };
  const library = proto.getSenderAddress;
  proto.getSenderAddress = function (this: TypedTransaction): Address {
    const hash = this.common.customCrypto.keccak256;
    if (hash === undefined) return library.call(this);
    let address = senderAddresses.get(this);
    if (address === undefined) {
      address = new Address(hash(recoverSenderKey(this)).subarray(12));
      senderAddresses.set(this, address);
    }
    return address;
  };
}

/**
 * Signing hashes of transactions being recovered by `recoverSenderKey`, which the library's
 * `getMessageToVerifySignature` returns instead of re-encoding the transaction's fields (10-15 us a transaction,
 * against about 3 us to cut the payload from its encoding and hash it natively).
 */
const signingHashes = new WeakMap<object, Uint8Array>();
for (const Tx of TX_CLASSES) {
  const proto = Tx.prototype as unknown as { getMessageToVerifySignature(this: TypedTransaction): Uint8Array };
  const library = proto.getMessageToVerifySignature;
  proto.getMessageToVerifySignature = function (this: TypedTransaction): Uint8Array {
    return signingHashes.get(this) ?? library.call(this);
  };
}

/**
 * The sender's public key, recovered as `tx.getSenderPublicKey()` recovers it (the same checks: high s, v against the
 * chain id; the same errors) but with the signing hash cut from the transaction's canonical encoding `raw` (made here
 * when not given) instead of re-encoded from its fields. Cached on the transaction as the library caches it.
 */
export function recoverSenderKey(tx: TypedTransaction, raw?: Uint8Array): Uint8Array {
  const cached = (tx as unknown as Pinnable).cache.senderPubKey;
  if (cached !== undefined) return cached;
  let hash: Uint8Array | undefined;
  try {
    const eip155 = tx.type === 0 && tx.supports(Capability.EIP155ReplayProtection) ? tx.common.chainId() : undefined;
    hash = keccak256(signingPayload(raw ?? serializeTx(tx), eip155));
  } catch {
    // Not a list the payload can be cut from (an unsigned transaction): the library's own path says what is wrong.
  }
  if (hash === undefined) return tx.getSenderPublicKey();
  if (raw !== undefined && tx.type === 2) {
    const key = recoverFeeMarketKey(tx, raw, hash);
    if (key !== undefined) {
      // Kept where the library keeps it: on a frozen transaction, whose signature cannot change.
      if (Object.isFrozen(tx)) (tx as unknown as Pinnable).cache.senderPubKey = key;
      return key;
    }
  }
  signingHashes.set(tx, hash);
  try {
    return tx.getSenderPublicKey();
  } finally {
    signingHashes.delete(tx);
  }
}

/**
 * The sender's key of an EIP-1559 transaction whose canonical encoding is `raw`, recovered from the signature's bytes
 * there, or undefined where the library's `getSenderPublicKey` is left to answer (and to throw its own error).
 *
 * The library hands its `ecrecover` r and s as bigints converted back to bytes (a hex string each way, about 2.5 us a
 * transaction on a worker); the bytes are in the encoding already. What reaches libsecp256k1 is the same 64-byte
 * signature and recovery id as on the library's path through Parallax's `ecrecover` (r and s left-padded to 32
 * bytes, y-parity 0 or 1), so the key is the same; the library's checks come first (s above half the curve order
 * under Homestead: left to the library, which rejects it), and a signature libsecp256k1 cannot recover from is left
 * to the library too. Only for a Common whose `ecrecover` is Parallax's: any other recovers as it would.
 */
function recoverFeeMarketKey(tx: TypedTransaction, raw: Uint8Array, hash: Uint8Array): Uint8Array | undefined {
  if (raw[0] !== 2 || tx.common.customCrypto.ecrecover !== ecrecover) return undefined;
  const { v, s } = tx;
  if ((v !== 0n && v !== 1n) || s === undefined || s > SECP256K1_ORDER_DIV_2) return undefined;
  const at = fields1559(raw);
  if (at === undefined) return undefined;
  const rLen = at[21] - at[20];
  const sLen = at[23] - at[22];
  if (rLen > 32 || sLen > 32) return undefined;
  const sig = new Uint8Array(64);
  sig.set(raw.subarray(at[20], at[21]), 32 - rLen);
  sig.set(raw.subarray(at[22], at[23]), 64 - sLen);
  try {
    return ecdsaRecover(sig, Number(v), hash).subarray(1);
  } catch {
    return undefined;
  }
}

/**
 * Decode a transaction's canonical encoding into the same object `createTxFromRLP(raw, { common })` returns.
 *
 * The library's decoder spends 10.5-13.2 us on a plain EIP-1559 transfer (its RLP decoder copies every field, the
 * constructor converts each number through a hex string and builds objects to validate them; 3.7-4.0 us here), and
 * a worker decodes each transaction of a block about 1.5 times (once when it recovers the sender, again when another
 * worker runs it).
 * EIP-1559 transactions with a recipient and no access list, the shape of nearly all of today's traffic, are decoded
 * here: the fields are read straight from the encoding, the constructor's checks are made (the same conditions), and
 * the object is built with the class's prototype, the constructor's fields in its order, and frozen, as the
 * constructor leaves it. Anything else, and anything that does not pass a check or is not canonical RLP, goes to the
 * library, which decodes it or throws its own error; so this never accepts what the library rejects, and never
 * throws where the library would not.
 */
export function decodeTx(raw: Uint8Array, common: Common): TypedTransaction {
  const fast = decodeTxFast(raw, common);
  if (fast !== undefined) return fast;
  const tx = createTxFromRLP(raw, optionsFor(common));
  // The library's constructor merges the transaction parameters into the Common it keeps (once, on a
  // `sharedTxCommon`, which is also the Common its transactions keep): the fast path relies on both.
  if (tx.common === common) primed.add(common);
  return tx;
}

/** The fast path of `decodeTx` alone: undefined where it leaves the transaction to the library. */
export function decodeTxFast(raw: Uint8Array, common: Common): TypedTransaction | undefined {
  if (raw[0] !== 2 || !primed.has(common)) return undefined;
  return decodeFeeMarket(raw, optionsFor(common));
}

function optionsFor(common: Common): { common: Common } {
  let opts = decodeOptions.get(common);
  if (opts === undefined) {
    opts = { common };
    decodeOptions.set(common, opts);
  }
  return opts;
}

/** Options passed to the library per Common (a decoded transaction keeps them, as the library's do). */
const decodeOptions = new WeakMap<Common, { common: Common }>();
/** Commons on which the library has decoded a transaction and which its transactions keep as they are. */
const primed = new WeakSet<Common>();

/**
 * A long-form RLP length: the `ll` bytes at `p`, or -1 where that is not canonical (more than 3 bytes, a leading
 * zero, below 56, or past the end).
 */
function longLength(raw: Uint8Array, p: number, ll: number): number {
  if (ll > 3 || p + ll > raw.length || raw[p] === 0) return -1;
  let len = 0;
  for (let i = 0; i < ll; i++) len = len * 256 + raw[p + i];
  return len < 56 ? -1 : len;
}

/** Start and end of each of the 12 fields, or undefined where the encoding is not plain canonical RLP. */
function fields1559(raw: Uint8Array): Int32Array | undefined {
  const h = raw[1];
  if (h === undefined || h < 0xc0) return undefined;
  let p: number;
  let end: number;
  if (h < 0xf8) {
    p = 2;
    end = p + (h - 0xc0);
  } else {
    const len = longLength(raw, 2, h - 0xf7);
    if (len < 0) return undefined;
    p = 2 + (h - 0xf7);
    end = p + len;
  }
  if (end !== raw.length) return undefined;
  const at = new Int32Array(24);
  for (let f = 0; f < 12; f++) {
    if (p >= end) return undefined;
    const b = raw[p];
    let s: number;
    let e: number;
    if (b < 0x80) {
      s = p;
      e = p + 1;
    } else if (b < 0xb8) {
      s = p + 1;
      e = s + (b - 0x80);
      // A single byte below 0x80 is its own encoding.
      if (b === 0x81 && raw[s] < 0x80) return undefined;
    } else if (b < 0xc0) {
      const len = longLength(raw, p + 1, b - 0xb7);
      if (len < 0) return undefined;
      s = p + 1 + (b - 0xb7);
      e = s + len;
    } else if (b === 0xc0 && f === 8) {
      // The empty access list: the only list taken here.
      s = p + 1;
      e = s;
    } else return undefined;
    if (e > end) return undefined;
    at[2 * f] = s;
    at[2 * f + 1] = e;
    p = e;
  }
  return p === end ? at : undefined;
}

/**
 * The big-endian unsigned integer in `raw[s..e)` (at most 32 bytes). Longer than 6 bytes, it is read 8 bytes at a time
 * (a 32-byte r or s in 0.18 us against 0.31-0.35 through a hex string).
 */
function uintAt(raw: Uint8Array, s: number, e: number): bigint {
  let x = 0;
  const n = e - s;
  if (n <= 6) {
    for (let i = s; i < e; i++) x = x * 256 + raw[i];
    return BigInt(x);
  }
  // The bytes before the last whole 8-byte words: up to 7, more than a number holds exactly (53 bits) when 7.
  let p = s + (n & 7);
  let i = s;
  const top = p - s === 7 ? raw[i++] : 0;
  for (; i < p; i++) x = x * 256 + raw[i];
  let big = top === 0 ? BigInt(x) : (BigInt(top) << 48n) | BigInt(x);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (; p < e; p += 8) big = (big << 64n) | view.getBigUint64(p);
  return big;
}

/** Fields holding numbers (nonce, tip, max fee, gas, value, y-parity, r, s): no leading zeros, at most 32 bytes. */
const NUMBER_FIELDS = [1, 2, 3, 4, 6, 9, 10, 11];
const MAX_UINT64 = (1n << 64n) - 1n;

function decodeFeeMarket(raw: Uint8Array, opts: { common: Common }): TypedTransaction | undefined {
  const at = fields1559(raw);
  if (at === undefined) return undefined;
  const common = opts.common;
  for (const f of NUMBER_FIELDS) {
    const s = at[2 * f];
    const e = at[2 * f + 1];
    if (e - s > 32 || (e > s && raw[s] === 0)) return undefined;
  }
  if (at[11] - at[10] !== 20) return undefined; // a contract creation (or a malformed recipient): the library's
  const chainId = uintAt(raw, at[0], at[1]);
  if (chainId !== common.chainId() || !common.isActivatedEIP(1559)) return undefined;
  const nonce = uintAt(raw, at[2], at[3]);
  const maxPriorityFeePerGas = uintAt(raw, at[4], at[5]);
  const maxFeePerGas = uintAt(raw, at[6], at[7]);
  const gasLimit = uintAt(raw, at[8], at[9]);
  const value = uintAt(raw, at[12], at[13]);
  const v = uintAt(raw, at[18], at[19]);
  const r = uintAt(raw, at[20], at[21]);
  const s = uintAt(raw, at[22], at[23]);
  // The library keeps an absent r or s undefined (an unsigned transaction): not taken here. A y-parity of 0 is empty.
  if (at[21] === at[20] || at[23] === at[22]) return undefined;
  if (gasLimit > MAX_UINT64 || nonce >= MAX_UINT64) return undefined;
  if (common.isActivatedEIP(7825) && !common.isActivatedEIP(8037) && gasLimit > common.param('maxTransactionGasLimit')) return undefined;
  if (gasLimit * maxFeePerGas > MAX_INTEGER || maxFeePerGas < maxPriorityFeePerGas) return undefined;
  if (v > 1n) return undefined;
  if (common.gteHardfork('homestead') && s > SECP256K1_ORDER_DIV_2) return undefined;
  // The constructor's fields, in its order (the same hidden class as the library's objects).
  const tx = Object.create(FeeMarket1559Tx.prototype) as Record<string, unknown>;
  tx.type = 2;
  tx.cache = {};
  tx.activeCapabilities = [];
  tx.common = common;
  tx.txOptions = opts;
  tx.to = new Address(raw.slice(at[10], at[11]));
  tx.nonce = nonce;
  tx.gasLimit = gasLimit;
  tx.value = value;
  tx.data = raw.slice(at[14], at[15]);
  tx.v = v;
  tx.r = r;
  tx.s = s;
  tx.chainId = chainId;
  tx.activeCapabilities = [1559, 2718, 2930];
  tx.accessList = [];
  tx.maxFeePerGas = maxFeePerGas;
  tx.maxPriorityFeePerGas = maxPriorityFeePerGas;
  return Object.freeze(tx) as unknown as TypedTransaction;
}
