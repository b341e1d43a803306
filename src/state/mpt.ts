/**
 * Batched Merkle-Patricia trie update (Ethereum's hexary trie, secure keys).
 *
 * @ethereumjs/mpt hashes and writes every node on the path of every `put`: a block changing 1,000 accounts
 * re-hashes the upper levels 1,000 times. Here all of a block's changes are applied to an in-memory tree first
 * (nodes loaded from the store on demand) and every changed node is hashed exactly once at the end. The node encoding
 * is the standard one, so roots and stored nodes are interchangeable with @ethereumjs/mpt's (the tests check both
 * ways).
 */
import { RLP } from '@ethereumjs/rlp';
import { keccak256 } from '../crypto/index.ts';
import { hex } from '../util/bytes.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { Slab } from '../util/slab.ts';
import { rlpListLength, rlpStringLength, writeRlpListHeader, writeRlpString } from '../util/rlp.ts';

/** A stored node's encoding by hash (in hex, and the bytes), read synchronously (node file, LevelDB `getSync`, caches). */
export type NodeLoader = (hashHex: string, hash: Uint8Array) => Uint8Array | undefined;

/**
 * Decoded nodes by hash, shared across blocks. Nodes are content-addressed and never changed in place (every update
 * builds new nodes), so an entry stays right forever; the upper levels, rewritten by every block, are found here
 * decoded instead of being read and decoded again.
 */
export interface DecodedNodes {
  get(hash: Uint8Array): Node | undefined;
  set(hash: Uint8Array, node: Node): void;
}

/**
 * `DecodedNodes` with a bound: when full, the older half goes (insertion order). Keyed by the hash's first 30 bits
 * as a small integer, the entry holding the whole hash, which a lookup compares (hashes sharing the 30 bits replace
 * each other). A hex string per lookup and a Map keyed by 64-character strings were a quarter of the state root's
 * time on the main thread (profile of the ERC-20 blocks, 2026-12-04).
 */
export class NodeCache implements DecodedNodes {
  private readonly entries: BoundedCache<{ hash: Uint8Array; node: Node }, number>;
  constructor(cap: number) {
    this.entries = new BoundedCache(cap);
  }
  get size(): number {
    return this.entries.size;
  }
  get(hash: Uint8Array): Node | undefined {
    const e = this.entries.get(cacheKey(hash));
    return e !== undefined && equals(e.hash, hash) ? e.node : undefined;
  }
  set(hash: Uint8Array, node: Node): void {
    this.entries.set(cacheKey(hash), { hash, node });
  }
}

/** The first 30 bits of a hash: a small integer (an unboxed Map key), evenly spread as hashes are. */
function cacheKey(hash: Uint8Array): number {
  return (hash[0] << 22) | (hash[1] << 14) | (hash[2] << 6) | (hash[3] >> 2);
}

/**
 * The nodes a trie update created: hash and encoding side by side, in the order they were hashed. A block creates
 * thousands; kept by their hashes in hex, each cost a hex string, the string's hash and a Map entry, and a conversion
 * back to bytes where it was packed for another thread or written. Hex only where something asks for it (`get`,
 * iteration as entries).
 */
export class NewNodes {
  readonly hashes: Uint8Array[] = [];
  readonly encodings: Uint8Array[] = [];
  /** Encodings by hash (hex), made at the first `get` and kept up to date after it. */
  private byHex: Map<string, Uint8Array> | undefined;

  get size(): number {
    return this.hashes.length;
  }

  add(hash: Uint8Array, encoding: Uint8Array): void {
    this.hashes.push(hash);
    this.encodings.push(encoding);
    this.byHex?.set(hex(hash), encoding);
  }

  addAll(other: NewNodes): void {
    for (let i = 0; i < other.hashes.length; i++) this.add(other.hashes[i], other.encodings[i]);
  }

