/**
 * The library's per-access hex conversions on Buffer's native codec (imported for its effect with the EVM patches).
 *
 * @ethereumjs keys its EIP-2929 warm sets, its original-storage cache and its touched accounts by hex strings, made
 * with @noble/hashes' `bytesToHex`: on Node 24 without the `toHex` built-in, a loop that concatenates one two-character
 * string per byte, so every lookup also flattens a chain of 20 or 32 pieces before hashing it. An ERC-20 transfer
 * warms and looks up its slots and accounts a few dozen times. Here the same methods, with the same strings, use
 * `hex` (util/bytes.ts: one copy into a scratch Buffer, one native encode). A microbenchmark of 300,000 conversions
 * into a Map, half 20-byte and half 32-byte arrays: 0.81 us each through `bytesToHex`, 0.25 through `hex`.
 *
 * Where the library converts an Address object (a touched account, the original-storage cache's account, the
 * precompile table's lookup by code address), the hex is kept on the object (`addressHex`), so a transaction's sender,
 * recipient and coinbase are converted once. Two methods make no new objects when there is nothing to do: the
 * journal's `cleanup` of a journal already clean, and the original-storage cache's `clear` of an empty cache (runTx
 * calls both for every transaction, and the plain-transfer path too).
 *
 * Each replaced method is checked against the library source it was written for, so that an upgrade that changes
 * one fails at load instead of silently keeping a stale copy of its logic (test/evm-patches.test.ts compares the
 * results with the library's own on the same inputs).
 */
import { Hardfork, type Common } from '@ethereumjs/common';
import { Address, stripHexPrefix, type Account } from '@ethereumjs/util';
import { EVM } from '@ethereumjs/evm';
import { OriginalStorageCache } from '@ethereumjs/statemanager';
import { addressHex, addressWithHex, hex } from '../util/bytes.ts';
import { notePatch } from '../util/patches.ts';

type Slots = Map<string, Set<string>>;
interface JournalThis {
  journal: Slots;
  alwaysWarmJournal: Slots;
  journalHeight: number;
  touched: Set<string>;
  preimages?: Map<string, Uint8Array>;
  /** Per checkpoint: [height, [warmed addresses, warmed slots by address, touched addresses]]. */
  journalDiff: [number, [Set<string>, Slots, Set<string>]][];
  accessList?: Slots;
  touchAccount(address: string): void;
  addWarmedAddress(address: Uint8Array): void;
  common: Common;
  stateManager: { getAccount(address: Address): Promise<Account | undefined> };
  deleteAccount(address: Address): Promise<void>;
  cleanJournal(): void;
  DEBUG: boolean;
  _debug(message: string): void;
}
interface JournalProto {
  isWarmedAddress(this: JournalThis, address: Uint8Array): boolean;
  addWarmedAddress(this: JournalThis, address: Uint8Array): void;
  isWarmedStorage(this: JournalThis, address: Uint8Array, slot: Uint8Array): boolean;
  addWarmedStorage(this: JournalThis, address: Uint8Array, slot: Uint8Array): void;
  touchAddress(this: JournalThis, address: Address): void;
  addAlwaysWarmAddress(this: JournalThis, addressStr: string, addToAccessList?: boolean): void;
  cleanup(this: JournalThis): Promise<void>;
}
interface CacheThis {
  map: Map<string, Map<string, Uint8Array>>;
  getStorage(address: Address, key: Uint8Array): Promise<Uint8Array>;
  put(address: Address, key: Uint8Array, value: Uint8Array): void;
}
interface CacheProto {
  get(this: CacheThis, address: Address, key: Uint8Array): Promise<Uint8Array>;
  put(this: CacheThis, address: Address, key: Uint8Array, value: Uint8Array): void;
  clear(this: CacheThis): void;
}
interface EvmProto {
  getPrecompile(this: { precompiles: Map<string, unknown> }, address: Address | string): unknown;
}

const base = import.meta.resolve('@ethereumjs/evm');
const { Journal } = (await import(new URL('./journal.js', base).href)) as { Journal: { prototype: JournalProto } };

