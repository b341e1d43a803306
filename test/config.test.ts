import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { envName, loadConfig, loadConfigWithOrigin, redacted } from '../src/config/index.ts';
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

test('configuration: precedence defaults < file < environment < flags; presets; bad environment values named; secrets redacted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-cfg-'));
  try {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ engine: { workers: 3, minParallelTxs: 4 }, http: { port: 9700 } }));
    const env = { PARALLAX_ENGINE_WORKERS: '5', PARALLAX_HTTP_PORT: '9800', PARALLAX_LOG_LEVEL: 'debug' };
    const { config, origin } = await loadConfigWithOrigin({ file, env, flags: { 'http.port': 9900 } });
    assert.equal(config.engine.minParallelTxs, 4); // file over default
    assert.equal(config.engine.workers, 5); // environment over file
    assert.equal(config.http.port, 9900); // flag over environment
    assert.equal(config.log.level, 'debug');
    assert.equal(config.engine.txTimeoutMs, 30000); // default
    assert.deepEqual([origin['engine.minParallelTxs'], origin['engine.workers'], origin['http.port'], origin['engine.txTimeoutMs']], [file, 'PARALLAX_ENGINE_WORKERS', 'flag', 'default']);
    assert.equal(envName('engine.minParallelTxs'), 'PARALLAX_ENGINE_MIN_PARALLEL_TXS');

    const preset = await loadConfig({ file: 'selendra-mainnet', env: {} });
    assert.equal(preset.source.kind, 'selendra');
    assert.equal((await loadConfig({ file: 'anvil-dev', env: {} })).source.kind, 'ethereum');
    await assert.rejects(loadConfig({ file: 'selendra-mainet', env: {} }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /presets: selendra-mainnet, selendra-testnet, anvil-dev/.test(e.message));

    await assert.rejects(loadConfig({ env: { PARALLAX_ENGINE_WORKERS: 'two' } }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /environment PARALLAX_ENGINE_WORKERS: "engine.workers" is "two"; allowed: an integer from 0 to 256/.test(e.message));
    await assert.rejects(loadConfig({ env: { PARALLAX_LOG_LEVEL: 'loud' } }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /"log.level" is "loud"; allowed: one of "fatal", "error"/.test(e.message));
    await assert.rejects(loadConfig({ env: { PARALLAX_WORKERS: '2' } }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /unknown variable PARALLAX_WORKERS/.test(e.message));
    // Read by bin/parallax.js before the program loads (cli/relaunch.ts), so not refused here.
    assert.equal((await loadConfig({ env: { PARALLAX_SEMI_SPACE_MB: '64', PARALLAX_ENGINE_WORKERS: '3' } })).engine.workers, 3);
    await assert.rejects(loadConfig({ env: {}, flags: { 'verify.onMismatch': 'stop' } }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /command line: "verify.onMismatch" is "stop"; allowed: one of "continue", "halt"/.test(e.message));

    const secret = await loadConfig({ env: { PARALLAX_SOURCE_URL: 'https://user:pw@node.example/v3/0123456789abcdef0123456789abcdef?key=s3cret' } });
    const shown = JSON.stringify(redacted(secret));
    assert.ok(!shown.includes('pw@') && !shown.includes('s3cret') && !shown.includes('0123456789abcdef0123'), shown);
    assert.match(shown, /node\.example/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
