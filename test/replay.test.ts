import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFixture } from '../src/replay/fixture.ts';
import { FixtureReplayer, replayFixture } from '../src/replay/run.ts';
import { fixturesDir } from '../src/util/paths.ts';
import { isParallaxError } from '../src/errors.ts';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';

const dir = join(fixturesDir(), 'mainnet-blocks');

test('all 30 mainnet fixture blocks: receiptsRoot, gasUsed and logsBloom match the canonical header', async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json.gz'));
  assert.equal(files.length, 30);
  let txs = 0;
  for (const f of files) {
    const r = await replayFixture(await readFixture(join(dir, f)));
    assert.deepEqual(r.mismatches, [], `${f}`);
    assert.equal(`${r.number}.json.gz`, f);
    txs += r.txs;
  }
  assert.ok(txs > 8000, `only ${txs} transactions replayed`);
});

test('a fixture whose header was tampered with is reported as a mismatch, not as a match', async () => {
  const raw = await readFixture(join(dir, '19934116.json.gz'));
  const tmp = await mkdtemp(join(tmpdir(), 'parallax-fx-'));
  try {
    // Change one log's worth of gas in the header: the block no longer hashes to the fixture's hash.
    const block = { ...raw.block, gasUsed: '0x' + (BigInt(raw.block.gasUsed) + 1n).toString(16) };
    const path = join(tmp, 'tampered.json.gz');
    await writeFile(path, gzipSync(JSON.stringify({ ...raw, file: undefined, block })));
    await assert.rejects(readFixture(path).then(replayFixture), (e) => isParallaxError(e, 'FIXTURE_INVALID') && /hashes to/.test(e.message));
    // Same change with the hash claim removed: decoding succeeds and the executor reports gasUsed.
    const unhashed = { ...block, hash: undefined };
    await writeFile(path, gzipSync(JSON.stringify({ ...raw, file: undefined, block: unhashed })));
    const r = await replayFixture(await readFixture(path));
    assert.equal(r.mismatches.length, 1);
    assert.match(r.mismatches[0], /^gasUsed 3365857 != 3365858$/);
    // A truncated file is a typed error naming the file.
    await writeFile(path, gzipSync(JSON.stringify(raw)).subarray(0, 100));
    await assert.rejects(readFixture(path), (e) => isParallaxError(e, 'FIXTURE_INVALID') && /tampered\.json\.gz/.test(e.message));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('two workers across the London fork: the next block decodes under its own rules ahead, every sender recovered once', async () => {
  // Speculating on every block: 13217637's mostly plain transfers would otherwise run on the main thread.
  const replayer = new FixtureReplayer({ workers: 2, minParallelTxs: 8, minSpeculativeGas: 0, txTimeoutMs: 60_000 });
  try {
    // 12522062 is a Berlin block; 13217637, after London, holds EIP-1559 transactions that Berlin's rules reject.
    const raws = await Promise.all(['12522062', '13217637', '14029313'].map((n) => readFixture(join(dir, `${n}.json.gz`))));
    const results = [];
    for (const [i, raw] of raws.entries()) results.push(await replayer.replay(raw, raws[i + 1]));
    for (const r of results) assert.deepEqual(r.mismatches, [], `${r.number}`);
    const [berlin, london] = results;
    assert.equal(berlin.stats.preparedAhead, false, 'the first block has no predecessor to be prepared during');
    assert.ok(london.txs > 1000);
    // Every sender recovered once, during the Berlin block: one decoded under Berlin's rules would have failed there
    // and been recovered again on the London block's path, counted twice. (Whether the schedule was also built before
    // the London block started depends on how soon the workers finish, which this machine's load decides.)
    assert.equal(london.stats.recoveredBy.reduce((x, y) => x + y, 0), london.txs, '13217637 senders recovered ahead under its own rules, none again');
    assert.equal(london.stats.mode, 'parallel');
  } finally {
    await replayer.close();
  }
});

test("a fixture block too small for the workers: the one after it is handed over as `after` and recovered during the commit before", async () => {
  const replayer = new FixtureReplayer({ workers: 2, minParallelTxs: 8, txTimeoutMs: 60_000 });
  try {
    // 15537393 holds one transaction, 15538827 823: without `after`, the small block would serialize the big one's
    // transactions for the workers on its own path.
    const raws = await Promise.all(['19910734', '15537393', '15538827'].map((n) => readFixture(join(dir, `${n}.json.gz`))));
    const results = [];
    for (const [i, raw] of raws.entries()) results.push(await replayer.replay(raw, raws[i + 1], undefined, raws[i + 2]));
    for (const r of results) assert.deepEqual(r.mismatches, [], `${r.number}`);
    const [, small, big] = results;
    assert.equal(small.txs, 1);
    assert.equal(small.stats.aheadOnPath, 0, "15538827's transactions were serialized on 15537393's path");
    assert.equal(big.stats.recoveredBy.reduce((x, y) => x + y, 0), big.txs, "15538827's senders were recovered by the workers");
  } finally {
    await replayer.close();
  }
});
