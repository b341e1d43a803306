/** Terminal output of the CLI: results go to stdout, problems to stderr. Library code never prints. */
import { writeFile } from 'node:fs/promises';

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function warn(line: string): void {
  process.stderr.write(line + '\n');
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? '0x' + Buffer.from(v).toString('hex') : v), 2);
  await writeFile(file, text + '\n');
}

/** Exit codes, documented in the README. */
export const EXIT = { OK: 0, MISMATCH: 1, BAD_INPUT: 2, INTERNAL: 3 } as const;

export function pad(s: string | number | bigint, n: number): string {
  return String(s).padStart(n);
}
