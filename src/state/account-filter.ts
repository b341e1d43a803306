/**
 * Which addresses may have an account: a Bloom filter over every address with an account record, so that a read of
 * an account that does not exist (a transfer's new recipient, a contract's new address, a call to an empty address)
 * is answered without LevelDB.
 *
 * LevelDB answers such a read only after asking the memtables and every table that could hold the key: each level-0
 * table (they all span the whole key range) and one table per deeper level, each with a table-cache lookup, an
 * index-block search and a filter check. In a profile of 40 blocks of 2,000 transfers to new accounts (2 workers),
 * those reads were 7.6 us of the main thread's CPU per transfer (validation reads the recipient again) and some 8 on
 * the workers, near all of them for keys that were not there.
 *
 * The bits live in a SharedArrayBuffer: the main thread, which alone writes state, sets them; the execution workers
 * read the same memory (see `AccountFilter.view`). An address's bits are set before the batch that creates its
 * account is written, so the filter always holds at least every account in the database; bits are never cleared (an
 * account deleted later only costs a LevelDB read again). The filter is built at open from the database's account
 * records and is never stored.
 *
 * Correctness rests on the main thread's view, which is always complete: a worker that reads a filter a moment older
 * than the database can only miss an account written meanwhile, and the run that read it fails validation on the main
 * thread like any other stale read.
 */

/** Filter bits per address it is sized for: with 4 probes, about 0.24% of absent addresses pass. */
const BITS_PER_ENTRY = 16;
const PROBES = 4;
/** Addresses the store's first filter is sized for: 2 MiB of bits. */
export const DEFAULT_FILTER_ENTRIES = 1 << 20;

/** The two hashes `hash` computed last (module state rather than a pair per call: lookups are hot). */
let h1 = 0;
let h2 = 0;

/** Two 32-bit hashes of an address in lowercase hex (40 digits) into h1, h2, each over every digit (FNV-1a, mixed). */
function hash(hexAddr: string): void {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < hexAddr.length; i++) {
    const c = hexAddr.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
    b ^= b >>> 13;
  }
  h1 = mix(a);
  h2 = mix(b) | 1;
}

/** Murmur3's finalizer: every input bit reaches every output bit. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class AccountFilter {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly mask: number;
  /** Addresses added that set at least one new bit: about how many distinct addresses it holds (main thread only). */
  added = 0;
  /** The number of addresses it was sized for. */
  readonly capacity: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.mask = buffer.byteLength * 8 - 1;
    this.capacity = (buffer.byteLength * 8) / BITS_PER_ENTRY;
  }

  /** An empty filter for at least `entries` addresses (a power of two of bits, 1,024 addresses' worth at least). */
  static create(entries: number): AccountFilter {
    let bits = 1024 * BITS_PER_ENTRY;
    while (bits < entries * BITS_PER_ENTRY) bits *= 2;
    return new AccountFilter(new SharedArrayBuffer(bits / 8));
  }

  /** A filter over the bits another thread's filter writes (see `buffer`). */
  static view(buffer: SharedArrayBuffer): AccountFilter {
    const bits = buffer.byteLength * 8;
    if (bits < 32 || (bits & (bits - 1)) !== 0) throw new RangeError(`an account filter's buffer holds a power of two of bits, not ${bits}`);
    return new AccountFilter(buffer);
  }

  /** Note that `hexAddr` (40 lowercase hex digits) has, or may have, an account. */
  add(hexAddr: string): void {
    hash(hexAddr);
    let fresh = false;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      const word = bit >>> 5;
      const m = 1 << (bit & 31);
      if ((this.words[word] & m) === 0) {
        Atomics.or(this.words, word, m);
        fresh = true;
      }
    }
    if (fresh) this.added++;
  }

  /** False only when `hexAddr` has no account (as far as the adds this thread sees go); true when it may have one. */
  mayContain(hexAddr: string): boolean {
    hash(hexAddr);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.words[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Holding more addresses than it was sized for (false positives grow from here on). */
  full(): boolean {
    return this.added > this.capacity;
  }
}
