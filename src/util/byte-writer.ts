/**
 * Bytes written into one buffer that doubles as it fills: a message packed this way crosses threads as one transfer,
 * with no per-object cloning (a state-root shard job, a batch of receipt inputs).
 */
export class ByteWriter {
  protected buf = new Uint8Array(1 << 16);
  protected pos = 0;

  /** Room for `n` more bytes. */
  protected room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  protected bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A length byte, then `b`. */
  protected short(b: Uint8Array): void {
    this.buf[this.pos++] = b.length;
    this.bytes(b);
  }

  /** `n` as 4 big-endian bytes. */
  protected u32(n: number): void {
    const b = this.buf;
    b[this.pos] = n >>> 24;
    b[this.pos + 1] = (n >>> 16) & 255;
    b[this.pos + 2] = (n >>> 8) & 255;
    b[this.pos + 3] = n & 255;
    this.pos += 4;
  }

  /** What was written, as a buffer of its own. */
  protected written(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
