/**
 * A block's receipts made off the main thread. On the main thread a transaction's receipt cost its logs bloom (a
 * Keccak-256 per log address and topic: four for an ERC-20 transfer), its RLP encoding and its place in the receipts
 * trie, and the trie's hashing at the block's end: in a lab run of the ERC-20 blocks with two workers, skipping all of
 * it (receipts left wrong) made the blocks 16-25% faster. So when the block runs beside idle workers, the main thread
 * only packs each transaction's outcome (type, status, the receipt's gas field, logs) into batches for one worker,
 * which makes the blooms, the encodings and the trie as the batches come in; at the block's end it has one batch left
 * to add before the root. The same code builds them on the main thread when no worker can (see executor.ts).
 *
 * Batch format, per transaction: type (1 byte); 0 or 1 (the status) or 2 followed by a 32-byte state root
 * (pre-Byzantium); the receipt's cumulative gas field (a length byte, then its bytes as they are encoded); the number
 * of logs (4 bytes); per log the 20-byte address, the number of topics (1 byte), the 32-byte topics, the data's length
 * (4 bytes) and the data.
 */
import type { Log } from '@ethereumjs/evm';
import { keccak256 } from '../crypto/index.ts';
import { BatchTrie, EMPTY_ROOT } from '../state/mpt.ts';
import { setBloomBits } from '../util/bloom-bits.ts';
import { ByteWriter } from '../util/byte-writer.ts';
import { readU32 } from '../util/bytes.ts';
import { encodeRlp, encodeRlpTransient, uintBytes, type RlpInput } from '../util/rlp.ts';

/** What a receipt is made of (see `TxOutcome`). */
export interface ReceiptInput {
  type: number;
  status: 0 | 1;
  stateRoot?: Uint8Array;
  logs: Log[];
}

/** A block's receipts: root, block bloom, each encoding (`encoded` cut at `ends`) and each bloom (256 bytes apiece). */
export interface ReceiptsResult {
  root: Uint8Array;
  bloom: Uint8Array;
  count: number;
  encoded: Uint8Array;
  ends: Uint32Array;
  blooms: Uint8Array;
}

/** A receipt's status field as @ethereumjs/vm's encodeReceipt writes it (status 0 is the empty string). */
const STATUS_OK = Uint8Array.of(1);
const STATUS_FAILED = new Uint8Array(0);

/** A receipt's first field: the state root after the transaction (before Byzantium), else its status. */
export function statusField(o: { status: 0 | 1; stateRoot?: Uint8Array }): Uint8Array {
  return o.stateRoot ?? (o.status === 0 ? STATUS_FAILED : STATUS_OK);
}

/** A receipt's cumulative gas field (bigIntToBytes encodes 0 as one zero byte, uintBytes as none: 0 takes the library's way). */
export function receiptGasField(gas: bigint): Uint8Array {
  return gas === 0n ? Uint8Array.of(0) : uintBytes(gas);
}

/** A receipt's consensus encoding (typed receipts prefixed by their type), in the receipts slab (see `encodeRlpTransient`). */
export function encodeReceipt(type: number, first: Uint8Array, gasField: Uint8Array, bloom: Uint8Array, logs: RlpInput[]): Uint8Array {
  return encodeRlpTransient([first, gasField, bloom, logs], type === 0 ? undefined : type);
}

/** Transaction `i`'s key in the block's receipts trie. */
export function receiptKey(i: number): Uint8Array {
  return encodeRlp(uintBytes(BigInt(i)));
}

/** Set in `bits` what a transaction's logs put in its logs bloom: each log's address and topics. */
export function addLogsBloom(bits: Uint8Array, logs: readonly (readonly [Uint8Array, readonly Uint8Array[], ...unknown[]])[]): void {
  for (const [address, topics] of logs) {
    setBloomBits(bits, keccak256(address));
    for (const t of topics) setBloomBits(bits, keccak256(t));
  }
}

/** Receipt inputs packed into batches (see the format above). */
export class ReceiptsPacker extends ByteWriter {
  /** Transactions in the current batch. */
  count = 0;

