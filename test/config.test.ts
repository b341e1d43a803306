import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { isParallaxError } from '../src/errors.ts';

test('configuration: defaults load, a file overrides, bad keys and values are named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-cfg-'));
  try {
    const defaults = await loadConfig();
    assert.equal(defaults.engine.workers, availableParallelism()); // 0 means one per core
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ engine: { workers: 3 } }));
    const cfg = await loadConfig(file);
    assert.equal(cfg.engine.workers, 3);
    assert.equal(cfg.engine.minParallelTxs, defaults.engine.minParallelTxs);
    await writeFile(file, JSON.stringify({ engine: { txTimeoutMs: 5 } }));
    await assert.rejects(loadConfig(file), (e) => isParallaxError(e, 'CONFIG_INVALID') && /"engine\.txTimeoutMs" is 5; allowed: an integer from 100/.test(e.message));
    await writeFile(file, JSON.stringify({ engine: { worker: 2 } }));
    await assert.rejects(loadConfig(file), (e) => isParallaxError(e, 'CONFIG_INVALID') && /unknown key "engine\.worker"/.test(e.message));
    await writeFile(file, '{ "engine": ');
    await assert.rejects(loadConfig(file), (e) => isParallaxError(e, 'CONFIG_INVALID') && e.message.includes(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
