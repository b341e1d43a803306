/**
 * Conflict detector: predicts each transaction's access set before execution and partitions the block.
 *
 * Predicted keys: the sender (its nonce and balance always change), the recipient when value moves, the address a
 * creation will occupy, access-list entries, and hints learned from earlier blocks: per contract and function
 * selector, the storage slots and accounts that made earlier speculative runs conflict. Transactions whose predicted
 * sets intersect are grouped (union-find: a group is a whole component of the predicted keys, however large) and run
 * in block order on one worker; groups are spread over the workers by expected cost (longest first onto the least
 * loaded worker), and a worker that runs out of work takes groups nobody has started (see `RunTable`), so a wrong
 * cost estimate leaves no worker idle. A group is never split to balance the workers: its transactions are predicted
 * to depend on each other, and a run apart from the writes it depends on fails validation (see `Partitioner`). A
 * wrong prediction costs a re-execution, never a wrong result: the rollback manager validates every speculative run
 * against the state it should have seen.
 */
import type { TypedTransaction } from '@ethereumjs/tx';
import { Capability } from '@ethereumjs/tx';
import { createContractAddress, equalsBytes } from '@ethereumjs/util';
import { keccak256 } from '../crypto/index.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import { addressHex, fromHex, hex } from '../util/bytes.ts';

export interface PartitionStats {
  groups: number;
  largestGroup: number;
  /** Share of transactions outside the largest group: what the prediction lets run side by side. */
  predictedParallelFraction: number;
  /**
   * The most loaded worker's share of the block's expected gas (1 / workers when the groups spread evenly, 1 when one
   * worker gets everything): what speculation could gain at best is 1 / this.
   */
  heaviestShare: number;
  /** The block's expected gas (learned per call, else the gas limit; 21,000 for a plain transfer) per transaction. */
  expectedGasPerTx: number;
}

export interface Partition {
  /** Per worker, the transaction indices it runs, in block order. */
  assignment: number[][];
  /** Per transaction, the keys predicted (the engine prefetches their values for the workers). */
  predicted: string[][];
  /** The groups' transactions (each in block order), groups in the order of their first transactions. */
  groups: number[][];
  stats: PartitionStats;
}

/** What a call without data uses when the recipient has no code. */
const PLAIN_TRANSFER_GAS = 21_000n;

/** Call keys by transaction: the partition and the rollback manager both ask for each one. */
const CALL_KEYS = new WeakMap<TypedTransaction, string>();

/**
 * What earlier blocks taught about contention.
 *
 * Storage slots of Solidity mappings are keccak(key ++ base slot); when a conflicting slot matches that shape for the
 * sender or a calldata word, the hint is a pattern (contract, source, base): it predicts the exact slot for every
 * later call of the same function, e.g. both balances an ERC-20 transfer touches. Other conflicting keys (a pool's
 * reserves, an account) are remembered literally, filed under the function and the addresses its calldata names,
 * so a swap on one pool does not inherit the keys of another.
 */
export class HintBook {
  private patterns = new Map<string, { contract: string; source: number; base: number }[]>();
  private literal = new Map<string, Map<string, number>>();
  /** Gas used per call key (a running average), for calls whose use the defaults do not predict; bounded. */
  private gas: BoundedCache<bigint>;
  private readonly maxKeys: number;
  /**
   * Bumped whenever the predicted keys can change (a pattern or a literal key added or dropped; gas estimates, which
   * only weigh groups, do not count): a partition computed at an earlier version may be stale.
   */
  version = 0;
  constructor(maxKeysPerCall = 32, maxGasEntries = 100_000) {
    this.maxKeys = maxKeysPerCall;
    this.gas = new BoundedCache(maxGasEntries);
  }

  /** Forget everything learned. */
  clear(): void {
    this.patterns.clear();
    this.literal.clear();
    this.gas.clear();
    this.version++;
  }

  /** Contract + function selector of a call (undefined for creations). */
  static callKey(tx: TypedTransaction): string | undefined {
    if (tx.to === undefined) return undefined;
    let key = CALL_KEYS.get(tx);
    if (key === undefined) {
      key = addressHex(tx.to) + (tx.data.length >= 4 ? hex(tx.data.subarray(0, 4)) : '');
      CALL_KEYS.set(tx, key);
    }
    return key;
  }

  /** The call key plus the addresses its calldata names (other than the sender). */
  private static signature(tx: TypedTransaction, call: string, sender: string): string {
    const addrs: string[] = [];
    for (let off = 4; off + 32 <= tx.data.length; off += 32) {
      const w = tx.data.subarray(off, off + 32);
      let lead = 0;
      while (lead < 12 && w[lead] === 0) lead++;
      // An address-like word: 12 zero bytes, then 20 bytes whose top 8 are not all zero (not a small amount).
      if (lead === 12 && (w[12] | w[13] | w[14] | w[15] | w[16] | w[17] | w[18] | w[19]) !== 0) {
        const a = hex(w.subarray(12));
        if (a !== sender) addrs.push(a);
      }
    }
    return call + ':' + addrs.sort().join(',');
  }

