/**
 * @acala-network/chopsticks-core, loaded on demand. It reads its log level from `LOG_LEVEL` once, when first loaded,
 * and logs every block it builds at `info` through a pretty-printer thread; Parallax keeps it to errors (its own log
 * says what the local chain does). Loading it lazily also keeps its start-up cost out of commands that never use it.
 */
type Chopsticks = typeof import('@acala-network/chopsticks-core');

let loaded: Promise<Chopsticks> | undefined;

export function chopsticks(): Promise<Chopsticks> {
  if (loaded === undefined) {
    const before = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'error';
    loaded = import('@acala-network/chopsticks-core').finally(() => {
      if (before === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = before;
    });
  }
  return loaded;
}
