/**
 * The plan builder (src/exec/plan.ts) partitions a block's transactions in block order as their senders are written
 * into a recovery job, stops at the first one still missing, and ends with the plan a partition of the whole block
 * gives. The job's slots are written here the way a worker writes them (key, address, hash, then the slot's status).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import { workloadBlocks } from '../src/bench/workloads.ts';
import { HintBook, partition } from '../src/conflict/index.ts';
import { PlanBuilder, jobDone, rawsOf } from '../src/exec/plan.ts';
import { RECOVERED, recoverJob, type RecoverJob } from '../src/exec/protocol.ts';
import { hex } from '../src/util/bytes.ts';
import { generator } from './helpers/traffic.ts';

/** A block of transfers (30 payers: senders repeat, so groups have several members), decoded twice: one copy's senders recovered by the library. */
function blockAndTruth(seed: number, n: number) {
  const gen = generator({ seed });
  gen.setup(100);
  const [made] = workloadBlocks(gen, 'transfers', 1, n);
  const fresh = (): Block => createBlockFromRLP(made.serialize(), { common: made.common });
  const truth = fresh().transactions.map((tx) => ({ pubkey: tx.getSenderPublicKey(), address: tx.getSenderAddress().bytes, hash: tx.hash() }));
  return { block: fresh(), truth };
}

/** Write slot j of `job` as a worker does: what was recovered, then the status (1 recovered, 2 not). */
function write(job: RecoverJob, j: number, status: 1 | 2, r?: { pubkey: Uint8Array; address: Uint8Array; hash: Uint8Array }) {
  if (status === 1) {
    job.keys.set(r!.pubkey, j * RECOVERED);
    job.keys.set(r!.address, j * RECOVERED + 64);
    job.keys.set(r!.hash, j * RECOVERED + 84);
  }
  Atomics.store(job.ok, j, status);
  Atomics.add(job.done, 0, 1);
}

test('plan builder: transactions are partitioned in block order as their senders are written, and the plan is the whole block\'s partition', () => {
  const { block, truth } = blockAndTruth(41, 100);
  const n = block.transactions.length;
  // Speculating on any block (minimum expected gas 0): the plan has the workers' run table.
  const builder = new PlanBuilder(block, rawsOf(block.transactions), new HintBook(), 2, 0);
  const unknown = builder.unknown();
  assert.equal(unknown.length, n, 'a fresh decode knows no sender');
  const job = recoverJob(unknown, builder.raws);
  builder.expect(job, true);

  assert.equal(builder.advance(), false);
  assert.equal(builder.added, 0, 'nothing written, nothing partitioned');
  for (let j = 0; j < 10; j++) write(job, j, 1, truth[j]);
  write(job, 12, 1, truth[12]);
  assert.equal(builder.advance(), false);
  assert.equal(builder.added, 10, 'stops at the first slot not written (10), though 12 is');
  // Slot 10's signature did not recover (a final job: its sender is invalid); 11 is written after 12 was copied.
  write(job, 10, 2);
  write(job, 11, 1, truth[11]);
  assert.equal(builder.advance(), false);
  assert.equal(builder.added, 13);
  for (let j = 13; j < n; j++) write(job, j, 1, truth[j]);
  assert.ok(jobDone(job));
  assert.equal(builder.advance(), true);
  assert.equal(builder.early, 13, 'partitioned before the call that found the last sender');

  const plan = builder.finish();
  for (let i = 0; i < n; i++) {
    const tx = block.transactions[i];
    if (i === 10) {
      assert.equal(plan.senders[i], 'invalid-10');
      assert.equal(plan.runs!.table.hasKey[i], 0);
      continue;
    }
    assert.equal(plan.senders[i], hex(truth[i].address), `sender of ${i}`);
    assert.deepEqual(plan.runs!.table.keys.subarray(i * 64, i * 64 + 64), truth[i].pubkey, `run table key of ${i}`);
    assert.equal(plan.runs!.table.hasKey[i], 1);
    // Pinned on the transaction object, copied out of the job's shared memory.
    assert.equal(hex(tx.getSenderAddress().bytes), hex(truth[i].address));
    assert.equal(hex(tx.hash()), hex(truth[i].hash));
    assert.ok(!(tx.getSenderPublicKey().buffer instanceof SharedArrayBuffer), `key of ${i} left in the job's memory`);
  }
  // The same plan as partitioning the whole block at once with the same senders.
  const whole = partition(block.transactions, plan.senders, new HintBook(), 2);
  assert.deepEqual(plan.part.assignment, whole.assignment);
  assert.deepEqual(plan.part.groups, whole.groups);
  assert.ok(whole.stats.groups < n - 10, `${whole.stats.groups} groups for ${n} transactions: senders repeat`);
});

test('plan builder: a sender an ahead job could not recover stops the partition until a job of the block recovers it', () => {
  const { block, truth } = blockAndTruth(42, 40);
  const n = block.transactions.length;
  const builder = new PlanBuilder(block, rawsOf(block.transactions), new HintBook(), 2);
  const ahead = recoverJob(builder.unknown(), builder.raws);
  builder.expect(ahead, false);
  for (let j = 0; j < n; j++) write(ahead, j, j === 5 ? 2 : 1, truth[j]);
  assert.equal(builder.advance(), false);
  assert.equal(builder.added, 5, 'an ahead job\'s failure is not final');
  assert.deepEqual(builder.retries(), [5]);
  const again = recoverJob([5], builder.raws);
  builder.expect(again, true);
  assert.equal(builder.advance(), false);
  write(again, 0, 1, truth[5]);
  assert.equal(builder.advance(), true);
  const plan = builder.finish();
  assert.deepEqual(plan.senders, truth.map((t) => hex(t.address)));
  assert.deepEqual(builder.retries(), []);
});

test("plan builder: whether a block runs on the main thread whatever its senders, known before them, is what the plan decides", () => {
  const { block, truth } = blockAndTruth(43, 60);
  // Plain transfers are expected to use 21,000 gas each: serial at a minimum above that, speculated at or below it.
  for (const [min, serial] of [[21_001, true], [50_000, true], [21_000, false], [0, false]] as const) {
    // A fresh decode each time: a plan pins the senders on its transactions.
    const copy = createBlockFromRLP(block.serialize(), { common: block.common });
    const builder = new PlanBuilder(copy, rawsOf(copy.transactions), new HintBook(), 2, min);
    const job = recoverJob(builder.unknown(), builder.raws);
    assert.equal(job.txs.index.length, truth.length, 'a fresh decode knows no sender');
    builder.expect(job, true);
    assert.equal(builder.serialWhateverSenders(), serial, `minimum ${min}, no sender known yet`);
    for (let j = 0; j < truth.length; j++) write(job, j, 1, truth[j]);
    assert.equal(builder.advance(), true);
    const plan = builder.finish();
    assert.equal(plan.runs === undefined, serial, `minimum ${min}: the plan ${plan.serialBecause ?? 'speculates'}`);
    if (serial) assert.equal(plan.serialBecause, 'cheap', `minimum ${min}`);
  }
});
