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
import { AccessList2930Tx, Blob4844Tx, EOACode7702Tx, FeeMarket1559Tx, LegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { Address } from '@ethereumjs/util';

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
  (tx as unknown as Pinnable).cache.senderPubKey = pubkey ?? tx.getSenderPublicKey();
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
for (const Tx of [LegacyTx, AccessList2930Tx, FeeMarket1559Tx, Blob4844Tx, EOACode7702Tx]) {
  const proto = Tx.prototype as unknown as { getSenderAddress(this: TypedTransaction): Address };
  const library = proto.getSenderAddress;
  proto.getSenderAddress = function (this: TypedTransaction): Address {
    const hash = this.common.customCrypto.keccak256;
    if (hash === undefined) return library.call(this);
    let address = senderAddresses.get(this);
    if (address === undefined) {
      address = new Address(hash(this.getSenderPublicKey()).subarray(12));
      senderAddresses.set(this, address);
    }
    return address;
  };
}
