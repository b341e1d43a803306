/**
 * The short CI run of scripts/crash-stress.ts: the daemon killed with SIGKILL at random instants while it follows
 * a growing Hardhat chain, restarted each time (the full run is `node scripts/crash-stress.ts --trials 50`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashStress } from '../scripts/crash-stress.ts';

test('crash stress (6 kills): after each kill -9 the head is the last committed block; in the end every block verifies, none lost', async () => {
  const r = await crashStress({ trials: 6, workers: 2, txs: 20 });
  assert.equal(r.kills, 6);
  for (const t of r.results) assert.ok(t.head >= t.logged && t.head <= t.logged + 1, JSON.stringify(t));
  // Execution went on between kills: every restart resumed from the head the previous kill left.
  for (let i = 1; i < r.results.length; i++) assert.ok(r.results[i].head >= r.results[i - 1].head);
  assert.ok(r.blocks >= r.results[r.results.length - 1].head);
  assert.equal(r.blocksLost, 0);
  assert.equal(r.mismatched, 0);
  assert.equal(r.verified, r.blocks);
});
