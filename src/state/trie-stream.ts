/**
 * A block's storage tries updated while the block executes, on another thread.
 *
 * A block that runs on the main thread used to leave its whole state-trie update for its end: the main thread hashed
 * the accounts' part while the workers hashed the hottest contract's storage, three threads on two cores through the
 * finish (docs/performance.md). Here the main thread sends the slots the transactions changed, batch by batch as they
 * are recorded (`SlotBatchWriter`), to a worker that keeps the block's storage tries (`LiveStorageTries`): it applies
 * each batch and hashes what changed below the tries' upper levels, in time it would otherwise sit idle beside the
 * main thread. At the block's end only the last batch and the upper levels are left to hash, while the main thread
 * updates the accounts' part of the state trie.
 *
 * A node hashed after one batch and rewritten by a later one is not part of the block's result (`BatchTrie.live`):
 * the nodes returned are those the final roots reach that the block created, as a single update would make them.
 *
 * A batch is a sequence of records, each a kind byte and the account's 20-byte address:
 * - `STORAGE`: a 32-byte storage root: the account's storage trie is kept from here, starting at that root (the one
 *   the account had before the block, or the empty root once the block wiped its storage); again for an account whose
 *   trie is kept already, after the block wiped its storage: the trie starts over;
 * - `SLOT`: the 32-byte slot, a length byte and the value (unpadded; empty deletes);
 * - `DROP`: in the last batch, an account the block deleted: its storage trie is not kept.
 */
import { keccak256 } from '../crypto/index.ts';
import { ByteWriter } from '../util/byte-writer.ts';
import { hex } from '../util/bytes.ts';
import { BatchTrie, type DecodedNodes, type NodeLoader } from './mpt.ts';
import { NodePacker, slotLeaf } from './trie.ts';

const STORAGE = 1;
const SLOT = 2;
const DROP = 3;

/**
 * Levels of each trie kept in memory between batches and hashed only at the block's end (see `BatchTrie.fold`): a
 * block's batches change most of the 273 nodes above this depth every time, and few of the 4,096 subtrees below it
 * more than once.
 */
const FOLD_DEPTH = 3;

/** The worker's answer to a block's last batch. */
export interface SlotStreamResult {
  /** Per storage trie: the account's 20-byte address and the trie's new 32-byte root. */
  roots: Uint8Array;
  /** The tries' new nodes, packed (see `NodePacker`). */
  nodes: Uint8Array;
}

/** What the main thread sends, one batch at a time (see the module comment for the records). */
export class SlotBatchWriter extends ByteWriter {
  /** Records written since the last `take`. */
  count = 0;

  storage(address: Uint8Array, baseRoot: Uint8Array): void {
    this.room(53);
    this.record(STORAGE, address);
    this.bytes(baseRoot);
  }

  drop(address: Uint8Array): void {
    this.room(21);
    this.record(DROP, address);
  }

  slot(address: Uint8Array, slot: Uint8Array, value: Uint8Array): void {
    this.room(54 + value.length);
    this.record(SLOT, address);
    this.bytes(slot);
    this.short(value);
  }

  /** The batch so far, as a buffer of its own; the writer starts over. */
  take(): Uint8Array {
    const out = this.written();
    this.pos = 0;
    this.count = 0;
    return out;
  }

  private record(kind: number, address: Uint8Array): void {
    this.buf[this.pos++] = kind;
    this.bytes(address);
    this.count++;
  }
}

/** A malformed batch (a bug on the sending side: the worker fails and the main thread updates the tries itself). */
function malformed(what: string): never {
  throw new Error(`malformed storage batch: ${what}`);
}

/** The storage tries of a block's accounts with changed slots, kept between batches. */
export class LiveStorageTries {
  private readonly load: NodeLoader;
  private readonly decoded: DecodedNodes | undefined;
  /** By address (hex). */
  private readonly tries = new Map<string, { address: Uint8Array; trie: BatchTrie }>();

  constructor(load: NodeLoader, decoded?: DecodedNodes) {
    this.load = load;
    this.decoded = decoded;
  }

  /**
   * Apply one batch. Before the last, what it changed is hashed below the upper levels (the next batches hash only
   * the paths they change again); the last one ends the block: each trie's root and the new nodes are returned.
   */
  apply(batch: Uint8Array, last: boolean): SlotStreamResult | undefined {
    const touched = new Set<BatchTrie>();
    let p = 0;
    while (p < batch.length) {
      if (p + 21 > batch.length) malformed(`a record cut short at byte ${p}`);
      const kind = batch[p];
      const address = batch.subarray(p + 1, p + 21);
      p += 21;
      if (kind === STORAGE) {
        // A trie started over (a wiped storage) drops what it had: none of its nodes are the block's.
        this.tries.set(hex(address), { address: address.slice(), trie: BatchTrie.live(batch.slice(p, p + 32), this.load, this.decoded) });
        p += 32;
      } else if (kind === DROP) {
        this.tries.delete(hex(address));
      } else if (kind === SLOT) {
        const s = this.tries.get(hex(address));
        if (s === undefined) malformed(`a slot of ${hex(address)} before its storage root`);
        const value = batch.subarray(p + 33, p + 33 + batch[p + 32]);
        s.trie.put(keccak256(batch.subarray(p, p + 32)), slotLeaf(value));
        touched.add(s.trie);
        p += 33 + value.length;
      } else {
        malformed(`record kind ${kind} at byte ${p - 21}`);
      }
    }
    if (!last) {
      for (const t of touched) t.fold(FOLD_DEPTH);
      return undefined;
    }
    const packer = new NodePacker();
    const roots = new Uint8Array(52 * this.tries.size);
    let q = 0;
    for (const { address, trie } of this.tries.values()) {
      roots.set(address, q);
      roots.set(trie.commit(), q + 20);
      q += 52;
      packer.add(trie.liveNodes());
    }
    return { roots, nodes: packer.finish() };
  }
}

/** Each storage trie's new root in a `SlotStreamResult`, by address (hex). */
export function streamedRoots(roots: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (let p = 0; p + 52 <= roots.length; p += 52) out.set(hex(roots.subarray(p, p + 20)), roots.subarray(p + 20, p + 52));
  return out;
}
