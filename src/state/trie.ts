/**
 * Ethereum state root from a block's diff: the state trie and every storage trie are updated once per block
 * (`BatchTrie`: all changes applied in memory, each changed node hashed once), reading existing nodes from LevelDB
 * and collecting new nodes in memory, so the caller can write them in the block's atomic batch. Nodes are content-addressed and never deleted, so older roots stay readable; this is what
 * lets the undo journal restore a previous root by restoring flat records only.
 */
import { KECCAK256_RLP } from '@ethereumjs/util';
import { fromHex, readU32 } from '../util/bytes.ts';
import { ByteWriter } from '../util/byte-writer.ts';
import { encodeRlp, uintBytes } from '../util/rlp.ts';
import { keccak256 } from '../crypto/index.ts';
import { BatchTrie, NewNodes, toNibbles, type DecodedNodes, type NodeLoader } from './mpt.ts';
import { P_NODE } from './keys.ts';
import type { AccountDiff, StateDiff } from './types.ts';

/** Where trie nodes live: a node lookup by hash (hex, no 0x). */
export interface NodeSource {
  getNode(hashHex: string, hash: Uint8Array): Uint8Array | undefined;
}

export interface TrieUpdate {
  stateRoot: Uint8Array;
  /** New trie nodes (made on this thread). */
  nodes: NewNodes;
  /** More new trie nodes, packed by the threads that updated subtrees (see `NodePacker`, `unpackNodes`). */
  packed: Uint8Array[];
  /** Final account record (RLP, with the new storage root) per changed address (hex); null = deleted. */
  accounts: Map<string, Uint8Array | null>;
}

/** The storage root of an account as it is before the block (undefined: it does not exist). */
export type BaseStorageRoot = (address: Uint8Array) => Uint8Array | undefined;

/** One thread's share of a block's state-trie update: the subtrees under some children of the root branch. */
export interface ShardJob {
  /** First nibble of the hashed addresses in this share, and one past the last. */
  from: number;
  to: number;
  /** The root branch's references for nibbles from..to-1 before the block (see `BatchTrie.below`). */
  refs: (Uint8Array | null)[];
  /** The changed accounts whose hashed address starts with one of those nibbles, packed (see `ShardWriter`). */
  count: number;
  data: Uint8Array;
}

export interface ShardResult {
  /** The root branch's references for nibbles from..to-1 after the block. */
  refs: (Uint8Array | null)[];
  /**
   * The job's accounts' final records in job order, packed: a 2-byte length, then the RLP (with the new storage
   * root); length 0 for an account that no longer exists.
   */
  accounts: Uint8Array;
  /** The new trie nodes, packed (see `NodePacker`). */
  nodes: Uint8Array;
}

/**
 * One account's storage-trie update, for another thread: a block whose root is mostly one contract's slots (a token's
 * balances, a pool's reserves) cannot be split by the root's children, but that trie can be updated beside the rest.
 */
export interface StorageJob {
  /** The account's storage root before the block (the empty trie's if its storage was cleared). */
  root: Uint8Array;
  /**
   * One thread's share of a large trie: the subtrees under the root branch's children from..to-1, whose references
   * before the block are `refs` (see `BatchTrie.below`); the job's other slots are not its own. Absent: the whole trie.
   */
  share?: { from: number; to: number; refs: (Uint8Array | null)[] };
  /** The changed slots, packed as a `ShardJob`'s (see `ShardWriter`): a 4-byte count, then the slots. */
  data: Uint8Array;
}

export interface StorageResult {
  /** The account's storage root after the block; for a share, the references of its children after the block. */
  root: Uint8Array | (Uint8Array | null)[];
  /** The new trie nodes, packed (see `NodePacker`). */
  nodes: Uint8Array;
}

export function isStorageJob(job: ShardJob | StorageJob): job is StorageJob {
  return 'root' in job;
}