const journal = Journal.prototype;
const cache = OriginalStorageCache.prototype as unknown as CacheProto;
const evm = EVM.prototype as unknown as EvmProto;

/** The library's methods this module replaces (for the equivalence tests). */
export const libraryMethods = {
  isWarmedAddress: journal.isWarmedAddress,
  addWarmedAddress: journal.addWarmedAddress,
  isWarmedStorage: journal.isWarmedStorage,
  addWarmedStorage: journal.addWarmedStorage,
  touchAddress: journal.touchAddress,
  addAlwaysWarmAddress: journal.addAlwaysWarmAddress,
  cleanup: journal.cleanup,
  cacheGet: cache.get,
  cachePut: cache.put,
  cacheClear: cache.clear,
  getPrecompile: evm.getPrecompile,
  addressToString: Address.prototype.toString,
};

/** Replace `proto[name]` after checking its source holds `expected` (the conversion being replaced). */
function replaceMethod<P extends object, K extends keyof P>(owner: string, proto: P, name: K, expected: string, replacement: P[K]): void {
  const current = proto[name];
  if (typeof current !== 'function' || !current.toString().includes(expected)) {
    throw new Error(`${owner}.${String(name)} is not the library code hex-patches.ts was written for (no "${expected}")`);
  }
  proto[name] = replacement;
}

replaceMethod('Address', Address.prototype, 'toString', 'bytesToHex(this.bytes)', function (this: Address): `0x${string}` {
  return `0x${hex(this.bytes)}`;
});

replaceMethod('Journal', journal, 'isWarmedAddress', 'bytesToUnprefixedHex(address)', function (address) {
  const a = hex(address);
  return this.journal.has(a) || this.alwaysWarmJournal.has(a);
});
replaceMethod('Journal', journal, 'addWarmedAddress', 'bytesToUnprefixedHex(addressArr)', function (address) {
  const a = hex(address);
  if (!this.journal.has(a)) {
    this.journal.set(a, new Set());
    this.journalDiff[this.journalDiff.length - 1][1][0].add(a);
  }
  if (this.accessList !== undefined && !this.accessList.has(a)) this.accessList.set(a, new Set());
});
replaceMethod('Journal', journal, 'isWarmedStorage', 'bytesToUnprefixedHex(slot)', function (address, slot) {
  const a = hex(address);
  const warm = this.journal.get(a);
  const always = this.alwaysWarmJournal.get(a);
  if (warm === undefined && always === undefined) return false;
  const s = hex(slot);
  return warm?.has(s) === true || always?.has(s) === true;
});
replaceMethod('Journal', journal, 'addWarmedStorage', 'bytesToUnprefixedHex(slot)', function (address, slot) {
  const a = hex(address);
  let slots = this.journal.get(a);
  if (slots === undefined) {
    this.addWarmedAddress(address);
    slots = this.journal.get(a)!;
  }
  const s = hex(slot);
  if (!slots.has(s)) {
    slots.add(s);
    const bySlot = this.journalDiff[this.journalDiff.length - 1][1][1];
    let diff = bySlot.get(a);
    if (diff === undefined) bySlot.set(a, (diff = new Set()));
    diff.add(s);
  }
  // addWarmedAddress gave the address its access-list entry.
  if (this.accessList !== undefined) this.accessList.get(a)!.add(s);
});
// runTx warms every precompile's address for every transaction (their table's keys: hex without 0x), and the sender's
// and recipient's: `stripHexPrefix` tests a regular expression on each (a string without 0x is returned unchanged
// whatever it holds, so only those with 0x need the test).
replaceMethod('Journal', journal, 'addAlwaysWarmAddress', 'stripHexPrefix(addressStr)', function (addressStr, addToAccessList = false) {
  const a = addressStr.charCodeAt(0) === 48 && addressStr.charCodeAt(1) === 120 ? stripHexPrefix(addressStr) : addressStr;
  if (!this.alwaysWarmJournal.has(a)) this.alwaysWarmJournal.set(a, new Set());
  if (addToAccessList && this.accessList !== undefined && !this.accessList.has(a)) this.accessList.set(a, new Set());
});
replaceMethod('Journal', journal, 'touchAddress', 'address.toString().slice(2)', function (address) {
  this.touchAccount(addressHex(address));
});

