/**
 * Ethereum state root from a block's diff: the state trie and every storage trie are updated once per block
 * (`BatchTrie`: all changes applied in memory, each changed node hashed once), reading existing nodes from LevelDB
 * and collecting new nodes in memory, so the caller can write them in the block's atomic batch. Nodes are content-addressed and never deleted, so older roots stay readable; this is what
 * lets the undo journal restore a previous root by restoring flat records only.
 */
import { KECCAK256_RLP, bigIntToUnpaddedBytes, type Account } from '@ethereumjs/util';
import { fromHex } from '../util/bytes.ts';
import { encodeRlp } from '../util/rlp.ts';
import { keccak256 } from '../crypto/index.ts';
import { BatchTrie, type DecodedNodes } from './mpt.ts';
import type { StateDiff } from './types.ts';

/** Where trie nodes live: a node lookup by hash (hex, no 0x). */
export interface NodeSource {
  getNode(hashHex: string): Uint8Array | undefined;
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
  private readonly source: NodeSource;
  private readonly decoded: DecodedNodes;
  constructor(source: NodeSource, decoded: DecodedNodes) {
    this.source = source;
    this.decoded = decoded;
  }

  /** Apply `diff` on top of `parentRoot`. Nothing is written; the result carries what must be. */
  async update(parentRoot: Uint8Array, diff: StateDiff, baseAccount: BaseAccountLoader): Promise<TrieUpdate> {
    const nodes = new Map<string, Uint8Array>();
    const accounts = new Map<string, Uint8Array | null>();
    const load = (h: string) => this.source.getNode(h);
    const stateTrie = new BatchTrie(parentRoot, load, this.decoded);
    for (const [addr, d] of diff.accounts) {
      const hashedAddr = keccak256(d.address);
      if (d.account === null) {
        stateTrie.put(hashedAddr, EMPTY);
        accounts.set(addr, null);
        continue;
      }
      const before = d.storageCleared ? undefined : await baseAccount(d.address);
      let storageRoot = before?.storageRoot ?? KECCAK256_RLP;
      if (d.storage.size > 0) {
        const st = new BatchTrie(storageRoot, load, this.decoded);
        for (const [slot, value] of d.storage) st.put(keccak256(fromHex(slot)), value.length === 0 ? EMPTY : encodeRlp(value));
        storageRoot = st.commit();
        for (const [h, n] of st.nodes) nodes.set(h, n);
      }
      const { nonce, balance, codeHash } = d.account;
      const rlp = encodeRlp([bigIntToUnpaddedBytes(nonce), bigIntToUnpaddedBytes(balance), storageRoot, codeHash]);
      stateTrie.put(hashedAddr, rlp);
      accounts.set(addr, rlp);
    }
    const stateRoot = stateTrie.commit();
    for (const [h, n] of stateTrie.nodes) nodes.set(h, n);
    return { stateRoot, nodes, accounts };
  }
}

const EMPTY = new Uint8Array(0);
