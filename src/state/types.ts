import type { Account } from '@ethereumjs/util';

/** Read access to a committed state: what execution sees below its own block overlay. */
export interface StateReader {
  getAccount(address: Uint8Array): Promise<Account | undefined>;
  /** Storage value with leading zeros stripped; an empty array means zero / absent. */
  getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array>;
  getCode(codeHash: Uint8Array): Promise<Uint8Array>;
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
}

/** Everything a block changed: the only thing that flows from execution into the state store. */
export interface StateDiff {
  accounts: Map<string, AccountDiff>;
  /** codeHash (hex) -> code, for code deployed in the block. */
  codes: Map<string, Uint8Array>;
}
