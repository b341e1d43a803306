/** Opening the key-value database behind a `StateStore`: LevelDB on disk, or memory for throwaway runs. */
import { Level } from 'level';
import { MemoryLevel } from 'memory-level';
import type { KVStore } from './store.ts';

export const MEMORY = ':memory:';

/** Keys and values as Uint8Array views, as the store reads and writes them. */
const VIEW = { keyEncoding: 'view', valueEncoding: 'view' } as const;

/**
 * A LevelDB at `location` (created if missing), or an in-memory database for `:memory:`. Not yet opened.
 * LevelDB is opened with classic-level's `multithreading`, so that execution workers can open the same database and
 * read committed state on their own thread (see `openSharedReader`).
 */
export function createDatabase(location: string): KVStore {
  if (location === MEMORY) return new MemoryLevel<Uint8Array, Uint8Array>(VIEW) as unknown as KVStore;
  const db = new Level<Uint8Array, Uint8Array>(location, { ...VIEW, multithreading: true } as typeof VIEW);
  return Object.assign(db as unknown as KVStore, { sharedLocation: location });
}

/**
 * A handle on a LevelDB another thread of this process opened with `createDatabase` (never creates one): for reads of
 * committed state, and for the block batches the store hands to a worker (see `StateStore.writeOn`).
 */
export async function openSharedReader(location: string): Promise<Pick<KVStore, 'getSync' | 'close' | 'batch'>> {
  const db = new Level<Uint8Array, Uint8Array>(location, { ...VIEW, multithreading: true, createIfMissing: false } as typeof VIEW);
  await db.open();
  return db as unknown as Pick<KVStore, 'getSync' | 'close' | 'batch'>;
}