/** Runs trie jobs on other threads concurrently; undefined when it cannot (the caller does the work here). */
export interface TrieSharder {
  readonly shards: number;
  /** Blocks changing fewer accounts are updated on the calling thread (the messages would cost more). */
  readonly minAccounts: number;
  /** Shard jobs, one per thread. */
  run(jobs: ShardJob[]): Promise<ShardResult[] | undefined>;
  /** An account changing at least this many slots has its storage trie updated by `storage` (see `StorageJob`). */
  readonly minStorageSlots: number;
  /** Storage jobs, at most one per thread. */
  storage(jobs: StorageJob[]): Promise<StorageResult[] | undefined>;
  /**
   * The results of the last `run` or `storage` call came back but are not used: the root they were for would collapse
   * into one child, and the caller updates that trie itself.
   */
  discarded(): void;
}

/** A split is used only if no share holds more than this many times an even share of the leaves to update. */
const MAX_SHARE_FACTOR = 1.5;

/**
 * A shard job's accounts in one buffer (a single transfer between threads, no per-object cloning). Per account:
 * a flag byte (1: deleted), the 32-byte hashed address; then, if it exists, its storage root to start from (32),
 * code hash (32), nonce and balance (a length byte, then the unpadded big-endian bytes), the number of changed
 * slots (4 bytes) and for each slot its 32 bytes, a length byte and the new value (empty: deleted).
 */
class ShardWriter extends ByteWriter {
  count = 0;
  /** Leaves to update: accounts plus changed slots. */
  work = 0;
  add(hashed: Uint8Array, d: AccountDiff, storageRoot: Uint8Array): void {
    this.count++;
    this.work += 1 + d.storage.size;
    if (d.account === null) {
      this.room(33);
      this.buf[this.pos++] = 1;
      this.bytes(hashed);
      return;
    }
    const nonce = uintBytes(d.account.nonce);
    const balance = uintBytes(d.account.balance);
    this.room(1 + 96 + 2 + nonce.length + balance.length + 4 + d.storage.size * 66);
    this.buf[this.pos++] = 0;
    this.bytes(hashed);
    this.bytes(storageRoot);
    this.bytes(d.account.codeHash);
    this.short(nonce);
    this.short(balance);
    this.slots(d.storage);
  }
  /** The changed slots: their count (4 bytes), then each slot's 32 bytes, a length byte and the new value. */
  slots(storage: Map<string, Uint8Array>): void {
    this.room(4);
    this.u32(storage.size);
    for (const [slot, value] of storage) {
      this.room(66 + value.length);
      this.bytes(fromHex(slot));
      this.short(value);
    }
  }
  finish(): Uint8Array {
    return this.written();
  }
}

/**
 * Update the subtrees of one shard job: storage tries of its accounts, then their leaves in the state trie. Runs on a
 * worker (or here, in tests), reading nodes through `load`; deterministic, so the root is the same wherever it runs.
 */
export function updateShard(job: ShardJob, load: NodeLoader, decoded?: DecodedNodes): ShardResult {
  const d = job.data;
  // Accounts by the nibble under the root (their order within a nibble does not change the result).
  const byNibble: number[][] = Array.from({ length: job.to - job.from }, () => []);
  const starts: number[] = [];
  let pos = 0;
  for (let i = 0; i < job.count; i++) {
    starts.push(pos);
    byNibble[(d[pos + 1] >> 4) - job.from].push(i);
    if (d[pos] === 1) {
      pos += 33;
      continue;
    }
    pos += 97;
    pos += 1 + d[pos];
    pos += 1 + d[pos];
    const slots = readU32(d, pos);
    pos += 4;
    for (let s = 0; s < slots; s++) pos += 33 + d[pos + 32];
  }
  const records: (Uint8Array | null)[] = new Array(job.count);
  const refs: (Uint8Array | null)[] = [];
  const packer = new NodePacker();
  for (let n = 0; n < byNibble.length; n++) {
    const list = byNibble[n];
    if (list.length === 0) {
      refs.push(job.refs[n]);
      continue;
    }
    const sub = BatchTrie.below(job.refs[n], load, decoded);
    for (const i of list) {
      let p = starts[i];
      const path = toNibbles(d.subarray(p + 1, p + 33)).subarray(1);
      if (d[p] === 1) {
        sub.putPath(path, EMPTY);
        records[i] = null;
        continue;
      }
      let storageRoot = d.subarray(p + 33, p + 65);
      const codeHash = d.subarray(p + 65, p + 97);
      p += 97;
      const nonce = d.subarray(p + 1, p + 1 + d[p]);
      p += 1 + d[p];
      const balance = d.subarray(p + 1, p + 1 + d[p]);
      p += 1 + d[p];
      if (readU32(d, p) > 0) {
        const st = new BatchTrie(storageRoot, load, decoded);
        eachSlot(d, p, (hashed, leaf) => st.put(hashed, leaf));
        storageRoot = st.commit();
        packer.add(st.nodes);
      }
      const rlp = encodeRlp([nonce, balance, storageRoot, codeHash]);
      sub.putPath(path, rlp);
      records[i] = rlp;
    }
    refs.push(sub.commitRef());
    packer.add(sub.nodes);
  }
  let size = 0;
  for (const r of records) size += 2 + (r?.length ?? 0);
  const accounts = new Uint8Array(size);
  let q = 0;
  for (const r of records) {
    const len = r?.length ?? 0;
    accounts[q] = len >> 8;
    accounts[q + 1] = len & 255;
    if (r !== null) accounts.set(r, q + 2);
    q += 2 + len;
  }
  return { refs, accounts, nodes: packer.finish() };
}

