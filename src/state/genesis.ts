/**
 * Initial state from an allocation (geth genesis `alloc`, ethereum/tests `pre`, a fixture's `preState`), committed as
 * the store's first block so that everything after it goes through the same atomic commit and undo journal.
 */
import { Account, KECCAK256_NULL } from '@ethereumjs/util';
import { keccak256 } from '../crypto/index.ts';
import { ParallaxError } from '../errors.ts';
import { fromHex, hex, unpad } from '../util/bytes.ts';
import type { BlockRecord, StateStore } from './store.ts';
import type { StateDiff } from './types.ts';

export interface AllocAccount {
  balance?: string;
  nonce?: string;
  code?: string;
  storage?: Record<string, string>;
}
export type Alloc = Record<string, AllocAccount>;

const HEX = /^(0x)?[0-9a-fA-F]*$/;

function quantity(v: string | undefined, what: string): bigint {
  if (v === undefined || v === '' || v === '0x') return 0n;
  if (typeof v !== 'string' || !(HEX.test(v) || /^[0-9]+$/.test(v))) {
    throw new ParallaxError('FIXTURE_INVALID', `${what}: "${String(v)}" is not a number`, { what });
  }
  return BigInt(v.startsWith('0x') ? v : /^[0-9]+$/.test(v) ? v : '0x' + v);
}

function bytes(v: string | undefined, what: string): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string' || !HEX.test(v)) throw new ParallaxError('FIXTURE_INVALID', `${what}: not hex data`, { what });
  return fromHex(v);
}

function word(v: string, what: string): Uint8Array {
  const n = quantity(v, what);
  if (n >= 1n << 256n || n < 0n) throw new ParallaxError('FIXTURE_INVALID', `${what}: exceeds 32 bytes`, { what });
  return fromHex(n.toString(16).padStart(64, '0'));
}

/** Turn an allocation into a state diff (zero storage values are absent slots and are dropped). */
export function allocToDiff(alloc: Alloc, where: string): StateDiff {
  if (alloc === null || typeof alloc !== 'object') throw new ParallaxError('FIXTURE_INVALID', `${where}: allocation is not an object`);
  const diff: StateDiff = { accounts: new Map(), codes: new Map() };
  for (const [addrStr, a] of Object.entries(alloc)) {
    const what = `${where} account ${addrStr}`;
    const address = bytes(addrStr, what);
    if (address.length !== 20) throw new ParallaxError('FIXTURE_INVALID', `${what}: address is not 20 bytes`);
    if (a === null || typeof a !== 'object') throw new ParallaxError('FIXTURE_INVALID', `${what}: not an object`);
    const code = bytes(a.code, `${what} code`);
    const codeHash = code.length === 0 ? KECCAK256_NULL : keccak256(code);
    if (code.length > 0) diff.codes.set(hex(codeHash), code);
    const account = new Account(quantity(a.nonce, `${what} nonce`), quantity(a.balance, `${what} balance`), undefined, codeHash);
    const storage = new Map<string, Uint8Array>();
    for (const [k, v] of Object.entries(a.storage ?? {})) {
      const value = unpad(word(v, `${what} slot ${k}`));
      if (value.length > 0) storage.set(hex(word(k, `${what} slot key ${k}`)), value);
    }
    diff.accounts.set(hex(address), { address, account, storageCleared: false, storage });
  }
  return diff;
}

/** Commit an allocation as the first block of an empty store. Returns the committed record (with its state root). */
export async function commitGenesis(
  store: StateStore,
  alloc: Alloc,
  header: Omit<BlockRecord, 'stateRoot' | 'receiptsRoot' | 'logsBloom' | 'gasUsed' | 'txCount'>,
  where: string,
): Promise<BlockRecord> {
  if (store.head() !== undefined) {
    throw new ParallaxError('HEAD_MISMATCH', `cannot load ${where}: the database already holds state up to block ${store.head()!.number}`);
  }
  const diff = allocToDiff(alloc, where);
  const trie = await store.computeTrie(diff);
  const record: BlockRecord = {
    ...header,
    stateRoot: trie.stateRoot,
    receiptsRoot: fromHex('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421'),
    logsBloom: new Uint8Array(256),
    gasUsed: 0n,
    txCount: 0,
  };
  await store.commit({ record, diff, trie, receipts: [] });
  return record;
}
