/**
 * Edits installed dependencies where Parallax cannot reach the code it needs to change from outside (a module-private
 * function of an ES module). Run by `npm install` / `npm ci` (postinstall) and by the Dockerfile. Each edit replaces
 * one exact line and is checked: a file already edited is left alone, and a file without the line (another version
 * of the package) is reported by name. Parallax runs the same without an edit, only slower; `--require` makes a
 * missing one an error (exit 1), and the test suite checks that the edits are in effect (test/dep-edits.test.ts).
 *
 *   node scripts/patch-deps.ts [--require]
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/util/paths.ts';

export interface DepEdit {
  /** The installed file, under node_modules. */
  file: string;
  /** The line as the package ships it: it must occur exactly once. */
  find: string;
  replace: string;
  why: string;
}

export const DEP_EDITS: DepEdit[] = [
  {
    file: '@ethereumjs/vm/dist/esm/runTx.js',
    find: '    const bloom = new Bloom(undefined, common);',
    replace: "    const bloom = globalThis[Symbol.for('parallax.skippedTxBloom')]?.() ?? new Bloom(undefined, common);",
    why: "runTx's logs bloom of a transaction whose receipt Parallax makes elsewhere is one shared empty bloom (src/exec/bloom.ts), not a new 256-byte array outside V8's heap per transaction",
  },
];

/** 'applied' now, 'present' already, or why it cannot be applied. */
export function applyEdit(e: DepEdit, root = PROJECT_ROOT): 'applied' | 'present' | string {
  const path = join(root, 'node_modules', e.file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `cannot read node_modules/${e.file}: ${(err as Error).message}`;
  }
  if (text.includes(e.replace)) return 'present';
  const at = text.indexOf(e.find);
  if (at < 0 || text.indexOf(e.find, at + e.find.length) >= 0) {
    return `node_modules/${e.file} does not have the line to edit exactly once (another version of the package?): ${e.find.trim()}`;
  }
  // Written beside it and renamed over it: the file is either the package's or the edited one, never half of each.
  const tmp = `${path}.parallax-tmp`;
  writeFileSync(tmp, text.slice(0, at) + e.replace + text.slice(at + e.find.length));
  renameSync(tmp, path);
  return 'applied';
}

if (import.meta.main) {
  const required = process.argv.includes('--require');
  let failed = false;
  for (const e of DEP_EDITS) {
    const r = applyEdit(e);
    if (r === 'applied' || r === 'present') {
      process.stdout.write(`patch-deps: ${e.file}: ${r === 'applied' ? 'edited' : 'already edited'} (${e.why})\n`);
    } else {
      failed = true;
      process.stderr.write(`patch-deps: ${r}; Parallax runs without this edit, only slower\n`);
    }
  }
  if (failed && required) process.exit(1);
}
