import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fill, generatedSections } from '../scripts/gen-docs.ts';
import { SCHEMA, envName } from '../src/config/index.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';

test('README: the configuration and metrics tables are the generated ones (node scripts/gen-docs.ts)', async () => {
  const readme = await readFile(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const sections = await generatedSections();
  assert.equal(fill(readme, sections), readme, 'README.md is out of date: run `node scripts/gen-docs.ts`');
  // Every key and its environment variable appear, and every metric the daemon declares.
  for (const s of SCHEMA) {
    assert.ok(readme.includes(`\`${s.path}\``), s.path);
    assert.ok(readme.includes(envName(s.path)), envName(s.path));
  }
  assert.match(sections.metrics, /parallax_block_execution_seconds/);
  assert.match(sections.metrics, /\| `parallax_rpc_errors_total` \| counter \| method \|/);
});

test('README: every CLI command is documented', async () => {
  const { buildProgram } = await import('../src/cli/main.ts');
  const readme = await readFile(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const names: string[] = [];
  for (const c of buildProgram().commands) {
    if (c.commands.length > 0) for (const sub of c.commands) names.push(`${c.name()} ${sub.name()}`);
    else names.push(c.name());
  }
  assert.ok(names.length >= 8, names.join(', '));
  for (const n of names) assert.ok(readme.includes(`\`parallax ${n}`), `README documents parallax ${n}`);
});
