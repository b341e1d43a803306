/**
 * The heap settings the command line relaunches with (src/cli/relaunch.ts): the semi-space size really reaches V8,
 * arguments and Node flags survive the relaunch, flags given by hand win, and a bad setting is refused by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_SEMI_SPACE_MB, semiSpaceMb } from '../src/cli/relaunch.ts';

const PROBE = join(import.meta.dirname, 'helpers', 'heap-probe.ts');
const MiB = 2 ** 20;

function probe(env: Record<string, string | undefined>, nodeFlags: string[] = []) {
  const base = { ...process.env };
  delete base.PARALLAX_SEMI_SPACE_MB;
  delete base.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...nodeFlags, PROBE, 'one', '--two', 'three four'], { env: { ...base, ...env }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? (JSON.parse(r.stdout) as { execArgv: string[]; args: string[]; newSpace: number }) : undefined };
}

test('the default semi-space reaches V8, with the script arguments and Node flags kept', () => {
  const r = probe({}, ['--stack-trace-limit=50']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out!.newSpace, DEFAULT_SEMI_SPACE_MB * MiB);
  assert.deepEqual(r.out!.args, ['one', '--two', 'three four']);
  assert.deepEqual(r.out!.execArgv, [`--min-semi-space-size=${DEFAULT_SEMI_SPACE_MB}`, `--max-semi-space-size=${DEFAULT_SEMI_SPACE_MB}`, '--stack-trace-limit=50']);
});

test('PARALLAX_SEMI_SPACE_MB sets the size; 0 leaves V8 its own sizing', () => {
  const r = probe({ PARALLAX_SEMI_SPACE_MB: '32' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out!.newSpace, 32 * MiB);
  const off = probe({ PARALLAX_SEMI_SPACE_MB: '0' });
  assert.equal(off.status, 0, off.stderr);
  assert.deepEqual(off.out!.execArgv, []);
  assert.ok(off.out!.newSpace < 32 * MiB, `V8 starts its own new space small (${off.out!.newSpace} bytes)`);
});

test('semi-space flags given by hand, on the command line or in NODE_OPTIONS, are left alone', () => {
  const cli = probe({}, ['--max-semi-space-size=8']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(cli.out!.execArgv, ['--max-semi-space-size=8']);
  assert.ok(cli.out!.newSpace <= 8 * MiB);
  const env = probe({ NODE_OPTIONS: '--max-semi-space-size=8' });
  assert.equal(env.status, 0, env.stderr);
  assert.deepEqual(env.out!.execArgv, []);
  assert.ok(env.out!.newSpace <= 8 * MiB);
});

test('a bad PARALLAX_SEMI_SPACE_MB is refused by name before anything runs', () => {
  for (const bad of ['abc', '-1', '12.5', '4096']) {
    const r = probe({ PARALLAX_SEMI_SPACE_MB: bad });
    assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`PARALLAX_SEMI_SPACE_MB must be .* not '${bad.replace('.', '\\.')}'`));
  }
  assert.equal(semiSpaceMb({}), DEFAULT_SEMI_SPACE_MB);
  assert.equal(semiSpaceMb({ PARALLAX_SEMI_SPACE_MB: ' 64 ' }), 64);
});
