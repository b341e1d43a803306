/**
 * A block's LevelDB batch as data: what the block changed and what it replaced, packed on the main thread when the
 * block commits (`StateStore.commit`), and written by whichever thread the store hands it to: an execution worker
 * while the main thread goes on with the next block, or the main thread itself (a store without such a writer, or
 * one whose writer failed). Every value of the batch is decided before the hand-over, so writing the same
 * `BlockWrite` twice writes the same batch.
 */
import { encodeRlp } from '../util/rlp.ts';
import { fromHex } from '../util/bytes.ts';
import { eachPacked, type CommitPack } from './commit-pack.ts';
import { KeyArena, META_HEAD, META_LAST_MISMATCH, META_NODE_FILE, META_SCHEMA, P_BLOCK, P_RECEIPTS, P_TRACE, P_UNDO, P_VERIFY, SCHEMA_VERSION, codeKey, numberKey } from './keys.ts';
import { unpackNodes } from './trie.ts';
import { packReceipts } from './receipts.ts';
import type { WriteBatch } from './store.ts';

export interface BlockWrite {
  number: bigint;
  /**
   * The block's flat records: every changed account's new record (none: deleted) and every changed slot's new value
   * (empty: deleted), slots of a wiped storage included.
   */
  state: CommitPack;
  /**
   * What each of `state`'s entries replaced, in the same order (no record: none before), for the undo journal; absent:
   * read from the database before the batch is written (the previous block's batch is in it by then).
   */
  prev?: CommitPack;
  codes: [string, Uint8Array][];
  /** The node file's length before and after the block's nodes (appended already); absent: `nodes` go in the batch. */
  nodeFile?: { before: number; end: number };
  /** Packed trie nodes (see `packNodes`) stored in LevelDB, for a store without a node file. */
  nodes: Uint8Array[];
  /** The encoded block record (also the new head). */
  record: Uint8Array;
  /** The block's receipts (their consensus encodings), stored packed (see `packReceipts`). */
  receipts: Uint8Array[];
  verification?: { json: string; mismatch: boolean };
  trace?: string;
  /** How many blocks keep their trace, and their undo journal. */
  traceBlocks: number;
  undoDepth: number;
  /** The block has a parent in the database (the first block has no undo journal). */
  hasParent: boolean;
  /** The database's schema marker is written (first written with this version). */
  writeSchema: boolean;
  sync: boolean;
}

/** A node file length as META_NODE_FILE holds it. */
export function lengthBytes(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/**
 * Write `w` as one atomic batch of `db` (a batch that fails while being built is discarded). Without `w.prev`, what
 * each record replaced is `recall`ed (undefined: not known there) or read from `db`.
 */
export async function writeBlock(
  db: { batch(): WriteBatch; getSync(key: Uint8Array): Uint8Array | undefined },
  w: BlockWrite,
  recall?: (key: Uint8Array) => Uint8Array | null | undefined,
): Promise<void> {
  const batch = db.batch();
  let written = false;
  try {
    const undo: Uint8Array[][] = [];
    const remember = (key: Uint8Array, prev: Uint8Array | null) => undo.push(prev === null || prev.length === 0 ? [key] : [key, prev]);
    const prevAccounts: (Uint8Array | null)[] = [];
    const prevSlots: Uint8Array[] = [];
    if (w.prev !== undefined) {
      eachPacked(
        w.prev,
        (_, rlp) => prevAccounts.push(rlp),
        (_, value) => prevSlots.push(value),
      );
    }
    // The journal's entries, for a block that keeps one: what it replaced, from `prev` or read before the batch.
    const journal = w.hasParent && w.undoDepth > 0;
    const before = (key: Uint8Array, known: Uint8Array | null | undefined) => {
      if (!journal) return;
      if (w.prev !== undefined) return remember(key, known!);
      const r = recall?.(key);
      remember(key, r !== undefined ? r : (db.getSync(key) ?? null));
    };
    const keys = new KeyArena();
    let a = 0;
    let s = 0;
    eachPacked(
      w.state,
      (address, rlp) => {
        const key = keys.account(address);
        before(key, prevAccounts[a++]);
        if (rlp === null) batch.del(key);
        else batch.put(key, rlp);
      },
      (addressSlot, value) => {
        const key = keys.storageAt(addressSlot);
        before(key, prevSlots[s++]);
        if (value.length === 0) batch.del(key);
        else batch.put(key, value);
      },
    );
    if (w.prev !== undefined && (a !== prevAccounts.length || s !== prevSlots.length)) {
      throw new Error(`block ${w.number}'s write has ${a} accounts and ${s} slots but ${prevAccounts.length} and ${prevSlots.length} previous values`);
    }
    for (const [h, code] of w.codes) batch.put(codeKey(fromHex(h)), code);
    if (w.nodeFile !== undefined) {
      // The nodes are in the file already; the batch records its length with the block (see node-file.ts), and the
      // block's undo journal the length before it.
      remember(META_NODE_FILE, lengthBytes(w.nodeFile.before));
      batch.put(META_NODE_FILE, lengthBytes(w.nodeFile.end));
    }
    for (const p of w.nodes) unpackNodes(p, (key, value) => batch.put(key, value));
    batch.put(numberKey(P_BLOCK, w.number), w.record);
    batch.put(numberKey(P_RECEIPTS, w.number), packReceipts(w.receipts));
    if (w.verification !== undefined) {
      batch.put(numberKey(P_VERIFY, w.number), new TextEncoder().encode(w.verification.json));
      if (w.verification.mismatch) batch.put(META_LAST_MISMATCH, numberKey(P_VERIFY, w.number).subarray(1));
    }
    const keep = BigInt(w.traceBlocks);
    if (w.trace !== undefined && keep > 0n) batch.put(numberKey(P_TRACE, w.number), new TextEncoder().encode(w.trace));
    if (w.number >= keep) batch.del(numberKey(P_TRACE, w.number - keep));
    if (journal) batch.put(numberKey(P_UNDO, w.number), encodeRlp(undo));
    if (w.number >= BigInt(w.undoDepth)) batch.del(numberKey(P_UNDO, w.number - BigInt(w.undoDepth)));
    batch.put(META_HEAD, w.record);
    if (w.writeSchema) batch.put(META_SCHEMA, new Uint8Array([SCHEMA_VERSION]));
    written = true;
    await batch.write({ sync: w.sync });
  } finally {
    if (!written) await batch.close();
  }
}