/** Update one account's storage trie (see `StorageJob`); deterministic, like `updateShard`. */
export function updateStorage(job: StorageJob, load: NodeLoader, decoded?: DecodedNodes): StorageResult {
  const packer = new NodePacker();
  if (job.share === undefined) {
    const st = new BatchTrie(job.root, load, decoded);
    eachSlot(job.data, 0, (hashed, leaf) => st.put(hashed, leaf));
    const root = st.commit();
    packer.add(st.nodes);
    return { root, nodes: packer.finish() };
  }
  const { from, to, refs } = job.share;
  const subs: (BatchTrie | undefined)[] = new Array(to - from);
  eachSlot(job.data, 0, (hashed, leaf) => {
    const n = hashed[0] >> 4;
    if (n < from || n >= to) return;
    const sub = (subs[n - from] ??= BatchTrie.below(refs[n - from], load, decoded));
    sub.putPath(toNibbles(hashed).subarray(1), leaf);
  });
  const after = refs.map((r, i) => {
    const sub = subs[i];
    if (sub === undefined) return r;
    const ref = sub.commitRef();
    packer.add(sub.nodes);
    return ref;
  });
  return { root: after, nodes: packer.finish() };
}

/** Each slot packed at `d[p..]` by `ShardWriter.slots`, as its hashed key and leaf value (see `slotLeaf`). */
function eachSlot(d: Uint8Array, p: number, each: (hashed: Uint8Array, leaf: Uint8Array) => void): void {
  const slots = readU32(d, p);
  p += 4;
  for (let s = 0; s < slots; s++) {
    const value = d.subarray(p + 33, p + 33 + d[p + 32]);
    each(keccak256(d.subarray(p, p + 32)), slotLeaf(value));
    p += 33 + value.length;
  }
}

/** A storage slot's leaf value: the value RLP-encoded (empty, a zero value, deletes the slot). */
function slotLeaf(value: Uint8Array): Uint8Array {
  return value.length === 0 ? EMPTY : encodeRlp(value);
}

/** A storage slot's leaf: keyed by the slot's hash (see `slotLeaf`). */
function putSlot(trie: BatchTrie, slot: Uint8Array, value: Uint8Array): void {
  trie.put(keccak256(slot), slotLeaf(value));
}

function encodeAccount(a: { nonce: bigint; balance: bigint; codeHash: Uint8Array }, storageRoot: Uint8Array): Uint8Array {
  return encodeRlp([uintBytes(a.nonce), uintBytes(a.balance), storageRoot, a.codeHash]);
}

/**
 * Trie nodes packed into one buffer to cross threads as a single transfer: for each node a 4-byte length (big
 * endian), then its 33-byte database key (see `nodeKey`), then its encoding. It is the node file's record format, so
 * the buffer is appended to that file as it is (node-file.ts); for LevelDB the key and the encoding are read back as
 * views, written without another copy.
 */
