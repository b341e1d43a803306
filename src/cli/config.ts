/** Configuration for a command: -c FILE|PRESET, PARALLAX_* environment, then the command's own flags. */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfigWithOrigin, parseValue, type LoadedConfig } from '../config/index.ts';

/** Flags shared by the commands that talk to a node or a data directory, each mapped to its configuration key. */
export const NODE_FLAGS: { flag: string; key: string; help: string }[] = [
  { flag: '--rpc <url>', key: 'source.url', help: 'URL of the source node' },
  { flag: '--genesis <file>', key: 'source.genesis', help: 'geth-style genesis file of the chain' },
  { flag: '--data-dir <dir>', key: 'dataDir', help: 'data directory (LevelDB)' },
  { flag: '--workers <n>', key: 'engine.workers', help: 'worker threads (0 = one per core, 1 = serial path)' },
  { flag: '--http-host <host>', key: 'http.host', help: 'address of the HTTP endpoints' },
  { flag: '--http-port <port>', key: 'http.port', help: 'port of the HTTP endpoints (0 = any free port)' },
  { flag: '--on-mismatch <policy>', key: 'verify.onMismatch', help: 'continue or halt on a mismatch' },
  { flag: '--log-level <level>', key: 'log.level', help: 'fatal, error, warn, info, debug, trace or silent' },
  { flag: '--log-format <format>', key: 'log.format', help: 'auto, pretty or json' },
];

function attr(flag: string): string {
  const name = flag.split(' ')[0].replace(/^--/, '');
  return name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Add `flags` (a subset of NODE_FLAGS by key, or all) and the generic `--set key=value`. */
export function addConfigFlags(cmd: Command, keys?: string[]): Command {
  for (const f of NODE_FLAGS) if (keys === undefined || keys.includes(f.key)) cmd.option(f.flag, `${f.help} [${f.key}]`);
  cmd.option('--set <key=value>', 'set any configuration key (repeatable), e.g. --set source.pollMs=200', (v: string, prev: string[] = []) => {
    if (!v.includes('=')) throw new InvalidArgumentError(`--set needs key=value, got "${v}"`);
    return [...prev, v];
  });
  return cmd;
}

/** Load the configuration with this command's flags on top. */
export async function commandConfig(cmd: Command, extra: Record<string, unknown> = {}): Promise<LoadedConfig> {
  const opts = cmd.optsWithGlobals() as Record<string, unknown>;
  const flags: Record<string, unknown> = { ...extra };
  for (const f of NODE_FLAGS) {
    const v = opts[attr(f.flag)];
    if (typeof v === 'string') flags[f.key] = parseValue(f.key, v, `flag ${f.flag.split(' ')[0]}`);
  }
  for (const kv of (opts.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    const key = kv.slice(0, i);
    flags[key] = parseValue(key, kv.slice(i + 1), `--set ${kv}`);
  }
  return loadConfigWithOrigin({ file: opts.config as string | undefined, flags });
}