  private static words(tx: TypedTransaction, sender: string): Uint8Array[] {
    const words = [fromHex(sender.padStart(64, '0'))];
    for (let off = 4; off + 32 <= tx.data.length && words.length < 12; off += 32) words.push(tx.data.subarray(off, off + 32));
    return words;
  }

  /** Remember that `tx` (sent by `sender`) took part in a conflict on `key` (an overlay tracking key). */
  learnConflict(tx: TypedTransaction, sender: string, key: string): void {
    const call = HintBook.callKey(tx);
    if (call === undefined) return;
    // A balance conflict is filed as its account: the predicted keys name accounts (a sender, a value's recipient).
    if (key[0] === 'b') key = 'a' + key.slice(1);
    const sig = HintBook.signature(tx, call, sender);
    let m = this.literal.get(sig);
    const count = m?.get(key);
    if (count !== undefined) {
      // Filed literally for this signature already: the search below found no mapping pattern for it (up to 192
      // hashes), and would not now, the addresses in the calldata being the same.
      m!.set(key, count + 1);
      return;
    }
    if (key[0] === 's') {
      const contract = key.slice(1, 41);
      const slot = fromHex(key.slice(41));
      const words = HintBook.words(tx, sender);
      // Under contention the same keys conflict block after block: a pattern this call has already learned that names
      // the key settles it with one hash instead of a search of up to 192.
      for (const p of this.patterns.get(call) ?? []) {
        const w = words[p.source + 1];
        if (p.contract === contract && w !== undefined && equalsBytes(mappingSlot(w, p.base), slot)) return;
      }
      for (let source = 0; source < words.length; source++) {
        for (let base = 0; base < 16; base++) {
          if (equalsBytes(mappingSlot(words[source], base), slot)) {
            const list = this.patterns.get(call) ?? [];
            if (!list.some((p) => p.contract === contract && p.source === source - 1 && p.base === base)) {
              list.push({ contract, source: source - 1, base });
              this.patterns.set(call, list);
              this.version++;
            }
            return;
          }
        }
      }
    }
    if (m === undefined) {
      m = new Map();
      this.literal.set(sig, m);
    }
    this.version++;
    m.set(key, 1);
    if (m.size > this.maxKeys) {
      let worst: string | undefined;
      let min = Infinity;
      for (const [k, c] of m) if (c < min) ((min = c), (worst = k));
      if (worst !== undefined) m.delete(worst);
    }
  }

  learnGas(call: string | undefined, gas: bigint): void {
    if (call === undefined) return;
    const prev = this.gas.get(call);
    // A plain transfer's 21,000 is what `expectedGas` assumes for a call without data: one entry per recipient
    // would only grow the book.
    if (prev === undefined && gas === PLAIN_TRANSFER_GAS) return;
    this.gas.set(call, prev === undefined ? gas : (prev * 3n + gas) / 4n);
  }

  /** The keys learned hints predict for `tx` (`call`: its `callKey`, when the caller has it already). */
  predictKeys(tx: TypedTransaction, sender: string, call: string | undefined = HintBook.callKey(tx)): string[] {
    if (call === undefined) return [];
    const keys: string[] = [];
    const patterns = this.patterns.get(call);
    if (patterns !== undefined) {
      const words = HintBook.words(tx, sender);
      for (const p of patterns) {
        const w = words[p.source + 1];
        if (w !== undefined) keys.push('s' + p.contract + hex(mappingSlot(w, p.base)));
      }
    }
    // Nothing filed literally yet (a block before any conflict): no signature to compute.
    const lit = this.literal.size === 0 ? undefined : this.literal.get(HintBook.signature(tx, call, sender));
    if (lit !== undefined) for (const k of lit.keys()) keys.push(k);
    return keys;
  }

  expectedGas(tx: TypedTransaction, call: string | undefined): bigint {
    return (call !== undefined ? this.gas.get(call) : undefined) ?? (tx.to === undefined || tx.data.length > 0 ? tx.gasLimit : PLAIN_TRANSFER_GAS);
  }
}

/** keccak256(word ++ uint256(base)): the slot of mapping entry `word` for a mapping declared at slot `base`. */
function mappingSlot(word: Uint8Array, base: number): Uint8Array {
  const buf = new Uint8Array(64);
  buf.set(word, 0);
  buf[63] = base;
  return keccak256(buf);
}

class UnionFind {
  parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]];
      i = this.parent[i];
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/**
 * The keys a transaction is predicted to write or depend on. `sender` is the recovered sender (hex); `call` its
 * `HintBook.callKey`, when the caller has it already (it starts with the recipient's address in hex).
 */
