/**
 * The state the EVM sees while a block executes: a write overlay over a committed `StateReader`.
 *
 * Writes stay in memory until the block is done; `diff()` then hands the final values to the state store, which
 * commits them in one batch and updates the trie once. Checkpoints are an undo log (constant-time reads at any call
 * depth, cost proportional to what a reverted frame wrote). Reads that reach the base are remembered for the rest of
 * the block, so every account and slot is fetched from below at most once.
 *
 * With tracking on (`beginTx`/`endTx`), the overlay records one transaction's exact read set (every account and slot
 * it read from below its own writes, with the value it saw) and write set (every account, slot, wiped storage and
 * new code it left changed). The parallel engine validates speculative runs with these. The block's coinbase can be
 * tracked lazily: the fee credit that runTx makes after execution becomes a balance delta instead of a
 * read-modify-write, so fee payments do not make every transaction depend on the one before it.
 *
 * An account's balance is tracked apart from the rest of it ('b' + addr beside 'a' + addr): the EVM reads and
 * re-stores every account a call passes through, also with no value moving (see evm-patches), and a balance that the
 * transaction never looked at must not make it depend on whoever changed that balance (on mainnet: every ETH-to-token
 * swap changes WETH's balance, and every call into WETH re-stores its account). The accounts a tracked transaction
 * gets are `TrackedAccount`s, which note the first time their balance is read or set; a balance never touched is
 * no read, and an account written with its balance untouched keeps whatever balance the committed state has.
 */
import { Account, Address, KECCAK256_NULL, KECCAK256_RLP, equalsBytes } from '@ethereumjs/util';
import { OriginalStorageCache } from '@ethereumjs/statemanager';
import type { AccountFields, StateManagerInterface, StorageDump, StorageRange } from '@ethereumjs/common';
import { keccak256 } from '../crypto/index.ts';
import { addressHex, fromHex, hex, unpad } from '../util/bytes.ts';
import { NOT_NOW, type AccountDiff, type NotNow, type StateDiff, type StateReader } from './types.ts';

/**
 * Account as compared by validation, without its balance: the nonce, then the code hash unless it is the empty
 * one (most accounts: their token needs no hex conversion and crosses between threads short); absent = ''.
 */
export function accountToken(a: { nonce: bigint; codeHash: Uint8Array } | undefined | null): string {
  if (a == null) return '';
  const h = a.codeHash;
  return h === KECCAK256_NULL || equalsBytes(h, KECCAK256_NULL) ? a.nonce.toString() : `${a.nonce}:${hex(h)}`;
}

/** An account's balance as compared by validation (absent = ''). */
export function balanceToken(a: { balance: bigint } | undefined | null): string {
  return a == null ? '' : a.balance.toString();
}

/** Same nonce and code (what `accountToken` compares), or both absent. */
function sameFields(a: Account | null, b: Account | null): boolean {
  if (a === null || b === null) return a === b;
  return a.nonce === b.nonce && (a.codeHash === b.codeHash || equalsBytes(a.codeHash, b.codeHash));
}

/** The balance field itself, read without a `TrackedAccount` noticing. */
function rawBalance(a: Account): bigint {
  return (a as unknown as { _balance: bigint })._balance;
}

/**
 * An account handed to the EVM during a tracked transaction: the first read or write of its balance is reported to
 * the overlay that handed it out (`touchBalance` of tracker `t`, account `addr`), once; the overlay ignores a report
 * once that transaction is no longer the one tracked. (Fields rather than a callback: no closure per account handed
 * out.)
 */
class TrackedAccount extends Account {
  private owner: OverlayStateManager | undefined;
  private readonly t: Tracker;
  private readonly addr: string;
  constructor(a: Account, owner: OverlayStateManager, t: Tracker, addr: string) {
    super(a.nonce, rawBalance(a), a.storageRoot, a.codeHash);
    this.owner = owner;
    this.t = t;
    this.addr = addr;
  }
  private touch(): void {
    const owner = this.owner;
    if (owner === undefined) return;
    this.owner = undefined;
    owner.touchBalance(this.t, this.addr);
  }
  /** The balance was neither read nor set through this object. */
  get balanceUntouched(): boolean {
    return this.owner !== undefined;
  }
  override get balance(): bigint {
    this.touch();
    return super.balance;
  }
  /** An account with a nonce or code is not empty whatever its balance: only otherwise is the balance looked at. */
  override isEmpty(): boolean {
    if (this.nonce !== 0n || !equalsBytes(this.codeHash, KECCAK256_NULL)) return false;
    return super.isEmpty();
  }
  override set balance(v: bigint) {
    this.touch();
    super.balance = v;
  }
}

/** An account value in a write set (plain data: crosses threads by structured clone). */
export interface AccountValue {
  nonce: bigint;
  balance: bigint;
  codeHash: Uint8Array;
  /** The transaction never touched the balance: applying keeps the committed balance (`balance` is what it saw). */
  keepBalance?: boolean;
}

