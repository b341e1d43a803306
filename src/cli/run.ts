import type { Command } from 'commander';
import { createLogger } from '../log/index.ts';
import { runDaemon } from '../node/daemon.ts';
import { addConfigFlags, commandConfig } from './config.ts';
import { EXIT } from './output.ts';
import { stopSignal } from './signals.ts';

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('the daemon: follow a node, execute and verify every block, serve metrics and status over HTTP');
  addConfigFlags(cmd).addHelpText(
    'after',
    `
Examples:
  $ parallax run --rpc http://127.0.0.1:8545 --genesis genesis.json
  $ parallax -c anvil-dev run --workers 2
  $ PARALLAX_HTTP_PORT=9700 parallax run -c ./my-node.json --log-format json

Stops on SIGINT/SIGTERM after committing the block in flight (a second signal forces exit).
Endpoints: /metrics /health /ready /status /roots/<block> on http.host:http.port (default 127.0.0.1:9615).`,
  );
  cmd.action(async (_opts: unknown, c: Command) => {
    const { config, origin } = await commandConfig(c);
    const log = createLogger(config.log);
    const stop = stopSignal(log);
    try {
      const r = await runDaemon({ config, origin, log, signal: stop.signal });
      if (r.reason === 'halted') process.exitCode = EXIT.MISMATCH;
    } finally {
      stop.dispose();
    }
  });
}
