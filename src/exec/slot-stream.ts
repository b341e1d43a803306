/**
 * The main thread's side of a block's storage tries updated while it runs (see state/trie-stream.ts): after every
 * `SLOT_BATCH` recorded transactions, the slots they wrote go to the worker that keeps the block's storage tries; at
 * the block's end the last of them, and the worker answers with the tries' roots while the main thread updates the
 * accounts' part of the state trie (`StateTrie.update` with the storage away).
 *
 * A wiped storage (a deleted account's, a self-destruct's, any contract creation's) starts the account's trie over
 * from the empty root with the slots written after the wipe. If the worker fails, the tries are updated the usual
 * way at the block's end (`StateStore.computeTrie`).
 */
import { KECCAK256_RLP } from '@ethereumjs/util';
import type { OverlayStateManager } from '../state/overlay.ts';
import type { StorageAway } from '../state/trie.ts';
import { SlotBatchWriter, streamedRoots, type SlotStreamResult } from '../state/trie-stream.ts';
import type { StateDiff } from '../state/types.ts';
import { fromHex } from '../util/bytes.ts';
import type { SlotsSink } from './executor.ts';

/**
 * Transactions per batch: the worker hashes each batch's changes when it comes, and the last batch is on the block's
 * path; 256 is the receipts' batch too.
 */
export const SLOT_BATCH = 256;

export interface SlotStreamPorts {
  /** The account's storage root in the committed state (undefined: no such account). */
  committedStorageRoot(address: Uint8Array): Uint8Array | undefined;
  /** Send a batch to the worker; the first carries the block's start. */
  send(batch: Uint8Array, last: boolean): void;
  /** The worker's answer to the last batch; undefined if it failed (the caller has said why). */
  result(): Promise<SlotStreamResult | undefined>;
}

export class SlotStream implements SlotsSink {
  private readonly state: OverlayStateManager;
  private readonly ports: SlotStreamPorts;
  private readonly writer = new SlotBatchWriter();
  /** Accounts whose storage trie the worker keeps, by address (hex). */
  private readonly sent = new Set<string>();
  /** The map of written slots each account had at the last batch (a wipe replaces it: see `slotsWritten`). */
  private readonly maps = new Map<string, ReadonlyMap<string, Uint8Array>>();
  /** Why the stream ended early (the root is then computed the usual way). */
  stopped: string | undefined;

  constructor(state: OverlayStateManager, ports: SlotStreamPorts) {
    this.state = state;
    this.ports = ports;
    state.watchChanges();
  }

  recorded(count: number): void {
    if (count % SLOT_BATCH === 0 && this.stopped === undefined) this.flush(false);
  }

  finish(diff: StateDiff): StorageAway | undefined {
    if (this.stopped === undefined) this.flush(true);
    if (this.stopped !== undefined) return undefined;
    for (const [addr, d] of diff.accounts) {
      if (d.account === null) {
        // Deleted: no storage trie, whatever its slots were.
        if (this.sent.delete(addr)) this.writer.drop(d.address);
      } else if (d.storage.size > 0 && !this.sent.has(addr)) {
        return this.stop(`account ${addr}'s slots changed and were not sent`);
      }
    }
    if (this.sent.size === 0) return this.stop('no slot changed');
    this.ports.send(this.writer.take(), true);
    return { accounts: this.sent, done: this.ports.result().then((r) => (r === undefined ? undefined : { roots: streamedRoots(r.roots), packed: [r.nodes] })) };
  }

  private stop(why: string): undefined {
    this.stopped = why;
    return undefined;
  }

  /** The slots written since the last batch, as the block has them now. */
  private flush(last: boolean): void {
    const state = this.state;
    const changes = state.takeChanges();
    if (changes === undefined) return void this.stop('the overlay stopped noting changes');
    const w = this.writer;
    for (const addr of changes.wiped) if (!changes.slots.has(addr)) changes.slots.set(addr, new Set());
    for (const [addr, written] of changes.slots) {
      // Written and reverted since (with its transaction): nothing was sent, the trie has the values before.
      const slots = state.slotsWritten(addr);
      if (slots === undefined) continue;
      const address = state.addressOf(addr);
      let all = false;
      if (slots !== this.maps.get(addr)) {
        this.maps.set(addr, slots);
        if (state.storageWiped(addr)) {
          // A new map after a wipe (since the last batch, or before the first): the trie starts over, empty, with
          // every slot the account has now. A wipe reverted since left the map it had.
          w.storage(address, KECCAK256_RLP);
          this.sent.add(addr);
          all = true;
        }
      }
      if (!this.sent.has(addr)) {
        this.sent.add(addr);
        w.storage(address, state.baseStorageRootOf(addr) ?? this.ports.committedStorageRoot(address) ?? KECCAK256_RLP);
      }
      for (const slot of all ? slots.keys() : written) {
        const value = slots.get(slot);
        if (value !== undefined) w.slot(address, fromHex(slot), value);
      }
    }
    if (!last && w.count > 0) this.ports.send(w.take(), false);
  }
}
