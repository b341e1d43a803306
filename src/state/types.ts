import type { Account } from '@ethereumjs/util';

/** What a reader's synchronous reads return when only its asynchronous read can answer (see `StateReader`). */
export const NOT_NOW: unique symbol = Symbol('not now');
export type NotNow = typeof NOT_NOW;

/**
 * Read access to a committed state: what execution sees below its own block overlay.
 *
 * A reader whose reads are mostly answered on the calling thread (caches, LevelDB's synchronous get) also offers them
 * as `accountNow` and `storageNow`: the same answers without a promise per call, or `NOT_NOW` where only the
 * asynchronous read can answer (a worker asking the main thread). The overlay and validation read several accounts
 * and slots per transaction, which went through two or three async functions each; answered here, a read makes no
 * promise and suspends no frame.
 */
export interface StateReader {
  getAccount(address: Uint8Array): Promise<Account | undefined>;
  /** Storage value with leading zeros stripped; an empty array means zero / absent. */
  getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array>;
  getCode(codeHash: Uint8Array): Promise<Uint8Array>;
  /** By the address in hex (no 0x), which caches and read keys are made from. */
  accountNow?(addr: string): Account | undefined | NotNow;
  /** By the address and the slot in hex (no 0x). */
  storageNow?(addr: string, slot: string): Uint8Array | NotNow;
}

/** Final change of one account within a block. */
export interface AccountDiff {
  address: Uint8Array;
  /** null: the account does not exist after the block (deleted, or touched-and-empty under EIP-161). */
  account: Account | null;
  /** The account's storage was wiped during the block (self-destruct or re-creation); base slots are gone. */
  storageCleared: boolean;
  /** slot (hex, 64 chars) -> new value, leading zeros stripped; empty = slot deleted. */
  storage: Map<string, Uint8Array>;
  /**
   * The account's storage root before the block, when the block read the account already (the empty root if it did
   * not exist); otherwise the trie update reads it from the store.
   */
  baseStorageRoot?: Uint8Array;
}

/** Everything a block changed: the only thing that flows from execution into the state store. */
export interface StateDiff {
  accounts: Map<string, AccountDiff>;
  /** codeHash (hex) -> code, for code deployed in the block. */
  codes: Map<string, Uint8Array>;
}