class NodePacker {
  private readonly parts: NewNodes[] = [];
  private bytes = 0;
  add(nodes: NewNodes): void {
    this.parts.push(nodes);
    for (const node of nodes.encodings) this.bytes += 4 + 33 + node.length;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    const view = new DataView(out.buffer);
    let pos = 0;
    for (const { hashes, encodings } of this.parts) {
      for (let i = 0; i < hashes.length; i++) {
        const node = encodings[i];
        view.setUint32(pos, node.length);
        out[pos + 4] = P_NODE;
        out.set(hashes[i], pos + 5);
        out.set(node, pos + 37);
        pos += 37 + node.length;
      }
    }
    return out;
  }
}

/** `nodes` packed as `NodePacker` packs them. */
export function packNodes(nodes: NewNodes): Uint8Array {
  const packer = new NodePacker();
  packer.add(nodes);
  return packer.finish();
}

/** Each packed node's database key and encoding (views into `packed`). */
export function unpackNodes(packed: Uint8Array, each: (key: Uint8Array, node: Uint8Array) => void): void {
  let pos = 0;
  while (pos < packed.length) {
    const len = readU32(packed, pos);
    each(packed.subarray(pos + 4, pos + 37), packed.subarray(pos + 37, pos + 37 + len));
    pos += 37 + len;
  }
}

export class StateTrie {
  private readonly source: NodeSource;
  private readonly decoded: DecodedNodes;
  /** Other threads to update subtrees on (set by the parallel engine while it has workers that can read the database). */
  sharder: TrieSharder | undefined;
  constructor(source: NodeSource, decoded: DecodedNodes) {
    this.source = source;
    this.decoded = decoded;
  }

  /** Apply `diff` on top of `parentRoot`. Nothing is written; the result carries what must be. */
  async update(parentRoot: Uint8Array, diff: StateDiff, baseStorageRoot: BaseStorageRoot): Promise<TrieUpdate> {
    if (this.sharder !== undefined && diff.accounts.size >= this.sharder.minAccounts) {
      const sharded = await this.updateSharded(this.sharder, parentRoot, diff, baseStorageRoot);
      if (sharded !== undefined) return sharded;
    }
    return this.updateHere(parentRoot, diff, baseStorageRoot);
  }

  /**
   * The same update with the subtrees under the root branch's children split among other threads (contiguous nibble
   * ranges, the same for every block, so each thread's decoded nodes stay useful); only the root is hashed here.
   * Undefined when one share would hold most of the work, the root is no plain branch or would not stay one, or the
   * sharder declines.
   */
  private async updateSharded(sharder: TrieSharder, parentRoot: Uint8Array, diff: StateDiff, baseStorageRoot: BaseStorageRoot): Promise<TrieUpdate | undefined> {
    const n = sharder.shards;
    // An account's storage trie stays with its account: when one contract's slots are most of the block (a token's
    // balances, a pool's reserves), one worker would do most of the work while the others wait. Not worth it.
    let total = 0;
    let largest = 0;
    for (const d of diff.accounts.values()) {
      total += 1 + d.storage.size;
      largest = Math.max(largest, 1 + d.storage.size);
    }
    if (largest > (MAX_SHARE_FACTOR / n) * total) return undefined;
    const stateTrie = new BatchTrie(parentRoot, (h, b) => this.source.getNode(h, b), this.decoded);
    const children = stateTrie.rootChildren();
    if (children === undefined) return undefined;
    const shardOf = new Uint8Array(16);
    const ranges = nibbleRanges(n);
    ranges.forEach(([from, to], w) => shardOf.fill(w, from, to));
    const writers = ranges.map(() => new ShardWriter());
    const keys: string[][] = ranges.map(() => []);
    for (const [key, d] of diff.accounts) {
      const hashed = keccak256(d.address);
      const w = shardOf[hashed[0] >> 4];
      const storageRoot = d.account === null || d.storageCleared ? KECCAK256_RLP : (d.baseStorageRoot ?? baseStorageRoot(d.address) ?? KECCAK256_RLP);
      writers[w].add(hashed, d, storageRoot);
      keys[w].push(key);
    }
    // The same for the nibble ranges as a whole (known only once the addresses are hashed).
    if (Math.max(...writers.map((w) => w.work)) > (MAX_SHARE_FACTOR / n) * total) return undefined;
    const jobs: ShardJob[] = ranges.map(([from, to], w) => ({ from, to, refs: children.slice(from, to), count: writers[w].count, data: writers[w].finish() }));
    const results = await sharder.run(jobs);
    if (results === undefined) return undefined;
    const accounts = new Map<string, Uint8Array | null>();
    const after = children.slice();
    for (let w = 0; w < n; w++) {
      const r = results[w];
      for (let i = 0; i < r.refs.length; i++) after[jobs[w].from + i] = r.refs[i];
      let q = 0;
      for (const key of keys[w]) {
        const len = (r.accounts[q] << 8) | r.accounts[q + 1];
        accounts.set(key, len === 0 ? null : r.accounts.subarray(q + 2, q + 2 + len));
        q += 2 + len;
      }
    }
    if (stateTrie.setRootChildren(after) === undefined) {
      sharder.discarded();
      return undefined;
    }
    const stateRoot = stateTrie.commit();
    return { stateRoot, nodes: stateTrie.nodes, packed: results.map((r) => r.nodes), accounts };
  }

