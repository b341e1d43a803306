/**
 * A local Hardhat Network node (hardhat 2.x from node_modules), offline on 127.0.0.1, for `parallax dev` and the
 * end-to-end tests: the chain's genesis accounts come from a geth-style genesis file, so Parallax and the node start
 * from the same state; automine is off and blocks are cut with `evm_mine`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { PROJECT_ROOT } from '../util/paths.ts';
import { startNodeProcess } from './process.ts';

const require = createRequire(import.meta.url);

export interface HardhatOptions {
  /** Genesis accounts: private key (0x-hex) and balance in wei. */
  accounts: { privateKey: string; balance: bigint }[];
  chainId: number;
  /** Hardhat hardfork name (shanghai: headers carry roots @ethereumjs/vm reproduces). */
  hardfork: string;
  blockGasLimit: bigint;
  initialBaseFeePerGas: bigint;
  /** Genesis timestamp (ISO date); with explicit block timestamps the chain is reproducible across restarts. */
  initialDate?: string;
  /** Port on 127.0.0.1; 0 = a free one. */
  port?: number;
  /** Receives the node's output lines (default: dropped). */
  onOutput?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface HardhatNode {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released; the node binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startHardhat(o: HardhatOptions): Promise<HardhatNode> {
  const dir = await mkdtemp(join(tmpdir(), 'parallax-hardhat-'));
  const config = {
    networks: {
      hardhat: {
        chainId: o.chainId,
        hardfork: o.hardfork,
        // FIFO: a block holds the transactions in the order they arrived, so a recorded chain can be mined again.
        mining: { auto: false, interval: 0, mempool: { order: 'fifo' } },
        ...(o.initialDate !== undefined ? { initialDate: o.initialDate } : {}),
        accounts: o.accounts.map((a) => ({ privateKey: a.privateKey, balance: a.balance.toString() })),
        blockGasLimit: Number(o.blockGasLimit),
        initialBaseFeePerGas: Number(o.initialBaseFeePerGas),
        allowUnlimitedContractSize: false,
        loggingEnabled: false,
      },
    },
  };
  const configFile = join(dir, 'hardhat.config.cjs');
  await writeFile(configFile, `module.exports = ${JSON.stringify(config)};\n`);
  const port = o.port === undefined || o.port === 0 ? await freePort() : o.port;
  const cli = require.resolve('hardhat/internal/cli/cli.js');
  // Hardhat insists on a local installation relative to its working directory: run it from the project root.
  const node = await startNodeProcess({
    name: 'hardhat node',
    command: process.execPath,
    args: [cli, 'node', '--config', configFile, '--hostname', '127.0.0.1', '--port', String(port)],
    spawn: { cwd: PROJECT_ROOT, env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true', DO_NOT_TRACK: '1' } },
    ready: 'Started HTTP and WebSocket JSON-RPC server',
    timeoutMs: o.startTimeoutMs ?? 60_000,
    onOutput: o.onOutput,
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    process: node.process,
    async stop() {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
