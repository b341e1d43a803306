/** SIGINT/SIGTERM: the first asks for an orderly stop (block in flight committed, database closed last), a second forces exit. */
import type { Logger } from '../log/index.ts';

export function stopSignal(log: Logger): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  let count = 0;
  const on = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      log.warn({ signal: sig }, 'stopping: finishing the block in flight, then closing (send again to force)');
      ac.abort();
    } else {
      log.error({ signal: sig }, 'forced exit: the database keeps its last committed block');
      process.exit(130);
    }
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}
