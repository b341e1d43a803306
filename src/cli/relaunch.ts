/**
 * The V8 heap settings Parallax runs with, applied by starting the process again with them (`process.execve`: same
 * process id, same arguments and environment) before the program loads.
 *
 * Why: a block's data (the workers' results, the block's writes, its trie nodes, its receipts) lives for the whole
 * block, a few hundred milliseconds at full load, so it survives the young-generation collections that come during
 * the block and is copied, often twice. With V8's default semi-space (it grows to 64 MiB), the main thread collected
 * every ~250 ms during the transfers benchmark and each collection copied ~19 MB, ~80 us of CPU per transaction on
 * the main thread and V8's helper threads together. A fixed 128 MiB semi-space halves the number of collections and
 * the copies with them (callgrind over the measured blocks: 18.65 billion instructions against 20.70; see
 * docs/performance.md, "What removed the hot spots"). The price is memory: each isolate (the main thread and every
 * worker) may use up to twice its semi-space for its young objects, 256 MiB at 128. 256 MiB (2026-12-08) took 3% off
 * the ERC-20 blocks' time in lab runs but added 9% to the mainnet fixtures' in the benchmark, and 0.4-0.7 GB of RSS
 * (docs/performance.md, "Tried and not kept").
 *
 * `PARALLAX_SEMI_SPACE_MB` sets the size (0: V8's own sizing). Flags given to Node by hand (`--min-semi-space-size` or
 * `--max-semi-space-size`, on the command line or in NODE_OPTIONS) win: nothing is relaunched then.
 */

/** Semi-space size in MiB when PARALLAX_SEMI_SPACE_MB is not set. */
export const DEFAULT_SEMI_SPACE_MB = 128;

/** Largest accepted value: V8 takes larger ones, but past this the copies of a collection cost more than they save. */
export const MAX_SEMI_SPACE_MB = 1024;

const SEMI_SPACE_FLAG = /^--(min|max)[-_]semi[-_]space[-_]size(=|$)/;

/**
 * The semi-space size (MiB) to relaunch with, or 0 for none; a bad value is an error naming the variable (checked
 * before anything else runs, so a typo is not silently ignored).
 */
export function semiSpaceMb(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PARALLAX_SEMI_SPACE_MB;
  if (raw === undefined || raw.trim() === '') return DEFAULT_SEMI_SPACE_MB;
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 0 || mb > MAX_SEMI_SPACE_MB) {
    throw new Error(`PARALLAX_SEMI_SPACE_MB must be a whole number of MiB from 0 (V8's own sizing) to ${MAX_SEMI_SPACE_MB}, not '${raw}'`);
  }
  return mb;
}

/** The semi-space flags were given to this Node already (command line or NODE_OPTIONS). */
function flagsGiven(): boolean {
  const fromOptions = (process.env.NODE_OPTIONS ?? '').split(/\s+/);
  return [...process.execArgv, ...fromOptions].some((a) => SEMI_SPACE_FLAG.test(a));
}

/**
 * Start this process again as `node <semi-space flags> <its Node flags> <script> <its arguments>` when it was not
 * started with semi-space flags; returns when nothing is to be done (size 0, flags given, or a platform without
 * `process.execve`, such as Windows). On a bad PARALLAX_SEMI_SPACE_MB it prints the reason and exits with status 2.
 */
export function relaunchWithHeapSettings(script: string): void {
  let mb: number;
  try {
    mb = semiSpaceMb();
  } catch (e) {
    process.stderr.write(`parallax: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (mb === 0 || flagsGiven() || typeof process.execve !== 'function') return;
  const flags = [`--min-semi-space-size=${mb}`, `--max-semi-space-size=${mb}`];
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, script, ...process.argv.slice(2)], process.env);
}
