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
import { AccessList2930Tx, Blob4844Tx, Capability, EOACode7702Tx, FeeMarket1559Tx, LegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { Address } from '@ethereumjs/util';
import { keccak256 } from '../crypto/index.ts';
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
  signingHashes.set(tx, hash);
  try {
    return tx.getSenderPublicKey();
  } finally {
    signingHashes.delete(tx);
  }
}
