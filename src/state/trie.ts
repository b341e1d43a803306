/**
 * Ethereum state root from a block's diff: the state trie and every storage trie (@ethereumjs/mpt) are updated once
 * per block, reading existing nodes from LevelDB and collecting new nodes in memory, so the caller can write them in
 * the block's atomic batch. Nodes are content-addressed and never deleted, so older roots stay readable; this is what
 * lets the undo journal restore a previous root by restoring flat records only.
 */
import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { Account, KECCAK256_RLP } from '@ethereumjs/util';
import type { Common } from '@ethereumjs/common';
import type { DB, BatchDBOp } from '@ethereumjs/util';
import { fromHex } from '../util/bytes.ts';
import type { StateDiff } from './types.ts';

/** Where trie nodes live: a node lookup by hash (hex, no 0x). */
export interface NodeSource {
  getNode(hashHex: string): Promise<Uint8Array | undefined>;
}

/** The DB handed to MerklePatriciaTrie: new nodes go to `pending`, lookups fall through to the store. */
class PendingNodeDB implements DB<string, Uint8Array> {
  readonly pending: Map<string, Uint8Array>;
  private readonly source: NodeSource;
  constructor(source: NodeSource, pending: Map<string, Uint8Array>) {
    this.source = source;
    this.pending = pending;
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.pending.get(key) ?? (await this.source.getNode(key));
  }
  async put(key: string, value: Uint8Array): Promise<void> {
    this.pending.set(key, value);
  }
  async del(_key: string): Promise<void> {
    // Never delete: nodes are shared between roots and blocks (no pruning).
  }
  async batch(ops: BatchDBOp<string, Uint8Array>[]): Promise<void> {
    for (const op of ops) if (op.type === 'put') this.pending.set(op.key, op.value);
  }
  shallowCopy(): DB<string, Uint8Array> {
    return new PendingNodeDB(this.source, this.pending);
  }
  async open(): Promise<void> {}
}

export interface TrieUpdate {
  stateRoot: Uint8Array;
  /** New trie nodes by hash (hex). */
  nodes: Map<string, Uint8Array>;
  /** Final account record (RLP, with the new storage root) per changed address (hex); null = deleted. */
  accounts: Map<string, Uint8Array | null>;
}

/** Loads the account record as it is before the block (for its storage root). */
export type BaseAccountLoader = (address: Uint8Array) => Promise<Account | undefined>;

export class StateTrie {
  private readonly common: Common;
  private readonly source: NodeSource;
  constructor(common: Common, source: NodeSource) {
    this.common = common;
    this.source = source;
  }

  private open(root: Uint8Array, pending: Map<string, Uint8Array>): MerklePatriciaTrie {
    return new MerklePatriciaTrie({
      db: new PendingNodeDB(this.source, pending),
      root,
      useKeyHashing: true,
      common: this.common,
      valueEncoding: 'view',
    });
  }

  /** Apply `diff` on top of `parentRoot`. Nothing is written; the result carries what must be. */
  async update(parentRoot: Uint8Array, diff: StateDiff, baseAccount: BaseAccountLoader): Promise<TrieUpdate> {
    const nodes = new Map<string, Uint8Array>();
    const accounts = new Map<string, Uint8Array | null>();
    const stateTrie = this.open(parentRoot, nodes);
    for (const [addr, d] of diff.accounts) {
      if (d.account === null) {
        await stateTrie.del(d.address);
        accounts.set(addr, null);
        continue;
      }
      const before = d.storageCleared ? undefined : await baseAccount(d.address);
      let storageRoot = before?.storageRoot ?? KECCAK256_RLP;
      if (d.storage.size > 0) {
        const st = this.open(storageRoot, nodes);
        for (const [slot, value] of d.storage) {
          if (value.length === 0) await st.del(fromHex(slot));
          else await st.put(fromHex(slot), RLP.encode(value));
        }
        storageRoot = st.root();
      }
      const acc = new Account(d.account.nonce, d.account.balance, storageRoot, d.account.codeHash);
      const rlp = acc.serialize();
      await stateTrie.put(d.address, rlp);
      accounts.set(addr, rlp);
    }
    return { stateRoot: stateTrie.root(), nodes, accounts };
  }
}