/**
 * One array per code (by hash) for every overlay on this thread. The interpreter's analysis of a code (jump
 * destinations, push values: see evm-patches) is cached per array; a store hands out one array per code, but a
 * fixture replay opens a store per block, and each would otherwise have its contracts analysed again. Code is
 * content-addressed, so an entry is never stale; past the cap the table starts over (only analyses are lost).
 */
const internedCode = new Map<string, Uint8Array>();
const INTERNED_CODES = 4096;

function intern(hash: string, code: Uint8Array): Uint8Array {
  const known = internedCode.get(hash);
  if (known !== undefined) return known;
  if (internedCode.size >= INTERNED_CODES) internedCode.clear();
  internedCode.set(hash, code);
  return code;
}

/** Start the table over (the benchmark does between engines, so that none inherits another's code analyses). */
export function forgetInternedCode(): void {
  internedCode.clear();
}

/** What one transaction read and left written. Keys: 'a' + addr, or 's' + addr + slot (hex). */
export interface TxAccess {
  /** key -> value seen (accountToken for accounts, hex for slots; '' = absent/zero). */
  reads: Map<string, string>;
  accounts: Map<string, AccountValue | null>;
  /** Accounts whose storage was wiped, applied before `slots`. */
  cleared: string[];
  /** addr+slot (hex) -> value, leading zeros stripped. */
  slots: Map<string, Uint8Array>;
  codes: Map<string, Uint8Array>;
  /** Fee credit to the block's coinbase, when it was tracked lazily. */
  coinbaseDelta: bigint;
  /** Wei that left existence with accounts this transaction deleted (self-destruct burns). */
  destroyed: bigint;
}

/**
 * What one transaction run on this thread read and changed, for its dependencies alone (`beginTx(coinbase, true)`,
 * `endTxHere`): its reads' keys, and the keys whose value it left different from what it had before it (the same
 * rules as `DependencyTracker.noteWrites` applies to a `TxAccess`).
 */
export interface LocalAccess {
  /** Accounts whose nonce and code the transaction read from below its own writes (hex addresses). */
  readAccounts: Iterable<string>;
  /** Accounts whose balance it read so. */
  readBalances: Iterable<string>;
  /** Slots it read so, by their tracking key ('s' + addr + slot). */
  readSlots: Iterable<string>;
  /** Accounts whose nonce or code it changed. */
  changedAccounts: string[];
  /** Accounts whose balance it changed. */
  changedBalances: string[];
  /** Slots it changed ('s' + addr + slot). */
  changedSlots: string[];
  /** Accounts whose storage the transaction wiped (cleared, or deleted with the account). */
  wiped: string[];
  coinbaseDelta: bigint;
}

/**
 * A read's value as a tracker keeps it: the token validation compares (`TxAccess.reads`), or, for a transaction
 * tracked for its dependencies only, the value itself (an account or null, a balance or null, a slot's bytes),
 * compared without building a string.
 */
type SeenValue = string | Account | bigint | Uint8Array | null;

interface Tracker {
  /** Every read by its tracking key; with `raw`, the slots' reads only (the accounts' are in the next two). */
  reads: Map<string, SeenValue>;
  /** Reads keep values, not tokens (see `SeenValue`), and accounts' reads are kept by address. */
  raw: boolean;
  /** With `raw`: the nonce-and-code reads by address (the account seen, or null). */
  readAccounts: Map<string, Account | null>;
  /** With `raw`: the balance reads by address (the balance seen, or null). */
  readBalances: Map<string, bigint | null>;
  writtenAccounts: Set<string>;
  /**
   * Accounts whose balance this transaction read or set (its value before that is in `reads` as 'b' + addr, in
   * `readBalances` with `raw`).
   */
  balances: Set<string>;
  /** Accounts last written from an object whose balance was never touched (see `AccountValue.keepBalance`). */
  keptBalance: Set<string>;
  /** Slots written, by their key as `reads` has them ('s' + addr + slot). */
  writtenSlots: Set<string>;
  clears: Set<string>;
  coinbase: string | undefined;
  /** Set by the engine once runTx's EVM call returned: what follows is refund and fee payment. */
  postExecution: boolean;
  lazyCoinbase: boolean;
  coinbaseView: bigint;
  coinbaseDelta: bigint;
  destroyed: bigint;
}

type UndoEntry =
  | { k: 0; addr: string; prev: Account | null | undefined }
  | { k: 1; addr: string; slot: string; prev: Uint8Array | undefined }
  | { k: 2; addr: string; prevCleared: boolean; prevStorage: Map<string, Uint8Array> | undefined }
  | { k: 3; set: Set<string>; key: string }
  | { k: 4; amount: bigint };

const EMPTY = new Uint8Array(0);

/**
 * The empty set a tracker starts with for the keys most transactions have none of (balances kept, slots written,
 * storages wiped), replaced by a set of its own at the first key: never added to.
 */
