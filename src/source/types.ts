/**
 * The ingest boundary: what a block source gives the rest of Parallax. A source turns a node's blocks into
 * @ethereumjs blocks (typed transactions, header environment) plus the canonical results to verify against.
 * Everything downstream (engine, verification, metrics) sees only this interface.
 */
import type { Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import type { ChainProfile } from '../chain/profile.ts';
import type { Alloc } from '../state/genesis.ts';
import type { FrontierBlock } from './selendra/index.ts';

/** What the canonical chain says about a block: the values Parallax's execution must reproduce. */
export interface CanonicalBlock {
  number: bigint;
  hash: Uint8Array;
  parentHash: Uint8Array;
  /** Absent where the chain's header root is not an Ethereum state root (Frontier). */
  stateRoot?: Uint8Array;
  receiptsRoot: Uint8Array;
  logsBloom: Uint8Array;
  gasUsed: bigint;
  timestamp: bigint;
}

export interface SourceBlock {
  block: Block;
  canonical: CanonicalBlock;
  /** A Frontier (Selendra) block: what the chain recorded, for execution with repairs and verification. */
  frontier?: FrontierBlock;
}

/** The chain a source serves: its rules and initial state. */
export interface ChainSetup {
  profile: ChainProfile;
  /** Initial state, committed as block `genesis.number` of an empty database. */
  alloc: Alloc;
  genesis: CanonicalBlock;
}

/** A receipt as the node reports it, for naming the first differing transaction. */
export interface CanonicalReceipt {
  index: number;
  hash: string;
  status: number;
  gasUsed: bigint;
  cumulativeGasUsed: bigint;
  logs: number;
  contractAddress?: string;
}

/** Per-account post-state the node reports for a block (only what changed), for naming a differing account/slot. */
export interface PostStateDiff {
  /** address -> { balance?, nonce?, code?, storage: slot -> value (0x0 for a cleared slot) } */
  accounts: Map<string, { balance?: bigint; nonce?: bigint; codeHash?: string; storage: Map<string, bigint> }>;
  /** Accounts the node says were deleted. */
  deleted: Set<string>;
}

/** An account at a block as the node proves it (EIP-1186), with the asked slots' presence in its storage trie. */
export interface AccountProof {
  /** Whether the account is in the node's state trie (its account proof checked against `stateRoot`), if asked. */
  exists?: boolean;
  balance: bigint;
  nonce: bigint;
  codeHash: string;
  storageHash: string;
  /** slot (0x + 64 hex) -> the value the node's trie holds for it, or undefined if the slot is absent from the trie. */
  slots: Map<string, bigint | undefined>;
}

export interface BlockSource {
  /** `ethereum` or `selendra`. */
  readonly kind: string;
  /** The node's URL, credentials redacted. */
  readonly label: string;
  /** Connect and describe the chain (genesis state and rules). */
  open(): Promise<ChainSetup>;
  /** Number of the node's latest block. */
  head(): Promise<bigint>;
  /** Number of the node's finalized block, where the node knows one. */
  finalized(): Promise<bigint | undefined>;
  /** Canonical hash of block `n`, or undefined if the node has no such block (yet). */
  hashAt(n: bigint): Promise<Uint8Array | undefined>;
  /** Block `n` as the node has it now; undefined if the node does not have it (yet). */
  block(n: bigint, common: Common): Promise<SourceBlock | undefined>;
  /** The node's receipts of block `n` (for mismatch reports), where offered. */
  receipts?(n: bigint): Promise<CanonicalReceipt[] | undefined>;
  /** The node's post-state diff of block `n` (for mismatch reports), where offered. */
  stateDiff?(n: bigint): Promise<PostStateDiff | undefined>;
  /** The node's proof of an account and some of its slots after block `n` (for naming a differing account/slot). */
  accountProof?(address: string, slots: string[], n: bigint, stateRoot?: Uint8Array): Promise<AccountProof | undefined>;
  close(): Promise<void>;
}
