import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyEdit, DEP_EDITS, type DepEdit } from '../scripts/patch-deps.ts';
import { workloadBlocks } from '../src/bench/workloads.ts';
import { sharedBloomsTaken } from '../src/exec/bloom.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { hex } from '../src/util/bytes.ts';
import { generator, node } from './helpers/traffic.ts';

test('patch-deps: the line is replaced once, a second run leaves it, and a file without it (or with it twice) is named and left as it was', () => {
  const root = mkdtempSync(join(tmpdir(), 'parallax-deps-'));
  try {
    const edit: DepEdit = { file: 'pkg/dist/a.js', find: '  const x = make(undefined);', replace: '  const x = hook() ?? make(undefined);', why: 'test' };
    const path = join(root, 'node_modules', 'pkg', 'dist', 'a.js');
    mkdirSync(join(root, 'node_modules', 'pkg', 'dist'), { recursive: true });
    assert.match(applyEdit(edit, root), /cannot read node_modules\/pkg\/dist\/a\.js/);
    writeFileSync(path, 'function f() {\n  const x = make(undefined);\n  return x;\n}\n');
    assert.equal(applyEdit(edit, root), 'applied');
    assert.equal(readFileSync(path, 'utf8'), 'function f() {\n  const x = hook() ?? make(undefined);\n  return x;\n}\n');
    assert.equal(applyEdit(edit, root), 'present');
    assert.equal(readFileSync(path, 'utf8'), 'function f() {\n  const x = hook() ?? make(undefined);\n  return x;\n}\n');
    for (const body of ['function f() {\n  const x = make(null);\n}\n', '  const x = make(undefined);\n  const x = make(undefined);\n']) {
      writeFileSync(path, body);
      assert.match(applyEdit(edit, root), /node_modules\/pkg\/dist\/a\.js does not have the line to edit exactly once/);
      assert.equal(readFileSync(path, 'utf8'), body);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the installed @ethereumjs/vm carries patch-deps' edit: a block run on the main thread with its receipts on a worker takes the shared empty bloom for each transaction, and its receipts equal those made from runTx's own blooms", async () => {
  for (const e of DEP_EDITS) {
    const text = readFileSync(join(PROJECT_ROOT, 'node_modules', e.file), 'utf8');
    assert.ok(text.includes(e.replace), `node_modules/${e.file} lacks the edit: run node scripts/patch-deps.ts`);
  }
  const results = [];
  for (const workers of [2, 0]) {
    const gen = generator({ seed: 11, holders: 300 });
    const setup = gen.setup(300);
    const blocks = workloadBlocks(gen, 'erc20', 3, 300);
    const { store, engine } = await node(gen, setup, workers, { minSpeculativeGas: undefined, minParallelTxs: undefined });
    try {
      const prints = [];
      for (const [i, block] of blocks.entries()) {
        const before = sharedBloomsTaken();
        const { result, stats } = await engine.execute(block);
        const taken = sharedBloomsTaken() - before;
        // With workers, once the first block has taught the engine the token's conflicts and gas, the blocks run on the
        // main thread, their receipts made on a worker: every transaction takes the shared bloom. Without workers runTx
        // makes each one's.
        if (i > 0) {
          assert.equal(stats.mode, 'serial', `workers ${workers}, block ${i}`);
          assert.equal(taken, workers > 0 ? block.transactions.length : 0, `workers ${workers}, block ${i}`);
        }
        await engine.commit(result);
        prints.push({ receiptsRoot: hex(result.receiptsRoot), logsBloom: hex(result.logsBloom), stateRoot: hex(result.stateRoot), gas: result.gasUsed });
        assert.equal(hex(result.receiptsRoot), hex((await store.blockRecord(block.header.number))!.receiptsRoot));
      }
      results.push(prints);
    } finally {
      await engine.close();
      await store.close();
    }
  }
  assert.deepEqual(results[0], results[1]);
  assert.notEqual(results[0][2].logsBloom, '00'.repeat(256), 'the blocks have logs');
});