export function predictAccess(tx: TypedTransaction, sender: string, hints: HintBook, call: string | undefined = HintBook.callKey(tx)): string[] {
  const keys = ['a' + sender];
  if (tx.to === undefined) {
    keys.push('a' + hex(createContractAddress(tx.getSenderAddress(), tx.nonce).bytes));
  } else if (tx.value > 0n) {
    keys.push('a' + call!.slice(0, 40));
  }
  if (tx.supports(Capability.EIP2930AccessLists)) {
    for (const [addr, slots] of (tx as unknown as { accessList: [Uint8Array, Uint8Array[]][] }).accessList) {
      const a = hex(addr);
      if (slots.length === 0) keys.push('a' + a);
      for (const s of slots) keys.push('s' + a + hex(s));
    }
  }
  for (const k of hints.predictKeys(tx, sender, call)) keys.push(k);
  return keys;
}

/**
 * Groups transactions with intersecting predicted sets and spreads the groups over `workers`. Transactions are added
 * in block order as their senders become known (`add`), so that a block's partition can be built while its senders
 * are still being recovered; `finish` groups and assigns them.
 *
 * Until 2026-12-05 groups merged only up to a worker's share of the block, so that a few hot keys (Zipf-distributed
 * token holders) would not gather a whole block into one group; the transactions kept apart were the ones predicted
 * to depend on the full group, and nearly all of them failed validation and ran again on the main thread (the
 * generated ERC-20 blocks: 217-322 re-executions of 2,000, about as many as the transactions outside the largest
 * group; a Uniswap block 858). A block that one component dominates now runs on the main thread instead
 * (`SERIAL_LOAD_SHARE` in src/exec/plan.ts, on the partition's `heaviestShare`).
 */
export class Partitioner {
  /** Transactions added so far (the next `add` is for this index). */
  added = 0;
  private readonly txs: readonly TypedTransaction[];
  private readonly hints: HintBook;
  private readonly workers: number;
  private readonly uf: UnionFind;
  /** The first transaction (so far) predicted to touch each key. */
  private readonly owner = new Map<string, number>();
  private readonly cost: bigint[];
  private readonly predicted: string[][];

  constructor(txs: readonly TypedTransaction[], hints: HintBook, workers: number) {
    const n = txs.length;
    this.txs = txs;
    this.hints = hints;
    this.workers = workers;
    this.uf = new UnionFind(n);
    this.cost = new Array(n);
    this.predicted = new Array(n);
  }

  /** Add transaction `i` (the next one in block order) sent by `sender` (hex address). */
  add(i: number, sender: string): void {
    if (i !== this.added) throw new RangeError(`partition: transaction ${i} added out of order (expected ${this.added})`);
    this.added++;
    const { uf, owner } = this;
    const tx = this.txs[i];
    const call = HintBook.callKey(tx);
    this.cost[i] = this.hints.expectedGas(tx, call);
    const keys = (this.predicted[i] = predictAccess(tx, sender, this.hints, call));
    for (const k of keys) {
      const o = owner.get(k);
      if (o === undefined) {
        owner.set(k, i);
        continue;
      }
      uf.union(o, i);
    }
  }

  /** The partition of the whole block (every transaction added). */
  finish(): Partition {
    const n = this.txs.length;
    if (this.added !== n) throw new RangeError(`partition: ${this.added} of ${n} transactions added`);
    const { uf, cost, workers } = this;
    const groups = new Map<number, { txs: number[]; cost: bigint }>();
    for (let i = 0; i < n; i++) {
      const r = uf.find(i);
      let g = groups.get(r);
      if (g === undefined) {
        g = { txs: [], cost: 0n };
        groups.set(r, g);
      }
      g.txs.push(i);
      g.cost += cost[i];
    }
    const inOrder = [...groups.values()];
    const ordered = [...inOrder].sort((a, b) => (b.cost > a.cost ? 1 : b.cost < a.cost ? -1 : a.txs[0] - b.txs[0]));
    const load = new Array<bigint>(workers).fill(0n);
    const assignment: number[][] = Array.from({ length: workers }, () => []);
    for (const g of ordered) {
      let w = 0;
      for (let j = 1; j < workers; j++) if (load[j] < load[w]) w = j;
      load[w] += g.cost;
      for (const i of g.txs) assignment[w].push(i);
    }
    for (const a of assignment) a.sort((x, y) => x - y);
    const largest = ordered.length === 0 ? 0 : Math.max(...ordered.map((g) => g.txs.length));
    let total = 0n;
    let heaviest = 0n;
    for (const l of load) {
      total += l;
      if (l > heaviest) heaviest = l;
    }
    return {
      assignment,
      predicted: this.predicted,
      groups: inOrder.map((g) => g.txs),
      stats: {
        groups: groups.size,
        largestGroup: largest,
        predictedParallelFraction: n === 0 ? 0 : 1 - largest / n,
        heaviestShare: total === 0n ? 1 : Number((heaviest * 1_000_000n) / total) / 1_000_000,
        expectedGasPerTx: n === 0 ? 0 : Number(total) / n,
      },
    };
  }
}

/** Group transactions with intersecting predicted sets and spread the groups over `workers` (see `Partitioner`). */
export function partition(txs: readonly TypedTransaction[], senders: readonly string[], hints: HintBook, workers: number): Partition {
  const p = new Partitioner(txs, hints, workers);
  for (let i = 0; i < txs.length; i++) p.add(i, senders[i]);
  return p.finish();
}
