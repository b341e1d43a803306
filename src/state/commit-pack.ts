/**
 * A block's changed accounts and slots packed into one buffer: the form in which a committed block reaches the
 * execution workers' caches (one shared buffer for every worker: a structured clone of thousands of [key, bytes]
 * pairs per worker cost the main thread more) and the thread that writes the block's batch (block-write.ts).
 *
 * `accounts`: per account, its address (20 bytes), the record's length (2 bytes, big-endian; 0: no account) and the
 * record (RLP). `slots`: per slot, the address (20), the slot (32), the value's length (1) and the value (leading
 * zeros stripped; empty: zero, no record).
 */
import { ByteWriter } from '../util/byte-writer.ts';

export interface CommitPack {
  accounts: Uint8Array;
  slots: Uint8Array;
}

/** One half of a pack, written as entries come (see `CommitPacker`). */
class PackHalf extends ByteWriter {
  /** `buf` as a Buffer, for its hex writes (made again when `buf` grows). */
  private view = Buffer.alloc(0);

  hex(h: string, bytes: number): void {
    this.room(bytes);
    if (this.view.buffer !== this.buf.buffer) this.view = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const n = this.view.write(h, this.pos, bytes, 'hex');
    if (n !== bytes) throw new RangeError(`expected ${bytes} bytes of hex, got "${h}"`);
    this.pos += bytes;
  }

  account(addr: string, rlp: Uint8Array | null): void {
    const n = rlp?.length ?? 0;
    if (n > 0xffff) throw new RangeError(`account record of 0x${addr} is ${n} bytes`);
    this.hex(addr, 20);
    this.room(2 + n);
    this.buf[this.pos++] = n >>> 8;
    this.buf[this.pos++] = n & 255;
    if (rlp !== null) this.bytes(rlp);
  }

  slot(addr: string, slot: string, value: Uint8Array): void {
    if (value.length > 32) throw new RangeError(`slot value of 0x${addr} is ${value.length} bytes`);
    this.hex(addr, 20);
    this.hex(slot, 32);
    this.room(1 + value.length);
    this.short(value);
  }

  /** What was written, in shared memory (every worker reads the same bytes). */
  shared(): Uint8Array {
    const out = new Uint8Array(new SharedArrayBuffer(Math.max(1, this.pos)), 0, this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }
}

/** Builds a `CommitPack` one account and one slot at a time, in any order between the two. */
export class CommitPacker {
  private readonly a = new PackHalf();
  private readonly s = new PackHalf();

  /** `rlp`: the account's record, or null for no account. */
  account(addr: string, rlp: Uint8Array | null): void {
    this.a.account(addr, rlp);
  }

  /** `value`: the slot's value, leading zeros stripped (empty: zero). */
  slot(addr: string, slot: string, value: Uint8Array): void {
    this.s.slot(addr, slot, value);
  }

  finish(): CommitPack {
    return { accounts: this.a.shared(), slots: this.s.shared() };
  }
}

const NO_BYTES = new Uint8Array(0);

/**
 * The pack's entries where they are: each account's at offset `o` of `p.accounts` with a record of `n` bytes (0: no
 * account) after its 22-byte head, each slot's at `o` of `p.slots` with a value of `n` bytes after its 53-byte head.
 */
function walk(p: CommitPack, account: (o: number, n: number) => void, slot: (o: number, n: number) => void): void {
  const { accounts: a, slots: s } = p;
  for (let o = 0; o < a.length; ) {
    const n = (a[o + 20] << 8) | a[o + 21];
    account(o, n);
    o += 22 + n;
  }
  for (let o = 0; o < s.length; ) {
    const n = s[o + 52];
    slot(o, n);
    o += 53 + n;
  }
}

/** Every account and slot of a pack, in the order packed, by hex (records and values are views into the pack). */
export function unpackCommit(p: CommitPack, account: (addr: string, rlp: Uint8Array | null) => void, slot: (addr: string, slot: string, value: Uint8Array) => void): void {
  const { accounts: a, slots: s } = p;
  const ab = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const sb = Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  walk(
    p,
    (o, n) => account(ab.toString('hex', o, o + 20), n === 0 ? null : a.subarray(o + 22, o + 22 + n)),
    (o, n) => slot(sb.toString('hex', o, o + 20), sb.toString('hex', o + 20, o + 52), n === 0 ? NO_BYTES : s.subarray(o + 53, o + 53 + n)),
  );
}

/**
 * Every account and slot of a pack, in the order packed, as bytes: `address` (20 bytes), `addressSlot` (the address
 * and the slot, 52 bytes: a storage key without its prefix); all views into the pack.
 */
export function eachPacked(
  p: CommitPack,
  account: (address: Uint8Array, rlp: Uint8Array | null) => void,
  slot: (addressSlot: Uint8Array, value: Uint8Array) => void,
): void {
  const { accounts: a, slots: s } = p;
  walk(
    p,
    (o, n) => account(a.subarray(o, o + 20), n === 0 ? null : a.subarray(o + 22, o + 22 + n)),
    (o, n) => slot(s.subarray(o, o + 52), n === 0 ? NO_BYTES : s.subarray(o + 53, o + 53 + n)),
  );
}
