/**
 * Builds build/secp256k1.node (src/native/secp256k1.c) against the system's libsecp256k1, when there is one and a C
 * compiler: run by `npm install` / `npm ci` (postinstall) and by the Dockerfile. Without them it says why and leaves
 * nothing behind, and Parallax recovers senders with the `secp256k1` npm package's prebuilt add-on instead (about a
 * third slower per recovery; see README, Install). Never fails the install; `--require` makes a missing piece an
 * error (exit 1), for builds that must have it.
 *
 *   node scripts/build-native.ts [--require]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { SYSTEM_SECP_ADDON, loadRecoveryBackend } from '../src/crypto/backend.ts';

const required = process.argv.includes('--require');
const source = join(PROJECT_ROOT, 'src', 'native', 'secp256k1.c');

function skip(why: string): never {
  rmSync(SYSTEM_SECP_ADDON, { force: true });
  const line = `build-native: ${why}; senders are recovered with the secp256k1 npm package's add-on instead`;
  if (required) {
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
  process.stdout.write(`${line} (install libsecp256k1-dev and a C compiler, then: node scripts/build-native.ts)\n`);
  process.exit(0);
}

/** Node's C headers: beside this Node's binary (an official or npm-installed Node), else the npm `node` package's. */
function nodeHeaders(): string | undefined {
  const candidates = [
    join(dirname(realpathSync(process.execPath)), '..', 'include', 'node'),
    join(PROJECT_ROOT, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

/** The first header directory holding libsecp256k1's recovery module. */
function secpHeaders(): string | undefined {
  return ['/usr/include', '/usr/local/include'].find((d) => existsSync(join(d, 'secp256k1_recovery.h')));
}

function compiler(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (cc === undefined || cc === '') continue;
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // not this one
    }
  }
  return undefined;
}

if (process.platform === 'win32') skip('not built on Windows');
const napi = nodeHeaders();
if (napi === undefined) skip("Node's C headers (node_api.h) were not found");
const secp = secpHeaders();
if (secp === undefined) skip('the system has no libsecp256k1 with its recovery module (secp256k1_recovery.h)');
const cc = compiler();
if (cc === undefined) skip('no C compiler (cc, gcc or clang) was found');

mkdirSync(dirname(SYSTEM_SECP_ADDON), { recursive: true });
try {
  execFileSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', `-I${napi}`, `-I${secp}`, source, '-lsecp256k1', '-o', SYSTEM_SECP_ADDON], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (e) {
  skip(`${cc} failed on ${source}: ${(e as Error).message.split('\n')[0]}`);
}
// Load it once here, as Parallax will: a library too old for this source (no static context before 0.2.0) fails now,
// not at run time.
try {
  loadRecoveryBackend(SYSTEM_SECP_ADDON);
} catch (e) {
  skip(`the built add-on does not load: ${(e as Error).message.split('\n')[0]}`);
}
process.stdout.write(`build-native: built ${SYSTEM_SECP_ADDON} against the system's libsecp256k1\n`);