  /**
   * One storage trie updated by the sharder's threads: by shares of its root branch's children when it has such a
   * root (the root then hashed here), else whole by one thread. The jobs are sent before this returns its promise;
   * undefined if a thread failed or the root would not stay a branch (the caller then updates the trie itself).
   */
  private async storageAway(sharder: TrieSharder, root: Uint8Array, storage: Map<string, Uint8Array>): Promise<{ root: Uint8Array; packed: Uint8Array[]; nodes: NewNodes } | undefined> {
    const slots = new ShardWriter();
    slots.slots(storage);
    const data = slots.finish();
    const trie = new BatchTrie(root, (h, b) => this.source.getNode(h, b), this.decoded);
    const children = sharder.shards > 1 ? trie.rootChildren() : undefined;
    if (children === undefined) {
      const whole = await sharder.storage([{ root, data }]);
      return whole === undefined ? undefined : { root: whole[0].root as Uint8Array, packed: [whole[0].nodes], nodes: new NewNodes() };
    }
    const ranges = nibbleRanges(sharder.shards);
    // Each thread gets its own copy of the slots (a job's buffer is transferred) and keeps the ones of its range.
    const shares = await sharder.storage(ranges.map(([from, to]) => ({ root, share: { from, to, refs: children.slice(from, to) }, data: data.slice() })));
    if (shares === undefined) return undefined;
    const after = children.slice();
    shares.forEach((r, w) => after.splice(ranges[w][0], ranges[w][1] - ranges[w][0], ...(r.root as (Uint8Array | null)[])));
    if (trie.setRootChildren(after) === undefined) {
      sharder.discarded();
      return undefined;
    }
    return { root: trie.commit(), packed: shares.map((r) => r.nodes), nodes: trie.nodes };
  }

