/**
 * Messages between the main thread and execution workers. Only plain data crosses (structured clone of bigints,
 * strings, Maps and Uint8Arrays); no object from @ethereumjs does.
 */
import type { JSONHeader } from '@ethereumjs/block';
import type { ChainProfile } from '../chain/profile.ts';
import type { TxAccess } from '../state/overlay.ts';
import type { TxOutcome } from './executor.ts';
import type { ShardJob, ShardResult } from '../state/trie.ts';

export interface WorkerFaults {
  /** Throw (crash the worker) when asked to run this transaction index. */
  crashAtTx?: number;
  /** Never answer for this transaction index. */
  hangAtTx?: number;
  /** Throw (crash the worker) when asked for its share of a state root. */
  crashInTrie?: boolean;
}

export interface WorkerInit {
  profile: ChainProfile;
  kzg: boolean;
  /** Test hook: each transaction waits a random 0..delayMs ms before running, to shake timing. */
  delayMs?: number;
  /**
   * Int32 shared with the main thread: the highest block sequence number it gave up on. Read between transactions
   * without waiting for a message: a worker whose state reads all hit its cache runs on microtasks only and would
   * not see an 'abort' message until its partition is done.
   */
  abortFlag: SharedArrayBuffer;
}

export type ToWorker =
  /** `db`: the LevelDB to read committed state from directly (absent: ask the main thread for every miss). */
  | { t: 'block'; seq: number; profile: ChainProfile; header: JSONHeader; coinbase: string; pre: TxAccess; db?: string }
  /** `ahead`: transactions of the block after the current one (decoded for recovery only, not kept for the run). */
  | { t: 'recover'; seq: number; txs: [number, Uint8Array][]; ahead?: boolean }
  | {
      t: 'run';
      seq: number;
      txs: [number, Uint8Array, Uint8Array | null][];
      /** Committed values of the partition's predicted keys, so the worker need not ask for them. */
      accounts: [string, Uint8Array | null][];
      slots: [string, Uint8Array][];
    }
  | {
      t: 'commit';
      accounts: [string, Uint8Array | null][];
      cleared: string[];
      slots: [string, Uint8Array][];
      codes: [string, Uint8Array][];
    }
  | { t: 'clear' }
  /** Update the state-trie subtrees of one shard (see `updateShard`), reading nodes from the LevelDB at `db`. */
  | { t: 'trie'; id: number; db: string; job: ShardJob }
  /** Test hook: make this worker fail on a transaction index of the next block. */
  | { t: 'faults'; faults: WorkerFaults }
  | { t: 'value'; id: number; value: Uint8Array | null };

export type ToMain =
  | { t: 'get'; id: number; kind: 'a' | 's' | 'c' | 'h'; key: string }
  | { t: 'recovered'; seq: number; keys: [number, Uint8Array | null][]; busyMs: number }
  /** Speculative runs, in the order the worker ran them (sent in batches: one message per run cost more than the run). */
  | { t: 'results'; seq: number; runs: RunResult[] }
  | { t: 'trie'; id: number; result: ShardResult }
  | { t: 'ready' };

export interface RunResult {
  index: number;
  outcome: TxOutcome | null;
  error: string | null;
  access: TxAccess;
  /** When the run started (performance.timeOrigin + performance.now(): comparable across threads) and took. */
  start: number;
  ms: number;
}
