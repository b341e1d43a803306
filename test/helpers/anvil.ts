/** anvil (from the @foundry-rs/anvil npm package) on 127.0.0.1 with a genesis file, mining only on request. */
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort } from '../../src/dev/hardhat.ts';
import { startNodeProcess } from '../../src/dev/process.ts';

const require = createRequire(import.meta.url);

/** The binary inside the platform package (@foundry-rs/anvil-linux-amd64 is an optional dependency: CI and the dev machines are linux x64). */
export function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
}

/** The CREATE2 deployer anvil places at genesis (the widely used deterministic deployment proxy). */
export const CREATE2_DEPLOYER = {
  address: '0x4e59b44847b379578588920ca78fbf26c0b4956c',
  code: '0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3',
};

export interface AnvilNode {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startAnvil(genesisPath: string, hardfork = 'cancun'): Promise<AnvilNode> {
  const port = await freePort();
  const node = await startNodeProcess({
    name: 'anvil',
    command: anvilBinary(),
    args: ['--hardfork', hardfork, '--init', genesisPath, '--accounts', '0', '--no-mining', '--host', '127.0.0.1', '--port', String(port)],
    ready: 'Listening on',
    timeoutMs: 30_000,
  });
  return { url: `http://127.0.0.1:${port}`, process: node.process, stop: () => node.stop() };
}
