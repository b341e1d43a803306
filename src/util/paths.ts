import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** The project root (where package.json is). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared fixtures: $PARALLAX_FIXTURES, else ../shared/fixtures beside the project. */
export function fixturesDir(): string {
  return process.env.PARALLAX_FIXTURES ?? join(PROJECT_ROOT, '..', 'shared', 'fixtures');
}
