/**
 * Where Selendra keeps an EVM account. Frontier's EVM sees an H160; the balance and nonce live in `System::Account` of
 * a 32-byte Substrate account: the one `UnifiedAccounts::EvmToNative` names when the address was claimed, otherwise
 * the default mapping `blake2_256("evm:" ++ h160)`. Code and storage are kept by H160 in the EVM pallet.
 */
import { u8aConcat } from '@polkadot/util';
import { blake2AsU8a, xxhashAsU8a } from '@polkadot/util-crypto';

const EVM_PREFIX = new TextEncoder().encode('evm:');

/** The Substrate account an unclaimed EVM address maps to. */
export function defaultNativeAccount(h160: Uint8Array): Uint8Array {
  if (h160.length !== 20) throw new RangeError(`an EVM address is 20 bytes, got ${h160.length}`);
  return blake2AsU8a(u8aConcat(EVM_PREFIX, h160), 256);
}

const prefix = (pallet: string, item: string) => u8aConcat(xxhashAsU8a(pallet, 128), xxhashAsU8a(item, 128));
const blake2_128Concat = (k: Uint8Array) => u8aConcat(blake2AsU8a(k, 128), k);

/** Storage keys of the items an EVM sidecar reads (hashers as the runtime metadata declares them). */
export const storageKey = {
  systemAccount: (id: Uint8Array) => u8aConcat(prefix('System', 'Account'), blake2_128Concat(id)),
  evmToNative: (h160: Uint8Array) => u8aConcat(prefix('UnifiedAccounts', 'EvmToNative'), blake2_128Concat(h160)),
  accountCode: (h160: Uint8Array) => u8aConcat(prefix('EVM', 'AccountCodes'), blake2_128Concat(h160)),
  accountStorage: (h160: Uint8Array, slot: Uint8Array) => u8aConcat(prefix('EVM', 'AccountStorages'), blake2_128Concat(h160), blake2_128Concat(slot)),
};