/**
 * Whether `cleanup` would leave the journal as it is: nothing touched, warmed, noted or checkpointed, no access list
 * or preimages being reported. The library's cleanup then only makes new empty maps and sets in place of the empty
 * ones (six objects, at a transaction's start and end).
 */
function journalClean(j: JournalThis): boolean {
  if (j.touched.size !== 0 || j.journal.size !== 0 || j.alwaysWarmJournal.size !== 0 || j.journalHeight !== 0) return false;
  if (j.accessList !== undefined || j.preimages !== undefined || j.journalDiff.length !== 1) return false;
  const [height, [warmed, slots, touched]] = j.journalDiff[0];
  return height === 0 && warmed.size === 0 && slots.size === 0 && touched.size === 0;
}

/** Whether the EVM's `journal.cleanup()` would do nothing now (and, patched, returns at once). */
export function journalIsClean(journal: object): boolean {
  return journalClean(journal as JournalThis);
}

/**
 * The library's clean-up makes each touched account's Address from its hex through `hexToBytes` (which checks the
 * string with a regular expression first), and the state's `getAccount` then converts the new object's bytes back to
 * the same hex. Here the Address is made from the hex with Buffer's codec and keeps the string (`addressWithHex`).
 * The touched set holds `touchAddress`'s strings only: lower-case hex without 0x, as `hex` makes them.
 */
replaceMethod('Journal', journal, 'cleanup', 'hexToBytes(`0x${addressHex}`)', async function (this: JournalThis) {
  if (journalClean(this)) return;
  if (this.common.gteHardfork(Hardfork.SpuriousDragon)) {
    for (const a of this.touched) {
      const address = addressWithHex(a);
      const account = await this.stateManager.getAccount(address);
      if (account === undefined || account.isEmpty()) {
        await this.deleteAccount(address);
        if (this.DEBUG) this._debug(`Cleanup touched account address=${address} (>= SpuriousDragon)`);
      }
    }
  }
  this.cleanJournal();
  delete this.accessList;
  delete this.preimages;
});

/** The cache's `put` by the address and key in hex: the first value stays. */
function putHex(map: CacheThis['map'], a: string, k: string, value: Uint8Array): void {
  let m = map.get(a);
  if (m === undefined) map.set(a, (m = new Map()));
  if (!m.has(k)) m.set(k, value);
}

replaceMethod('OriginalStorageCache', cache, 'get', 'bytesToUnprefixedHex(key)', async function (address, key) {
  const a = addressHex(address);
  const k = hex(key);
  const value = this.map.get(a)?.get(k);
  if (value !== undefined) return value;
  const v = await this.getStorage(address, key);
  putHex(this.map, a, k, v);
  return v;
});
replaceMethod('OriginalStorageCache', cache, 'put', 'bytesToUnprefixedHex(key)', function (address, key, value) {
  putHex(this.map, addressHex(address), hex(key), value);
});
// (A new empty map only when there is something to forget: runTx clears the cache after every transaction.)
replaceMethod('OriginalStorageCache', cache, 'clear', 'this.map = new Map()', function (this: CacheThis) {
  if (this.map.size !== 0) this.map = new Map();
});

// Calls and plain transfers look their code address up in the precompile table: by the Address object's kept hex (a
// string goes the library's way).
const libraryGetPrecompile = evm.getPrecompile;
replaceMethod('EVM', evm, 'getPrecompile', 'bytesToUnprefixedHex(address.bytes)', function (address) {
  return typeof address === 'string' ? libraryGetPrecompile.call(this, address) : this.precompiles.get(addressHex(address));
});

notePatch('@ethereumjs/evm Journal warm sets, touches and clean-up, OriginalStorageCache, EVM.getPrecompile, Address.toString: hex through Buffer, kept on Address objects (src/exec/hex-patches.ts)');