  /** Add one transaction's receipt input; `gasField` is its cumulative gas as the receipt encodes it. */
  add(o: ReceiptInput, gasField: Uint8Array): void {
    let size = 2 + 32 + 1 + gasField.length + 4;
    for (const [, topics, data] of o.logs) size += 20 + 1 + 32 * topics.length + 4 + data.length;
    this.room(size);
    this.buf[this.pos++] = o.type;
    if (o.stateRoot !== undefined) {
      this.buf[this.pos++] = 2;
      this.bytes(o.stateRoot);
    } else this.buf[this.pos++] = o.status;
    this.short(gasField);
    this.u32(o.logs.length);
    for (const [address, topics, data] of o.logs) {
      this.bytes(address);
      this.buf[this.pos++] = topics.length;
      for (const t of topics) this.bytes(t);
      this.u32(data.length);
      this.bytes(data);
    }
    this.count++;
  }

  /** The batch so far (a copy), and a new one begun. */
  take(): Uint8Array {
    const out = this.written();
    this.pos = 0;
    this.count = 0;
    return out;
  }
}

/** Builds a block's receipts from batches, in order; deterministic, so the same wherever it runs. */
export class ReceiptsBuilder {
  private readonly trie = new BatchTrie(EMPTY_ROOT, () => undefined);
  private readonly parts: Uint8Array[] = [];
  private readonly ends: number[] = [];
  private size = 0;
  private blooms = new Uint8Array(256 * 64);
  private readonly bloom = new Uint8Array(256);
  private index = 0;

  add(batch: Uint8Array): void {
    const d = batch;
    let p = 0;
    while (p < d.length) {
      const type = d[p++];
      const kind = d[p++];
      let first: Uint8Array;
      if (kind === 2) {
        first = d.subarray(p, p + 32);
        p += 32;
      } else if (kind === 0 || kind === 1) first = statusField({ status: kind });
      else throw new Error(`receipts batch: bad status byte ${kind} at ${p - 1}`);
      const gasField = d.subarray(p + 1, p + 1 + d[p]);
      p += 1 + d[p];
      const nLogs = readU32(d, p);
      p += 4;
      const i = this.index++;
      if (this.blooms.length < 256 * (i + 1)) {
        const bigger = new Uint8Array(this.blooms.length * 2);
        bigger.set(this.blooms);
        this.blooms = bigger;
      }
      const bits = this.blooms.subarray(256 * i, 256 * (i + 1));
      const logs: [Uint8Array, Uint8Array[], Uint8Array][] = new Array(nLogs);
      for (let l = 0; l < nLogs; l++) {
        const address = d.subarray(p, p + 20);
        p += 20;
        const nTopics = d[p++];
        const topics: Uint8Array[] = new Array(nTopics);
        for (let t = 0; t < nTopics; t++) {
          topics[t] = d.subarray(p, p + 32);
          p += 32;
        }
        const len = readU32(d, p);
        p += 4;
        logs[l] = [address, topics, d.subarray(p, p + len)];
        p += len;
      }
      if (p > d.length) throw new Error(`receipts batch: transaction ${i} runs past the batch's ${d.length} bytes`);
      addLogsBloom(bits, logs);
      if (nLogs > 0) for (let b = 0; b < 256; b++) this.bloom[b] |= bits[b];
      const encoded = encodeReceipt(type, first, gasField, bits, logs as RlpInput[]);
      this.trie.put(receiptKey(i), encoded);
      this.parts.push(encoded);
      this.size += encoded.length;
      this.ends.push(this.size);
    }
  }

  finish(): ReceiptsResult {
    const count = this.index;
    const encoded = new Uint8Array(this.size);
    let at = 0;
    for (const e of this.parts) {
      encoded.set(e, at);
      at += e.length;
    }
    return {
      root: count === 0 ? EMPTY_ROOT : this.trie.commit(),
      bloom: this.bloom,
      count,
      encoded,
      ends: Uint32Array.from(this.ends),
      blooms: this.blooms.slice(0, 256 * count),
    };
  }
}

/** The receipts' encodings, one view each, from a result. */
export function receiptEncodings(r: ReceiptsResult): Uint8Array[] {
  const out: Uint8Array[] = new Array(r.count);
  let from = 0;
  for (let i = 0; i < r.count; i++) {
    out[i] = r.encoded.subarray(from, r.ends[i]);
    from = r.ends[i];
  }
  return out;
}