  /**
   * The update on this thread, but for the storage trie of the account changing the most slots when they are at
   * least the sharder's `minStorageSlots`: that one goes to another thread first and is awaited last, its account's
   * leaf put once its root is back (a trie's root does not depend on the order of its puts). If the other thread
   * cannot, the trie is updated here after all.
   */
  private async updateHere(parentRoot: Uint8Array, diff: StateDiff, baseStorageRoot: BaseStorageRoot): Promise<TrieUpdate> {
    const nodes = new NewNodes();
    const packed: Uint8Array[] = [];
    const accounts = new Map<string, Uint8Array | null>();
    const load: NodeLoader = (h, b) => this.source.getNode(h, b);
    let stateTrie = new BatchTrie(parentRoot, load, this.decoded);
    const startRoot = (d: AccountDiff) => (d.storageCleared ? undefined : (d.baseStorageRoot ?? baseStorageRoot(d.address))) ?? KECCAK256_RLP;
    const hot = this.sharder === undefined ? undefined : hottest(diff, this.sharder.minStorageSlots);
    const away = hot === undefined ? undefined : this.storageAway(this.sharder!, startRoot(hot[1]), hot[1].storage);
    // While the hottest contract's storage is away, the state trie's subtrees under the root branch are updated and
    // hashed one by one: only the one its leaf goes into, and the root, are left for after.
    const children = hot === undefined ? undefined : stateTrie.rootChildren();
    const subs: (BatchTrie | undefined)[] = new Array(16);
    const leaves: [Uint8Array, Uint8Array][] = [];
    const putLeaf = (hashed: Uint8Array, value: Uint8Array) => {
      if (children === undefined) return stateTrie.put(hashed, value);
      leaves.push([hashed, value]);
      const n = hashed[0] >> 4;
      (subs[n] ??= BatchTrie.below(children[n], load, this.decoded)).putPath(toNibbles(hashed).subarray(1), value);
    };
    /** The account's storage trie updated here: its new root, its new nodes into `nodes`. */
    const storageHere = (d: AccountDiff): Uint8Array => {
      const st = new BatchTrie(startRoot(d), load, this.decoded);
      for (const [slot, value] of d.storage) putSlot(st, fromHex(slot), value);
      const root = st.commit();
      nodes.addAll(st.nodes);
      return root;
    };
    const put = (addr: string, d: AccountDiff, account: LiveAccount['account'], storageRoot: Uint8Array) => {
      const rlp = encodeAccount(account, storageRoot);
      putLeaf(keccak256(d.address), rlp);
      accounts.set(addr, rlp);
    };
    for (const [addr, d] of diff.accounts) {
      if (d.account === null) {
        putLeaf(keccak256(d.address), EMPTY);
        accounts.set(addr, null);
        continue;
      }
      if (d === hot?.[1]) continue;
      put(addr, d, d.account, d.storage.size > 0 ? storageHere(d) : startRoot(d));
    }
    if (hot === undefined) {
      const stateRoot = stateTrie.commit();
      nodes.addAll(stateTrie.nodes);
      return { stateRoot, nodes, packed, accounts };
    }
    const [addr, d] = hot;
    const hotNibble = keccak256(d.address)[0] >> 4;
    const after = children?.slice();
    if (after !== undefined) {
      for (let n = 0; n < 16; n++) {
        const sub = subs[n];
        if (n !== hotNibble && sub !== undefined) after[n] = sub.commitRef();
      }
    }
    const done = await away;
    if (done !== undefined) {
      packed.push(...done.packed);
      nodes.addAll(done.nodes);
      put(addr, d, d.account, done.root);
    } else {
      put(addr, d, d.account, storageHere(d));
    }
    if (after !== undefined) {
      const sub = subs[hotNibble];
      if (sub !== undefined) after[hotNibble] = sub.commitRef();
      if (stateTrie.setRootChildren(after) !== undefined) {
        for (const sub of subs) if (sub !== undefined) nodes.addAll(sub.nodes);
      } else {
        // The root would collapse into one child: the whole update again, the usual way.
        stateTrie = new BatchTrie(parentRoot, load, this.decoded);
        for (const [hashed, value] of leaves) stateTrie.put(hashed, value);
      }
    }
    const stateRoot = stateTrie.commit();
    nodes.addAll(stateTrie.nodes);
    return { stateRoot, nodes, packed, accounts };
  }
}

/** The root branch's 16 children split into `n` contiguous ranges [from, to), the same for every block. */
function nibbleRanges(n: number): [number, number][] {
  return Array.from({ length: n }, (_, w) => [Math.floor((16 * w) / n), Math.floor((16 * (w + 1)) / n)]);
}

type LiveAccount = AccountDiff & { account: NonNullable<AccountDiff['account']> };

/** The existing account changing the most slots, if they are at least `min`. */
function hottest(diff: StateDiff, min: number): [string, LiveAccount] | undefined {
  let best: [string, LiveAccount] | undefined;
  for (const e of diff.accounts) {
    const d = e[1];
    if (d.account !== null && d.storage.size >= min && d.storage.size > (best?.[1].storage.size ?? 0)) best = [e[0], d as LiveAccount];
  }
  return best;
}

const EMPTY = new Uint8Array(0);