const NO_KEYS: Set<string> = new Set();

/** The accounts' read maps of a tracker without `raw`, which keeps those reads in `reads`: never added to. */
const NO_READS = new Map<string, never>();

function copyAccount(a: Account): Account {
  return new Account(a.nonce, rawBalance(a), a.storageRoot, a.codeHash);
}

export class OverlayStateManager implements StateManagerInterface {
  originalStorageCache: OriginalStorageCache;
  private tracker: Tracker | undefined;

  private base: StateReader;
  /** addr -> account after the writes so far (null = does not exist). Only addresses written in this block. */
  private accounts = new Map<string, Account | null>();
  private storage = new Map<string, Map<string, Uint8Array>>();
  private cleared = new Set<string>();
  private codes = new Map<string, Uint8Array>();
  private addrBytes = new Map<string, Uint8Array>();
  /** Read-through cache of the base for this block. */
  private baseAccounts = new Map<string, Account | undefined>();
  /**
   * By the slot's key as `TxAccess.reads` has it ('s' + addr + slot): a storage read builds that one string and
   * hashes it once for this cache, the transaction's written slots and its reads.
   */
  private baseStorage = new Map<string, Uint8Array>();
  private baseCode = new Map<string, Uint8Array>();
  private undo: UndoEntry[] = [];
  private marks: number[] = [];
  /**
   * Wei held by accounts deleted in this block at the moment they were deleted (a self-destruct's burn), including
   * that of validated speculative runs applied here: the value conservation check counts it as burned.
   */
  destroyed = 0n;

  /**
   * Set on a Frontier chain: balances are what the EVM sees of a Substrate account (free minus this deposit), and a
   * destroyed account keeps its nonce.
   */
  existentialDeposit: bigint | undefined;

  constructor(base: StateReader) {
    this.base = base;
    this.originalStorageCache = new OriginalStorageCache(this.getStorage.bind(this));
  }

  /** Start a new block on top of `base`; everything from the previous block is dropped. */
  reset(base: StateReader): void {
    this.base = base;
    this.accounts = new Map();
    this.storage = new Map();
    this.cleared = new Set();
    this.codes = new Map();
    this.addrBytes = new Map();
    this.baseAccounts = new Map();
    this.baseStorage = new Map();
    this.baseCode = new Map();
    this.undo = [];
    this.marks = [];
    this.destroyed = 0n;
    this.originalStorageCache.clear();
  }

  /**
   * Balance an account had before this block (the base state), for the conservation check: on this call when the
   * block read the account already (as validation does for every account a transaction touched).
   */
  preBalance(addr: string): bigint | Promise<bigint> {
    const seen = this.baseAccounts.get(addr);
    if (seen !== undefined || this.baseAccounts.has(addr)) return seen?.balance ?? 0n;
    return this.baseAccountLater(addr, fromHex(addr)).then((acc) => acc?.balance ?? 0n);
  }

  // ---- accounts -------------------------------------------------------------------------------------------------

  /**
   * The account as the block has it so far, answered on this call when this block wrote or read it already or the
   * base can answer at once (see `StateReader.accountNow`); else NOT_NOW, and `baseAccountLater` reads it.
   */
  private accountNow(addr: string): Account | undefined | NotNow {
    const local = this.accounts.get(addr);
    if (local !== undefined) return local ?? undefined;
    const seen = this.baseAccounts.get(addr);
    if (seen !== undefined || this.baseAccounts.has(addr)) return seen;
    if (this.base.accountNow === undefined) return NOT_NOW;
    const acc = this.base.accountNow(addr);
    if (acc !== NOT_NOW) this.baseAccounts.set(addr, acc);
    return acc;
  }

  /** The base's account where `accountNow` could not answer. */
  private async baseAccountLater(addr: string, address: Uint8Array): Promise<Account | undefined> {
    const acc = await this.base.getAccount(address);
    this.baseAccounts.set(addr, acc);
    return acc;
  }

  private async currentAccount(addr: string, address: Uint8Array): Promise<Account | undefined> {
    const acc = this.accountNow(addr);
    return acc !== NOT_NOW ? acc : this.baseAccountLater(addr, address);
  }

  async getAccount(address: Address): Promise<Account | undefined> {
    const addr = addressHex(address);
    let acc = this.accountNow(addr);
    if (acc === NOT_NOW) acc = await this.baseAccountLater(addr, address.bytes);
    return this.handOut(addr, acc);
  }

  /**
   * `getAccount` answered on the call, without a promise: the same copy, tracked the same way; NOT_NOW, with nothing
   * tracked, where the base cannot answer at once (`getAccount` then reads it).
   */
  getAccountNow(address: Address): Account | undefined | NotNow {
    const addr = addressHex(address);
    const acc = this.accountNow(addr);
    return acc === NOT_NOW ? NOT_NOW : this.handOut(addr, acc);
  }