  get(hashHex: string): Uint8Array | undefined {
    if (this.hashes.length === 0) return undefined;
    if (this.byHex === undefined) {
      this.byHex = new Map();
      for (let i = 0; i < this.hashes.length; i++) this.byHex.set(hex(this.hashes[i]), this.encodings[i]);
    }
    return this.byHex.get(hashHex);
  }

  /** Hash (hex) and encoding of each node, in order (a node made twice in one update is listed twice). */
  *[Symbol.iterator](): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.hashes.length; i++) yield [hex(this.hashes[i]), this.encodings[i]];
  }
}

type Nibbles = Uint8Array;

interface Leaf {
  t: 0;
  path: Nibbles;
  value: Uint8Array;
}
interface Ext {
  t: 1;
  path: Nibbles;
  child: Ref;
}
interface Branch {
  t: 2;
  children: (Ref | null)[];
  value: Uint8Array | null;
}
export type Node = Leaf | Ext | Branch;
/**
 * A child: a stored node not loaded yet, by its 32-byte hash itself (no object around it: the decoded-node caches hold
 * up to 16 per branch), or a node in memory.
 */
type Ref = Uint8Array | Node;

type RlpItem = Uint8Array | RlpItem[];

export const EMPTY_ROOT = keccak256(RLP.encode(new Uint8Array(0)));
const EMPTY = new Uint8Array(0);

/**
 * Nibble paths of up to 64 entries (a hashed key's) are cut from shared chunks rather than each made on its own: an
 * update walks down a path by `subarray` at every level, and the first `subarray` of a typed array that lives on
 * V8's heap (up to 64 bytes) moves it into a backing store of its own (a malloc, later swept and freed). A chunk
 * lives as long as any path cut from it, such as a leaf kept in a decoded-node cache; those caches drop their
 * oldest entries first, so the leaves of one block, which share chunks, go together.
 */
const nibbleSlab = new Slab(4096, 64);

/** A key as nibbles (two per byte, high first): the paths `putPath` takes. */
export function toNibbles(key: Uint8Array): Nibbles {
  const n = nibbleSlab.take(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    n[2 * i] = key[i] >> 4;
    n[2 * i + 1] = key[i] & 15;
  }
  return n;
}

/** Hex-prefix encoding of a path with the leaf flag. */
function hexPrefix(path: Nibbles, leaf: boolean): Uint8Array {
  const odd = path.length % 2;
  const out = new Uint8Array(Math.floor(path.length / 2) + 1);
  out[0] = ((leaf ? 2 : 0) + odd) << 4;
  let j = 0;
  if (odd) out[0] |= path[j++];
  for (let i = 1; i < out.length; i++) out[i] = (path[j++] << 4) | path[j++];
  return out;
}

function decodeHexPrefix(b: Uint8Array): { path: Nibbles; leaf: boolean } {
  const flag = b[0] >> 4;
  const odd = flag & 1;
  const len = (b.length - 1) * 2 + odd;
  const path = new Uint8Array(len);
  let j = 0;
  if (odd) path[j++] = b[0] & 15;
  for (let i = 1; i < b.length; i++) {
    path[j++] = b[i] >> 4;
    path[j++] = b[i] & 15;
  }
  return { path, leaf: flag >= 2 };
}

/** A child reference as a branch holds it (hash or embedded encoding), as a `Ref`. */
function refOf(r: Uint8Array): Ref {
  if (r.length === 32) return r;
  return decodeNode(RLP.decode(r) as RlpItem[]);
}

function decodeRef(item: RlpItem): Ref | null {
  if (item instanceof Uint8Array) {
    if (item.length === 0) return null;
    if (item.length === 32) return item;
    throw new Error(`malformed trie node reference of ${item.length} bytes`);
  }
  return decodeNode(item);
}

