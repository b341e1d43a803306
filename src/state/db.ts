/** Opening the key-value database behind a `StateStore`: LevelDB on disk, or memory for throwaway runs. */
import { Level } from 'level';
import { MemoryLevel } from 'memory-level';
import type { KVStore } from './store.ts';

export const MEMORY = ':memory:';

/** A LevelDB at `location` (created if missing), or an in-memory database for `:memory:`. Not yet opened. */
export function createDatabase(location: string): KVStore {
  const opts = { keyEncoding: 'view', valueEncoding: 'view' } as const;
  const db = location === MEMORY ? new MemoryLevel<Uint8Array, Uint8Array>(opts) : new Level<Uint8Array, Uint8Array>(location, opts);
  return db as unknown as KVStore;
}