  /** What `getAccount` returns for the current account `acc`: a copy, tracked as the transaction's read. */
  private handOut(addr: string, acc: Account | undefined): Account | undefined {
    const t = this.tracker;
    const lazy = t !== undefined && this.trackAccountRead(t, addr, acc);
    if (acc === undefined) return undefined;
    // The lazily tracked coinbase, and a balance already touched in this transaction, need no more noticing.
    const copy = t === undefined || lazy || t.balances.has(addr) ? copyAccount(acc) : new TrackedAccount(acc, this, t, addr);
    // A wiped storage has the empty root until the block's trie update computes the real one (EIP-7610 checks it).
    if (this.cleared.has(addr)) copy.storageRoot = this.hasLiveSlots(addr) ? acc.storageRoot : KECCAK256_RLP;
    return copy;
  }

  /** Record an account read (its balance apart: see `touchBalance`); true for the lazily tracked coinbase. */
  private trackAccountRead(t: Tracker, addr: string, acc: Account | undefined): boolean {
    if (addr === t.coinbase && t.postExecution) {
      // The fee credit: lazy unless the transaction touched the coinbase itself or the coinbase is empty (then the
      // touch-and-delete rule of EIP-161 depends on its exact state).
      const touched = t.raw ? t.readAccounts.has(addr) || t.readBalances.has(addr) : t.reads.has('a' + addr) || t.reads.has('b' + addr);
      if (!t.lazyCoinbase && !touched && !t.writtenAccounts.has(addr) && acc !== undefined && !acc.isEmpty()) {
        t.lazyCoinbase = true;
      }
      if (t.lazyCoinbase) {
        t.coinbaseView = acc?.balance ?? 0n;
        return true;
      }
    }
    if (t.writtenAccounts.has(addr)) return false;
    if (t.raw) {
      if (!t.readAccounts.has(addr)) t.readAccounts.set(addr, acc ?? null);
      return false;
    }
    const key = 'a' + addr;
    if (!t.reads.has(key)) t.reads.set(key, accountToken(acc));
    return false;
  }

  /**
   * The transaction read or set an account's balance for the first time: a read of the balance it had until then
   * (unchanged by this transaction, which had not touched it). A no-op once that transaction is no longer tracked.
   * (Called by the `TrackedAccount`s this overlay hands out.)
   */
  touchBalance(t: Tracker, addr: string): void {
    if (this.tracker !== t || t.balances.has(addr)) return;
    t.balances.add(addr);
    t.keptBalance.delete(addr);
    if (t.raw ? t.readBalances.has(addr) : t.reads.has('b' + addr)) return;
    const local = this.accounts.get(addr);
    const acc = local !== undefined ? local : this.baseAccounts.get(addr);
    if (t.raw) t.readBalances.set(addr, acc == null ? null : acc.balance);
    else t.reads.set('b' + addr, balanceToken(acc));
  }

  private markWritten(set: Set<string>, key: string): void {
    if (set.has(key)) return;
    set.add(key);
    this.undo.push({ k: 3, set, key });
  }

  private hasLiveSlots(addr: string): boolean {
    const m = this.storage.get(addr);
    if (m === undefined) return false;
    for (const v of m.values()) if (v.length > 0) return true;
    return false;
  }

  private setAccount(addr: string, address: Uint8Array, account: Account | null): void {
    const t = this.tracker;
    if (t !== undefined) {
      if (t.lazyCoinbase && addr === t.coinbase && account !== null) {
        t.coinbaseDelta += account.balance - t.coinbaseView;
        t.coinbaseView = account.balance;
      } else {
        this.markWritten(t.writtenAccounts, addr);
      }
    }
    this.undo.push({ k: 0, addr, prev: this.accounts.get(addr) });
    this.accounts.set(addr, account);
    if (!this.addrBytes.has(addr)) this.addrBytes.set(addr, address);
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    const addr = addressHex(address);
    if (account === undefined) {
      await this.deleteAccount(address);
      return;
    }
    if (this.tracker !== undefined) this.noteAccountWrite(this.tracker, addr, account);
    const copy = copyAccount(account);
    const ed = this.existentialDeposit;
    if (ed !== undefined && copy.balance > 0n && ((await this.currentAccount(addr, address.bytes))?.balance ?? 0n) === 0n) {
      // Frontier: the EVM sees free balance minus the existential deposit. An account funded from nothing keeps the
      // deposit out of sight (an amount below it does not arrive at all).
      const hidden = copy.balance < ed ? copy.balance : ed;
      copy.balance -= hidden;
      this.noteBurned(hidden);
    }
    this.setAccount(addr, address.bytes, copy);
  }

  /**
   * `putAccount(address, account)` done on the call, without a promise; false, with nothing done, where it may have to
   * read first (Frontier's existential deposit: see `putAccount`).
   */
  putAccountNow(address: Address, account: Account): boolean {
    if (this.existentialDeposit !== undefined) return false;
    const addr = addressHex(address);
    if (this.tracker !== undefined) this.noteAccountWrite(this.tracker, addr, account);
    this.setAccount(addr, address.bytes, copyAccount(account));
    return true;
  }