function decodeNode(raw: RlpItem[]): Node {
  if (raw.length === 17) {
    const children: (Ref | null)[] = new Array(16);
    for (let i = 0; i < 16; i++) children[i] = decodeRef(raw[i]);
    const v = raw[16] as Uint8Array;
    return { t: 2, children, value: v.length > 0 ? v : null };
  }
  if (raw.length === 2) {
    const { path, leaf } = decodeHexPrefix(raw[0] as Uint8Array);
    if (leaf) return { t: 0, path, value: raw[1] as Uint8Array };
    const child = decodeRef(raw[1]);
    if (child === null) throw new Error('extension node without child');
    return { t: 1, path, child };
  }
  throw new Error(`malformed trie node with ${raw.length} items`);
}

function commonPrefix(a: Nibbles, b: Nibbles): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class BatchTrie {
  private root: Ref | null;
  private readonly load: NodeLoader;
  /** New nodes, filled by `commit()` and `commitRef()`. */
  readonly nodes = new NewNodes();
  private readonly decoded: DecodedNodes | undefined;

  constructor(root: Uint8Array, load: NodeLoader, decoded?: DecodedNodes) {
    this.load = load;
    this.decoded = decoded;
    this.root = equals(root, EMPTY_ROOT) ? null : root;
  }

  /**
   * The subtree under one child of a branch, given as the branch holds it: a 32-byte hash, an embedded node's
   * encoding (under 32 bytes), or null for no child. Keys are then nibble paths below that branch (`putPath`), and
   * `commitRef` gives the reference the branch must hold afterwards. Subtrees under different children share no
   * node, so they can be updated on different threads.
   */
  static below(ref: Uint8Array | null, load: NodeLoader, decoded?: DecodedNodes): BatchTrie {
    const t = new BatchTrie(EMPTY_ROOT, load, decoded);
    t.root = ref === null ? null : refOf(ref);
    return t;
  }

  /**
   * The children of the root as the root branch holds them (see `below`), or undefined when the root is not a
   * branch without a value (a trie this small is not worth splitting).
   */
  rootChildren(): (Uint8Array | null)[] | undefined {
    if (this.root === null) return undefined;
    const node = this.resolve(this.root);
    if (node.t !== 2 || node.value !== null) return undefined;
    return node.children.map((c) => (c === null ? null : this.childRef(c)));
  }

  /**
   * Replace the root by a branch holding `children` (references as `commitRef` returns them). Undefined, and the
   * trie unchanged, if fewer than two children remain: the root would then have to collapse into its only child.
   */
  setRootChildren(children: (Uint8Array | null)[]): true | undefined {
    if (children.filter((c) => c !== null).length < 2) return undefined;
    this.root = { t: 2, children: children.map((c) => (c === null ? null : refOf(c))), value: null };
    return true;
  }

  /** Set the value at a nibble path (each byte 0..15) below this trie's root; an empty value deletes. */
  putPath(path: Uint8Array, value: Uint8Array): void {
    this.root = value.length === 0 ? this.del(this.root, path) : this.ins(this.root, path, value);
  }

  /** Hash every changed node once; the root's reference as a parent branch holds it (see `below`). */
  commitRef(): Uint8Array | null {
    if (this.root === null) return null;
    const r = this.childRef(this.root);
    if (r.length === 32) this.root = r;
    return r;
  }

  private resolve(ref: Ref): Node {
    if (!(ref instanceof Uint8Array)) return ref;
    const known = this.decoded?.get(ref);
    if (known !== undefined) return known;
    const h = hex(ref);
    const raw = this.nodes.get(h) ?? this.load(h, ref);
    if (raw === undefined) throw new Error(`trie node ${h} is missing from the database`);
    const node = decodeNode(RLP.decode(raw) as RlpItem[]);
    this.decoded?.set(ref, node);
    return node;
  }

  /** Set `key` (already hashed) to `value`; an empty value deletes. */
  put(key: Uint8Array, value: Uint8Array): void {
    this.putPath(toNibbles(key), value);
  }

  private ins(ref: Ref | null, path: Nibbles, value: Uint8Array): Node {
    if (ref === null) return { t: 0, path, value };
    const node = this.resolve(ref);
    if (node.t === 2) {
      if (path.length === 0) return { t: 2, children: node.children, value };
      const children = node.children.slice();
      children[path[0]] = this.ins(children[path[0]], path.subarray(1), value);
      return { t: 2, children, value: node.value };
    }
    const cp = commonPrefix(node.path, path);
    if (node.t === 0 && cp === node.path.length && cp === path.length) return { t: 0, path, value };
    if (node.t === 1 && cp === node.path.length) {
      return { t: 1, path: node.path, child: this.ins(node.child, path.subarray(cp), value) };
    }
    // Split at the first differing nibble: a branch, under an extension if they share a prefix.
    const branch: Branch = { t: 2, children: new Array(16).fill(null), value: null };
    const rest = node.path.subarray(cp);
    if (rest.length === 0) {
      branch.value = (node as Leaf).value; // only a leaf can end exactly here
    } else if (node.t === 0) {
      branch.children[rest[0]] = { t: 0, path: rest.subarray(1), value: node.value };
    } else {
      branch.children[rest[0]] = rest.length === 1 ? node.child : { t: 1, path: rest.subarray(1), child: node.child };
    }
    const mine = path.subarray(cp);
    if (mine.length === 0) branch.value = value;
    else branch.children[mine[0]] = { t: 0, path: mine.subarray(1), value };
    return cp === 0 ? branch : { t: 1, path: path.subarray(0, cp), child: branch };
  }

  private del(ref: Ref | null, path: Nibbles): Node | null {
    if (ref === null) return null;
    const node = this.resolve(ref);
    if (node.t === 0) return equalNibbles(node.path, path) ? null : node;
    if (node.t === 1) {
      const cp = commonPrefix(node.path, path);
      if (cp < node.path.length) return node;
      const child = this.del(node.child, path.subarray(cp));
      if (child === null) return null;
      return this.joinPath(node.path, child);
    }
    const children = node.children.slice();
    let value = node.value;
    if (path.length === 0) value = null;
    else {
      if (children[path[0]] === null) return node;
      children[path[0]] = this.del(children[path[0]], path.subarray(1));
    }
    // Normalise: a branch left with one child and no value, or only a value, is no branch.
    let count = 0;
    let only = -1;
    for (let i = 0; i < 16; i++) if (children[i] !== null) ((count += 1), (only = i));
    if (value !== null && count === 0) return { t: 0, path: EMPTY, value };
    if (value === null && count === 1) {
      const child = this.resolve(children[only]!);
      return this.joinPath(Uint8Array.of(only), child);
    }
    if (value === null && count === 0) return null;
    return { t: 2, children, value };
  }

  /** A node reached through `prefix`: merge the prefix into a leaf or extension, or put an extension above a branch. */
  private joinPath(prefix: Nibbles, child: Node): Node {
    if (child.t === 0) return { t: 0, path: concatNibbles(prefix, child.path), value: child.value };
    if (child.t === 1) return { t: 1, path: concatNibbles(prefix, child.path), child: child.child };
    return { t: 1, path: prefix, child };
  }

  /** Hash every changed node once; returns the new root. New nodes are in `nodes`. */
  commit(): Uint8Array {
    if (this.root === null) return EMPTY_ROOT;
    if (this.root instanceof Uint8Array) return this.root;
    const encoded = this.encode(this.root);
    const h = keccak256(encoded);
    this.stored(h, encoded);
    this.root = h;
    return h;
  }

  /**
   * The node `encode` just wrote, as later blocks should find it decoded: its hashed children as hash references,
   * not this block's in-memory subtree (which would keep every later tree alive through the cache).
   */
  private flat: Node | undefined;

  private stored(h: Uint8Array, encoded: Uint8Array): void {
    this.nodes.add(h, encoded);
    if (this.decoded !== undefined) this.decoded.set(h, this.flat!);
  }

  /** A child in the copy kept decoded: a hash reference for a hashed child, the node itself if embedded. */
  private static kept(c: Ref, r: Uint8Array): Ref {
    return c instanceof Uint8Array || r.length < 32 ? c : r;
  }

  /**
   * A node's RLP encoding, written straight into one buffer (the generic encoder's nested arrays and concatenations
   * were most of the state-root time). Children of 32 bytes or more are hashed and stored.
   */
  private encode(node: Node): Uint8Array {
    const keep = this.decoded !== undefined;
    if (node.t === 0) {
      const hp = hexPrefix(node.path, true);
      const payload = rlpStringLength(hp) + rlpStringLength(node.value);
      const out = listBuffer(payload);
      writeRlpString(out, writeRlpString(out, out.length - payload, hp), node.value);
      if (keep) this.flat = node;
      return out;
    }
    if (node.t === 1) {
      const hp = hexPrefix(node.path, false);
      const child = this.childRef(node.child);
      const payload = rlpStringLength(hp) + refLength(child);
      const out = listBuffer(payload);
      writeRef(out, writeRlpString(out, out.length - payload, hp), child);
      if (keep) this.flat = { t: 1, path: node.path, child: BatchTrie.kept(node.child, child) };
      return out;
    }
    const refs: (Uint8Array | null)[] = new Array(16);
    let payload = rlpStringLength(node.value ?? EMPTY);
    for (let i = 0; i < 16; i++) {
      const c = node.children[i];
      const r = c === null ? null : this.childRef(c);
      refs[i] = r;
      payload += r === null ? 1 : refLength(r);
    }
    const out = listBuffer(payload);
    let pos = out.length - payload;
    for (let i = 0; i < 16; i++) {
      const r = refs[i];
      if (r === null) out[pos++] = 0x80;
      else pos = writeRef(out, pos, r);
    }
    writeRlpString(out, pos, node.value ?? EMPTY);
    if (keep) {
      const children: (Ref | null)[] = new Array(16);
      for (let i = 0; i < 16; i++) {
        const c = node.children[i];
        children[i] = c === null ? null : BatchTrie.kept(c, refs[i]!);
      }
      this.flat = { t: 2, children, value: node.value };
    }
    return out;
  }

  /** A child as its parent holds it: its 32-byte hash, or its own encoding when shorter than 32 bytes (embedded). */
  private childRef(ref: Ref): Uint8Array {
    if (ref instanceof Uint8Array) return ref;
    const encoded = this.encode(ref);
    if (encoded.length < 32) return encoded;
    const h = keccak256(encoded);
    this.stored(h, encoded);
    return h;
  }
}

/** Encoded size of a child reference: a hash is a 32-byte string, an embedded node is placed as it is. */
function refLength(r: Uint8Array): number {
  return r.length === 32 ? 33 : r.length;
}

/**
 * Node encodings are carved out of shared slabs: a block writes thousands, and a typed array of its own each (an
 * off-heap backing store apiece) cost more than the hashing. A slab lives as long as any node cut from it; the
 * nodes go to the block's write batch and are dropped after it.
 */
const nodeSlab = new Slab(1 << 17, 1 << 13);
function alloc(size: number): Uint8Array {
  return nodeSlab.take(size);
}

/** A buffer for a list of `payload` bytes, its header already written (the payload goes at the end). */
function listBuffer(payload: number): Uint8Array {
  const out = alloc(rlpListLength(payload));
  writeRlpListHeader(out, 0, payload);
  return out;
}

function writeRef(out: Uint8Array, pos: number, r: Uint8Array): number {
  if (r.length === 32) return writeRlpString(out, pos, r);
  out.set(r, pos);
  return pos + r.length;
}

function equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function equalNibbles(a: Nibbles, b: Nibbles): boolean {
  return equals(a, b);
}

function concatNibbles(a: Nibbles, b: Nibbles): Nibbles {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
