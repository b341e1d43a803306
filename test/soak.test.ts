/**
 * The two-minute soak of CI (scripts/soak.ts runs the 30-minute one): Parallax follows Hardhat Network driven at full
 * speed by the traffic generator; every block verifies, blocks keep coming, and the memory samples are reported.
 * Memory is reported, not asserted: a trend over two minutes on a shared machine is not a verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from '../scripts/soak.ts';

test('soak (2 minutes): every block verifies while following a generated chain at full speed', async (t) => {
  const r = await soak({ minutes: 2, workers: 2, txs: 60, sampleSeconds: 15 });
  t.diagnostic(`${r.blocks} blocks, ${r.txs} txs, ${r.mgasPerSec.toFixed(2)} Mgas/s; heap trend ${r.heapSlopeMbPerMin.toFixed(1)} MB/min, RSS trend ${r.rssSlopeMbPerMin.toFixed(1)} MB/min`);
  for (const s of r.samples) t.diagnostic(`minute ${s.minute.toFixed(2)}: ${s.blocks} blocks, heap ${s.heapMb.toFixed(0)} MB, RSS ${s.rssMb.toFixed(0)} MB`);
  assert.equal(r.mismatched, 0);
  assert.equal(r.matched, r.blocks);
  assert.ok(r.blocks >= 20, `${r.blocks} blocks in two minutes`);
  assert.ok(r.samples.length >= 6);
  // Blocks kept coming through the run: the last sample is well past the first.
  assert.ok(r.samples[r.samples.length - 1].blocks > r.samples[0].blocks * 2);
});