  /** Wei that left existence (a self-destruct to itself); undone with the checkpoint it happened in. */
  noteBurned(amount: bigint): void {
    this.destroyed += amount;
    if (this.tracker !== undefined) this.tracker.destroyed += amount;
    this.undo.push({ k: 4, amount });
  }

  async deleteAccount(address: Address): Promise<void> {
    const addr = addressHex(address);
    const before = await this.currentAccount(addr, address.bytes);
    // What it held is burned: the deletion depends on the balance.
    if (this.tracker !== undefined) this.touchBalance(this.tracker, addr);
    const gone = before?.balance ?? 0n;
    if (gone !== 0n) this.noteBurned(gone);
    // Frontier removes a destroyed contract's code and storage, but its Substrate account keeps its nonce.
    const keep = this.existentialDeposit !== undefined && before !== undefined && before.nonce > 0n;
    this.setAccount(addr, address.bytes, keep ? new Account(before.nonce, 0n) : null);
    this.wipeStorage(addr, address.bytes);
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const acc = (await this.getAccount(address)) ?? new Account();
    if (fields.nonce !== undefined) acc.nonce = fields.nonce;
    if (fields.balance !== undefined) acc.balance = fields.balance;
    if (fields.storageRoot !== undefined) acc.storageRoot = fields.storageRoot;
    if (fields.codeHash !== undefined) acc.codeHash = fields.codeHash;
    const addr = addressHex(address);
    if (this.tracker !== undefined) this.noteAccountWrite(this.tracker, addr, acc);
    this.setAccount(addr, address.bytes, copyAccount(acc));
  }

  /**
   * An account is being written. From an account whose balance the transaction never touched, the balance stays
   * the committed one; any other write sets the balance (a new Account, or one whose balance was read or set).
   */
  private noteAccountWrite(t: Tracker, addr: string, account: Account): void {
    if (addr === t.coinbase && t.lazyCoinbase) return;
    if (account instanceof TrackedAccount && account.balanceUntouched && !t.balances.has(addr)) {
      if (t.keptBalance === NO_KEYS) t.keptBalance = new Set();
      t.keptBalance.add(addr);
    } else this.touchBalance(t, addr);
  }

