import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runSpecPaths } from '../src/spec/runner.ts';
import { fixturesDir } from '../src/util/paths.ts';

const root = join(fixturesDir(), 'ethereum-tests', 'BlockchainTests');

function failures(results: { status: string; name: string; reason?: string }[]): string {
  return results
    .filter((r) => r.status !== 'passed')
    .slice(0, 10)
    .map((r) => `${r.name}: ${r.reason}`)
    .join('\n');
}

test('ethereum/tests: all 6,829 BlockchainTests pass on the serial path', async () => {
  const s = await runSpecPaths([root], { workers: 1 });
  assert.equal(s.failed, 0, failures(s.results));
  assert.equal(s.skipped, 0, failures(s.results));
  assert.equal(s.passed, 6829);
  assert.equal((await readdir(root)).length, 4);
  // Invalid blocks were present and rejected, not silently absent.
  assert.ok(s.results.some((r) => r.file.includes('InvalidBlocks')));
});

test('ethereum/tests ValidBlocks and TransitionTests pass with 2 workers exactly as with one', async () => {
  const s = await runSpecPaths([join(root, 'ValidBlocks'), join(root, 'TransitionTests')], { workers: 2 });
  assert.equal(s.failed, 0, failures(s.results));
  assert.ok(s.passed >= 460, `only ${s.passed} tests ran`);
});
