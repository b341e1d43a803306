/**
 * The few shapes of @polkadot/types values that Parallax reads (structs, enums, options, vectors, numbers), typed
 * structurally so that values decoded with any runtime's metadata can be read without that runtime's generated types.
 */
export interface Codec {
  toU8a(bare?: boolean): Uint8Array;
  toJSON(): unknown;
  toString(): string;
}
export interface Struct extends Codec {
  get(name: string): Codec | undefined;
}
export interface Enum extends Codec {
  type: string;
  value: Codec;
  isEmpty: boolean;
}
export interface Opt<T> extends Codec {
  isSome: boolean;
  unwrap(): T;
}
export interface Vec<T> extends Codec, Iterable<T> {
  length: number;
}

/** A number (u8..u256 by toBigInt) or a big-endian hash (H256-typed r and s) as a bigint. */
export function bigOf(c: Codec): bigint {
  const n = (c as { toBigInt?: () => bigint }).toBigInt;
  if (typeof n === 'function') return n.call(c);
  const b = c.toU8a(true);
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}