  // ---- code -----------------------------------------------------------------------------------------------------

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const codeHash = keccak256(value);
    this.codes.set(hex(codeHash), value);
    await this.modifyAccountFields(address, { codeHash });
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const acc = await this.getAccount(address);
    if (acc === undefined) return EMPTY;
    return this.codeByHash(acc.codeHash);
  }

  async codeByHash(codeHash: Uint8Array): Promise<Uint8Array> {
    if (codeHash.length === 32 && codeHash[0] === KECCAK256_NULL[0] && hex(codeHash) === KECCAK_NULL_HEX) return EMPTY;
    const h = hex(codeHash);
    const local = this.codes.get(h) ?? this.baseCode.get(h);
    if (local !== undefined) return local;
    const code = intern(h, await this.base.getCode(codeHash));
    this.baseCode.set(h, code);
    return code;
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  // ---- storage --------------------------------------------------------------------------------------------------

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    if (key.length !== 32) throw new Error('Storage key must be 32 bytes long');
    const addr = addressHex(address);
    const slot = hex(key);
    const sk = 's' + addr + slot;
    let v = this.slotNow(addr, slot, sk);
    if (v === NOT_NOW) v = await this.baseSlotLater(sk, address.bytes, key);
    const t = this.tracker;
    if (t !== undefined && !t.clears.has(addr) && !t.writtenSlots.has(sk) && !t.reads.has(sk)) t.reads.set(sk, t.raw ? v : hex(v));
    return v;
  }

  /** A slot's value as the block has it so far, or NOT_NOW (see `accountNow`). */
  private slotNow(addr: string, slot: string, sk: string): Uint8Array | NotNow {
    const local = this.storage.get(addr)?.get(slot);
    if (local !== undefined) return local;
    if (this.cleared.has(addr)) return EMPTY;
    const cached = this.baseStorage.get(sk);
    if (cached !== undefined) return cached;
    if (this.base.storageNow === undefined) return NOT_NOW;
    const v = this.base.storageNow(addr, slot);
    if (v !== NOT_NOW) this.baseStorage.set(sk, v);
    return v;
  }

  /** The base's value of the slot keyed `sk` ('s' + addr + slot) where `slotNow` could not answer. */
  private async baseSlotLater(sk: string, address: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
    const v = await this.base.getStorage(address, key);
    this.baseStorage.set(sk, v);
    return v;
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (key.length !== 32) throw new Error('Storage key must be 32 bytes long');
    if (value.length > 32) throw new Error('Storage value cannot be longer than 32 bytes');
    const addr = addressHex(address);
    let acc = this.accountNow(addr);
    if (acc === NOT_NOW) acc = await this.baseAccountLater(addr, address.bytes);
    if (this.tracker !== undefined) this.trackAccountRead(this.tracker, addr, acc);
    if (acc === undefined) throw new Error('putStorage() called on non-existing account');
    const slot = hex(key);
    let m = this.storage.get(addr);
    if (m === undefined) {
      m = new Map();
      this.storage.set(addr, m);
    }
    this.undo.push({ k: 1, addr, slot, prev: m.get(slot) });
    m.set(slot, unpad(value));
    if (!this.addrBytes.has(addr)) this.addrBytes.set(addr, address.bytes);
    const t = this.tracker;
    if (t !== undefined) {
      if (t.writtenSlots === NO_KEYS) t.writtenSlots = new Set();
      this.markWritten(t.writtenSlots, 's' + addr + slot);
    }
  }

  async clearStorage(address: Address): Promise<void> {
    const addr = addressHex(address);
    this.wipeStorage(addr, address.bytes);
  }

  private wipeStorage(addr: string, address: Uint8Array): void {
    this.undo.push({ k: 2, addr, prevCleared: this.cleared.has(addr), prevStorage: this.storage.get(addr) });
    this.cleared.add(addr);
    this.storage.set(addr, new Map());
    if (!this.addrBytes.has(addr)) this.addrBytes.set(addr, address);
    const t = this.tracker;
    if (t !== undefined) {
      if (t.clears === NO_KEYS) t.clears = new Set();
      this.markWritten(t.clears, addr);
    }
  }

  // ---- checkpoints ----------------------------------------------------------------------------------------------

  async checkpoint(): Promise<void> {
    this.checkpointNow();
  }

  async commit(): Promise<void> {
    this.commitNow();
  }

  /** `checkpoint` without a promise. */
  checkpointNow(): void {
    this.marks.push(this.undo.length);
  }

  /** `commit` without a promise. */
  commitNow(): void {
    this.marks.pop();
    // Outside any checkpoint nothing can be reverted any more.
    if (this.marks.length === 0) this.undo.length = 0;
  }

  async revert(): Promise<void> {
    const mark = this.marks.pop();
    if (mark === undefined) throw new Error('revert() without checkpoint');
    for (let i = this.undo.length - 1; i >= mark; i--) {
      const e = this.undo[i];
      if (e.k === 0) {
        if (e.prev === undefined) this.accounts.delete(e.addr);
        else this.accounts.set(e.addr, e.prev);
      } else if (e.k === 1) {
        const m = this.storage.get(e.addr);
        if (m !== undefined) {
          if (e.prev === undefined) m.delete(e.slot);
          else m.set(e.slot, e.prev);
        }
      } else if (e.k === 3) {
        e.set.delete(e.key);
      } else if (e.k === 4) {
        this.destroyed -= e.amount;
        if (this.tracker !== undefined) this.tracker.destroyed -= e.amount;
      } else {
        if (e.prevCleared) this.cleared.add(e.addr);
        else this.cleared.delete(e.addr);
        if (e.prevStorage === undefined) this.storage.delete(e.addr);
        else this.storage.set(e.addr, e.prevStorage);
      }
    }
    this.undo.length = mark;
  }

  // ---- per-transaction tracking (parallel engine) ------------------------------------------------------------

  /**
   * Start recording one transaction's reads and writes. `coinbase` (hex) gets lazy fee accounting. `local`: the
   * transaction runs on the thread that commits it and only its dependencies are wanted (end it with `endTxHere`).
   */
  beginTx(coinbase?: string, local = false): void {
    this.tracker = {
      reads: new Map(),
      raw: local,
      readAccounts: local ? new Map() : NO_READS,
      readBalances: local ? new Map() : NO_READS,
      writtenAccounts: new Set(),
      balances: new Set(),
      keptBalance: NO_KEYS,
      writtenSlots: NO_KEYS,
      clears: NO_KEYS,
      coinbase,
      postExecution: false,
      lazyCoinbase: false,
      coinbaseView: 0n,
      coinbaseDelta: 0n,
      destroyed: 0n,
    };
  }

  /** Called once the transaction's EVM call returned: what follows is runTx's refund and fee payment. */
  markPostExecution(): void {
    if (this.tracker !== undefined) this.tracker.postExecution = true;
  }

  /** The block's value of a written slot by its tracked key ('s' + addr + slot); undefined if the write was undone. */
  private writtenSlot(k: string): Uint8Array | undefined {
    return this.storage.get(k.slice(1, 41))?.get(k.slice(41));
  }

  /** Stop recording and return what the transaction read and left written. */
  endTx(): TxAccess {
    const t = this.tracker;
    if (t === undefined) throw new Error('endTx() without beginTx()');
    if (t.raw) throw new Error('endTx() after beginTx(coinbase, true): use endTxHere()');
    this.tracker = undefined;
    const accounts = new Map<string, AccountValue | null>();
    const codes = new Map<string, Uint8Array>();
    for (const addr of t.writtenAccounts) {
      const a = this.accounts.get(addr);
      if (a === undefined) continue;
      if (a === null) {
        accounts.set(addr, null);
        continue;
      }
      // An account without code gets the one shared empty-code hash: a worker's batch of results then carries one
      // copy of it instead of an array (and a buffer to allocate and free) per account.
      const codeHash = equalsBytes(a.codeHash, KECCAK256_NULL) ? KECCAK256_NULL : a.codeHash;
      if (t.keptBalance.has(addr)) accounts.set(addr, { nonce: a.nonce, balance: a.balance, codeHash, keepBalance: true });
      else accounts.set(addr, { nonce: a.nonce, balance: a.balance, codeHash });
      if (this.codes.size > 0) {
        const h = hex(a.codeHash);
        const code = this.codes.get(h);
        if (code !== undefined) codes.set(h, code);
      }
    }
    const slots = new Map<string, Uint8Array>();
    for (const k of t.writtenSlots) {
      const v = this.writtenSlot(k);
      if (v !== undefined) slots.set(k.slice(1), v);
    }
    return { reads: t.reads as Map<string, string>, accounts, cleared: [...t.clears], slots, codes, coinbaseDelta: t.coinbaseDelta, destroyed: t.destroyed };
  }

  /**
   * Stop recording a transaction begun with `beginTx(coinbase, true)` and return what it read and changed. A write
   * counts as a change where the value differs from what the transaction read (a key it wrote without reading it
   * first always counts), as `DependencyTracker.noteWrites` decides from a `TxAccess`, without building one.
   */
  endTxHere(): LocalAccess {
    const t = this.tracker;
    if (t === undefined || !t.raw) throw new Error('endTxHere() without beginTx(coinbase, true)');
    this.tracker = undefined;
    const { reads, readAccounts, readBalances } = t;
    const changedAccounts: string[] = [];
    const changedBalances: string[] = [];
    const changedSlots: string[] = [];
    // A deleted account's storage is wiped with it (`deleteAccount`): `clears` holds every wipe.
    const wiped = t.clears.size > 0 ? [...t.clears] : [];
    for (const addr of t.writtenAccounts) {
      const a = this.accounts.get(addr);
      if (a === undefined) continue;
      const seen = readAccounts.get(addr);
      if (seen === undefined || !sameFields(seen, a)) changedAccounts.push(addr);
      if (a !== null && t.keptBalance.has(addr)) continue;
      const balance = readBalances.get(addr);
      if (balance === undefined || balance !== (a === null ? null : a.balance)) changedBalances.push(addr);
    }
    for (const k of t.writtenSlots) {
      const v = this.writtenSlot(k);
      if (v === undefined) continue;
      const seen = reads.get(k) as Uint8Array | undefined;
      if (seen === undefined || !equalsBytes(seen, v)) changedSlots.push(k);
    }
    return {
      readAccounts: readAccounts.keys(),
      readBalances: readBalances.keys(),
      readSlots: reads.keys(),
      changedAccounts,
      changedBalances,
      changedSlots,
      wiped,
      coinbaseDelta: t.coinbaseDelta,
    };
  }

  /** Current value of a tracked key, in the form `TxAccess.reads` records it (validation compares the two). */
  async valueOf(key: string): Promise<string> {
    const now = this.valueNow(key);
    if (now !== NOT_NOW) return now;
    // Read the base, which caches the value for this block: `valueNow` then answers.
    if (key[0] === 's') await this.baseSlotLater(key, fromHex(key.slice(1, 41)), fromHex(key.slice(41)));
    else await this.baseAccountLater(key.slice(1), fromHex(key.slice(1)));
    return this.valueNow(key) as string;
  }

  /** `valueOf`, answered on this call, or NOT_NOW where the base cannot answer at once. */
  valueNow(key: string): string | NotNow {
    const c = key.charCodeAt(0);
    if (c === 97 /* 'a' */ || c === 98 /* 'b' */) {
      const addr = key.slice(1);
      const acc = this.accountNow(addr);
      if (acc === NOT_NOW) return NOT_NOW;
      return c === 97 ? accountToken(acc) : balanceToken(acc);
    }
    const v = this.slotNow(key.slice(1, 41), key.slice(41), key);
    return v === NOT_NOW ? NOT_NOW : hex(v);
  }

  /** Apply a validated transaction's writes, as if it had run here. */
  async apply(access: TxAccess, coinbase: Address): Promise<void> {
    for (const [addr, a] of access.accounts) {
      const address = this.addrBytes.get(addr) ?? fromHex(addr);
      // A balance the run never touched is whatever the committed state holds (its other fields were validated).
      const balance = a?.keepBalance === true ? ((await this.currentAccount(addr, address))?.balance ?? 0n) : a?.balance;
      this.setAccount(addr, address, a === null ? null : new Account(a.nonce, balance, undefined, a.codeHash));
      if (a === null) this.wipeStorage(addr, address);
    }
    for (const addr of access.cleared) this.wipeStorage(addr, this.addrBytes.get(addr) ?? fromHex(addr));
    for (const [k, v] of access.slots) {
      const addr = k.slice(0, 40);
      let m = this.storage.get(addr);
      if (m === undefined) {
        m = new Map();
        this.storage.set(addr, m);
      }
      m.set(k.slice(40), v);
      if (!this.addrBytes.has(addr)) this.addrBytes.set(addr, fromHex(addr));
    }
    for (const [h, code] of access.codes) this.codes.set(h, code);
    this.destroyed += access.destroyed;
    if (access.coinbaseDelta !== 0n) {
      const addr = addressHex(coinbase);
      let cur = this.accountNow(addr);
      if (cur === NOT_NOW) cur = await this.baseAccountLater(addr, coinbase.bytes);
      const acc = this.handOut(addr, cur) ?? new Account();
      acc.balance += access.coinbaseDelta;
      this.setAccount(addr, coinbase.bytes, acc);
    }
    // Nothing applied here can be reverted: keep the undo log empty outside checkpoints.
    if (this.marks.length === 0) this.undo.length = 0;
  }

  // ---- block results --------------------------------------------------------------------------------------------

  /** The block's final changes. Must be called outside any checkpoint. */
  diff(): StateDiff {
    if (this.marks.length !== 0) throw new Error('diff() inside an open checkpoint');
    const accounts = new Map<string, AccountDiff>();
    const touch = (addr: string): AccountDiff => {
      let d = accounts.get(addr);
      if (d === undefined) {
        d = { address: this.addrBytes.get(addr)!, account: null, storageCleared: this.cleared.has(addr), storage: new Map() };
        accounts.set(addr, d);
      }
      return d;
    };
    for (const [addr, acc] of this.accounts) touch(addr).account = acc;
    for (const addr of this.cleared) touch(addr);
    for (const [addr, slots] of this.storage) {
      if (slots.size === 0) continue;
      const d = touch(addr);
      for (const [slot, v] of slots) d.storage.set(slot, v);
    }
    // Accounts that only had storage written keep their current account record.
    for (const [addr, d] of accounts) {
      const base = this.baseAccounts.get(addr);
      // The storage root the trie update starts from, where the block read the account (nearly always: validation
      // reads every account a transaction touched), so that it need not be looked up again in the store's caches.
      if (base !== undefined) d.baseStorageRoot = base.storageRoot;
      else if (this.baseAccounts.has(addr)) d.baseStorageRoot = KECCAK256_RLP;
      if (!this.accounts.has(addr)) d.account = base ?? null;
      if (d.account === null) {
        // A deleted account has no storage; drop slot writes made before the deletion.
        d.storage.clear();
        d.storageCleared = true;
      }
    }
    const codes = new Map<string, Uint8Array>();
    // Only code written in this block is looked for (most blocks deploy none).
    if (this.codes.size > 0) {
      for (const d of accounts.values()) {
        if (d.account === null) continue;
        const h = hex(d.account.codeHash);
        const code = this.codes.get(h);
        if (code !== undefined) codes.set(h, code);
      }
    }
    return { accounts, codes };
  }

  // ---- StateManagerInterface plumbing ---------------------------------------------------------------------------

  async getStateRoot(): Promise<Uint8Array> {
    if (this.stateRootProvider === undefined) throw new Error('state root not available on this state view');
    return this.stateRootProvider(this.diffUnchecked());
  }

  /** Set by the executor: computes a root over base + the given diff without persisting anything. */
  stateRootProvider: ((diff: StateDiff) => Promise<Uint8Array>) | undefined;

  private diffUnchecked(): StateDiff {
    const marks = this.marks;
    this.marks = [];
    try {
      return this.diff();
    } finally {
      this.marks = marks;
    }
  }

  async setStateRoot(_root: Uint8Array): Promise<void> {
    throw new Error('setStateRoot is not supported: Parallax state moves only by committing or unwinding blocks');
  }

  async hasStateRoot(_root: Uint8Array): Promise<boolean> {
    return false;
  }

  async dumpStorage(_address: Address): Promise<StorageDump> {
    throw new Error('dumpStorage is not supported by the overlay state');
  }

  async dumpStorageRange(_address: Address, _startKey: bigint, _limit: number): Promise<StorageRange> {
    throw new Error('dumpStorageRange is not supported by the overlay state');
  }

  clearCaches(): void {}

  shallowCopy(): StateManagerInterface {
    const copy = new OverlayStateManager(this.base);
    copy.stateRootProvider = this.stateRootProvider;
    return copy;
  }
}

const KECCAK_NULL_HEX = hex(KECCAK256_NULL);

