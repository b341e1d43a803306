/**
 * Broken Selendra chain specs are refused before anything runs, with CONFIG_INVALID naming the file and what is wrong:
 * a truncated file, a spec that is not raw (no genesis storage), and runtime code that does not decompress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isParallaxError } from '../src/errors.ts';
import { startSelendraChain } from '../src/dev/selendra.ts';
import { CODE_KEY, readChainSpec, runtimeWasm } from '../src/source/selendra/runtime.ts';
import { fixturesDir } from '../src/util/paths.ts';

test('broken chain specs: CONFIG_INVALID names the file and the fault', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-spec-'));
  try {
    const text = await readFile(join(fixturesDir(), 'selendra', 'mainnet_chainspec.json'), 'utf8');
    const spec = JSON.parse(text);
    const truncated = join(dir, 'truncated.json');
    await writeFile(truncated, text.slice(0, 5000));
    const plain = join(dir, 'plain.json');
    await writeFile(plain, JSON.stringify({ ...spec, genesis: { runtimeGenesis: { code: '0x00' } } }));
    const corrupt = join(dir, 'corrupt.json');
    const code: string = spec.genesis.raw.top[CODE_KEY];
    await writeFile(corrupt, JSON.stringify({ ...spec, genesis: { raw: { ...spec.genesis.raw, top: { ...spec.genesis.raw.top, [CODE_KEY]: code.slice(0, 2 + 16) + 'ff'.repeat(64) } } } }));
    const cases: [string, string, RegExp][] = [
      ['truncated', truncated, /cannot read it as JSON/],
      ['not raw', plain, /not a raw chain spec/],
      ['corrupt runtime', corrupt, /does not decompress/],
    ];
    for (const [name, file, why] of cases) {
      await assert.rejects(
        async () => {
          const s = await readChainSpec(file);
          runtimeWasm(s, `chain spec ${file}`);
        },
        (e) => isParallaxError(e, 'CONFIG_INVALID') && e.message.includes(file) && why.test(e.message),
        name,
      );
    }
    // The local chain refuses them the same way, before starting anything.
    await assert.rejects(startSelendraChain({ specPath: corrupt }), (e) => isParallaxError(e, 'CONFIG_INVALID') && /does not decompress/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
