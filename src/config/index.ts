/**
 * Configuration, from one schema. Precedence, lowest first:
 *   config/default.json  <  a file or preset (`-c FILE|PRESET`)  <  environment (`PARALLAX_*`)  <  command-line flags.
 * Every key is described here once (the README's configuration table is generated from SCHEMA); a bad value names
 * the key, where it came from and what is allowed.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ParallaxError, errorMessage } from '../errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

export type SourceKind = 'ethereum' | 'selendra';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'auto' | 'pretty' | 'json';
export type MismatchPolicy = 'continue' | 'halt';

export interface Config {
  dataDir: string;
  source: {
    kind: SourceKind;
    url: string;
    genesis: string;
    pollMs: number;
    prefetch: number;
    timeoutMs: number;
    retries: number;
    backoffMaxMs: number;
    heads: 'finalized' | 'best';
    startBlock: number;
  };
  engine: { workers: number; minParallelTxs: number; minSpeculativeGas: number; txTimeoutMs: number; traceBlocks: number; workerNice: number };
  store: { undoDepth: number; cacheEntries: number; sync: boolean; compactionNice: number; accountFilter: boolean };
  verify: { onMismatch: MismatchPolicy };
  http: { enabled: boolean; host: string; port: number; readyLagBlocks: number };
  log: { level: LogLevel; format: LogFormat };
}

export interface KeySpec {
  path: string;
  type: 'string' | 'integer' | 'boolean' | 'enum';
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Redacted when the configuration is logged (URLs may carry credentials). */
  secret?: boolean;
  /** May be empty. */
  optional?: boolean;
  doc: string;
}

/** The schema: every configuration key, its type, bounds and meaning. */
export const SCHEMA: KeySpec[] = [
  { path: 'dataDir', type: 'string', doc: 'directory of the LevelDB state database (created if missing; one daemon per directory)' },
  { path: 'source.kind', type: 'enum', values: ['ethereum', 'selendra'], doc: 'block source: an Ethereum JSON-RPC node or a Selendra (Substrate) node' },
  { path: 'source.url', type: 'string', secret: true, doc: 'URL of the source node (http(s):// or ws(s)://); credentials in it are redacted from logs' },
  { path: 'source.genesis', type: 'string', optional: true, doc: 'geth-style genesis file (config + alloc) for an Ethereum source; needed only to initialise an empty database' },
  { path: 'source.pollMs', type: 'integer', min: 10, max: 60_000, doc: 'how often to ask the node for a new head when idle' },
  { path: 'source.prefetch', type: 'integer', min: 1, max: 256, doc: 'blocks fetched ahead of execution, concurrently' },
  { path: 'source.timeoutMs', type: 'integer', min: 100, max: 600_000, doc: 'a request to the node not answered within this is an error (and retried)' },
  { path: 'source.retries', type: 'integer', min: 0, max: 1_000_000, doc: 'retries of a failed request before a one-shot command (verify) gives up; the daemon retries forever' },
  { path: 'source.backoffMaxMs', type: 'integer', min: 10, max: 600_000, doc: 'upper bound of the exponential back-off between retries' },
  { path: 'source.heads', type: 'enum', values: ['finalized', 'best'], doc: 'Selendra: follow finalized heads, or best heads (reorganisations unwound through the undo journal); an Ethereum source follows its latest block' },
  { path: 'source.startBlock', type: 'integer', min: 0, max: 2 ** 53 - 1, doc: 'Selendra: with an empty data directory, the first block to execute (0 = the followed head at first start); the state starts empty and is read from the chain as blocks need it' },
  { path: 'engine.workers', type: 'integer', min: 0, max: 256, doc: 'execution worker threads; 0 = one per core, 1 = serial path' },
  { path: 'engine.minParallelTxs', type: 'integer', min: 0, max: 1_000_000, doc: 'blocks with fewer transactions run serially' },
  { path: 'engine.minSpeculativeGas', type: 'integer', min: 0, max: 1_000_000_000, doc: 'blocks whose transactions use less gas than this on average (by the header\'s gas used where the header has it, else as expected from earlier runs) run on the main thread, the workers recovering senders and updating the state root (speculating costs about as much per transaction as a cheap one); 0 = speculate on any block' },
  { path: 'engine.txTimeoutMs', type: 'integer', min: 100, max: 3_600_000, doc: 'a worker silent this long is replaced and the block re-run serially' },
  { path: 'engine.workerNice', type: 'integer', min: 0, max: 19, doc: "nice value of the worker threads (Linux): above 0 the main thread, whose work is each block's path, gets a core first when more threads want one than there are cores; 0 leaves the workers at the main thread's priority" },
  { path: 'engine.traceBlocks', type: 'integer', min: 0, max: 1_000_000, doc: 'execution traces kept in the database for the last this many blocks (/blocks/<n>, `parallax trace`); 0 = none' },
  { path: 'store.undoDepth', type: 'integer', min: 0, max: 1_000_000, doc: 'blocks kept in the undo journal: the deepest reorganisation that can be unwound' },
  { path: 'store.cacheEntries', type: 'integer', min: 1024, max: 100_000_000, doc: 'entries per in-memory cache (accounts, slots, trie nodes)' },
  { path: 'store.sync', type: 'boolean', doc: 'fsync every block commit (slower; survives power loss, not only process crashes)' },
  { path: 'store.compactionNice', type: 'integer', min: 0, max: 19, doc: "nice value of LevelDB's compaction thread (Linux): 19 lets execution go first and LevelDB merge several tables per compaction; 0 leaves it at execution's priority" },
  { path: 'store.accountFilter', type: 'boolean', doc: 'keep an in-memory filter of the addresses with an account (2 MiB per million accounts, built from the database at start), so reads of accounts that do not exist skip LevelDB' },
  { path: 'verify.onMismatch', type: 'enum', values: ['continue', 'halt'], doc: 'on a block that differs from the canonical chain: record and go on, or record and stop (exit 1)' },
  { path: 'http.enabled', type: 'boolean', doc: 'serve /metrics, /health, /ready, /status and /roots' },
  { path: 'http.host', type: 'string', doc: 'address the HTTP server binds (0.0.0.0 inside a container)' },
  { path: 'http.port', type: 'integer', min: 0, max: 65_535, doc: 'port of the HTTP server (0 = any free port)' },
  { path: 'http.readyLagBlocks', type: 'integer', min: 0, max: 1_000_000, doc: '/ready answers 200 while the executed head is at most this many blocks behind the node' },
  { path: 'log.level', type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'log level' },
  { path: 'log.format', type: 'enum', values: ['auto', 'pretty', 'json'], doc: 'log format: pretty lines on a terminal and JSON otherwise (auto), or forced' },
];

/** Presets shipped in config/, usable as `-c NAME`. */
export const PRESETS = ['selendra-mainnet', 'selendra-testnet', 'anvil-dev'] as const;

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (cur[part] === undefined || typeof cur[part] !== 'object') cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

function spec(path: string): KeySpec | undefined {
  return SCHEMA.find((s) => s.path === path);
}

function checkUnknown(obj: unknown, prefix: string, where: string): void {
  if (obj === null || typeof obj !== 'object') return;
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    const isLeaf = spec(path) !== undefined;
    const isBranch = SCHEMA.some((s) => s.path.startsWith(path + '.'));
    if (!isLeaf && !isBranch) {
      throw new ParallaxError('CONFIG_INVALID', `${where}: unknown key "${path}" (known: ${SCHEMA.map((s) => s.path).join(', ')})`, { key: path });
    }
    if (isBranch) checkUnknown(v, path, where);
  }
}

function allowed(s: KeySpec): string {
  switch (s.type) {
    case 'string':
      return s.optional ? 'a string' : 'a non-empty string';
    case 'boolean':
      return 'true or false';
    case 'integer':
      return `an integer from ${s.min} to ${s.max}`;
    case 'enum':
      return `one of ${s.values!.map((v) => JSON.stringify(v)).join(', ')}`;
  }
}

function validValue(s: KeySpec, v: unknown): boolean {
  switch (s.type) {
    case 'string':
      return typeof v === 'string' && (s.optional === true || v.length > 0);
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) && v >= s.min! && v <= s.max!;
    case 'enum':
      return typeof v === 'string' && s.values!.includes(v);
  }
}

/** Validate a merged configuration object; the error names the key, the value, where it came from and what is allowed. */
export function validate(raw: unknown, where: (path: string) => string): Config {
  checkUnknown(raw, '', where(''));
  for (const s of SCHEMA) {
    const v = get(raw, s.path);
    if (!validValue(s, v)) {
      throw new ParallaxError('CONFIG_INVALID', `${where(s.path)}: "${s.path}" is ${JSON.stringify(v)}; allowed: ${allowed(s)}`, { key: s.path });
    }
  }
  return raw as Config;
}

/** PARALLAX_* variables that are read elsewhere (see `loadConfigWithOrigin`), not configuration keys. */
const NOT_CONFIG = new Set(['PARALLAX_FIXTURES', 'PARALLAX_SEMI_SPACE_MB']);

/** PARALLAX_ + the key in upper snake case: `engine.minParallelTxs` -> PARALLAX_ENGINE_MIN_PARALLEL_TXS. */
export function envName(path: string): string {
  return 'PARALLAX_' + path.split('.').map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Parse a string (environment or `--set key=value`) into the key's type; the error names where it came from. */
export function parseValue(path: string, text: string, where: string): unknown {
  const s = spec(path);
  if (s === undefined) throw new ParallaxError('CONFIG_INVALID', `${where}: unknown key "${path}" (known: ${SCHEMA.map((k) => k.path).join(', ')})`, { key: path });
  const bad = () => new ParallaxError('CONFIG_INVALID', `${where}: "${path}" is ${JSON.stringify(text)}; allowed: ${allowed(s)}`, { key: path });
  if (s.type === 'integer') {
    if (!/^-?[0-9]+$/.test(text.trim())) throw bad();
    return Number(text.trim());
  }
  if (s.type === 'boolean') {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw bad();
  }
  return text;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `cannot read configuration ${path}: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `configuration ${path} is not valid JSON: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
}

/** A `-c` argument: a preset name (config/NAME.json) or a path. */
export function resolveConfigFile(arg: string): string {
  if ((PRESETS as readonly string[]).includes(arg)) return join(PROJECT_ROOT, 'config', `${arg}.json`);
  if (!existsSync(arg) && /^[a-z0-9-]+$/.test(arg)) {
    throw new ParallaxError('CONFIG_INVALID', `no configuration file or preset "${arg}" (presets: ${PRESETS.join(', ')})`, { file: arg });
  }
  return arg;
}

export interface LoadOptions {
  /** `-c`: a file path or a preset name. */
  file?: string;
  /** Environment to read PARALLAX_* from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Flags already mapped to keys (highest precedence). */
  flags?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: Config;
  /** Where each key's value came from: default, the file's path, an environment variable, or flag. */
  origin: Record<string, string>;
}

/** Defaults < file < environment < flags, validated once at the end. */
export async function loadConfig(opts: LoadOptions | string = {}): Promise<Config> {
  return (await loadConfigWithOrigin(opts)).config;
}

export async function loadConfigWithOrigin(opts: LoadOptions | string = {}): Promise<LoadedConfig> {
  const o: LoadOptions = typeof opts === 'string' ? { file: opts } : opts;
  const defaultsPath = join(PROJECT_ROOT, 'config', 'default.json');
  const merged = (await readJson(defaultsPath)) as Record<string, unknown>;
  validate(merged, () => defaultsPath);
  const origin: Record<string, string> = Object.fromEntries(SCHEMA.map((s) => [s.path, 'default']));
  if (o.file !== undefined) {
    const path = resolveConfigFile(o.file);
    const user = await readJson(path);
    checkUnknown(user, '', path);
    for (const s of SCHEMA) {
      const v = get(user, s.path);
      if (v !== undefined) {
        set(merged, s.path, v);
        origin[s.path] = path;
      }
    }
  }
  const env = o.env ?? process.env;
  const known = new Map(SCHEMA.map((s) => [envName(s.path), s.path]));
  for (const [name, value] of Object.entries(env)) {
    // PARALLAX_FIXTURES (where tests read fixtures), PARALLAX_TEST_* (fault-injection hooks) and PARALLAX_SEMI_SPACE_MB
    // (V8's heap, settled by bin/parallax.js before the program loads: cli/relaunch.ts) are not configuration.
    if (!name.startsWith('PARALLAX_') || value === undefined || NOT_CONFIG.has(name) || name.startsWith('PARALLAX_TEST_')) continue;
    const path = known.get(name);
    if (path === undefined) {
      throw new ParallaxError('CONFIG_INVALID', `environment: unknown variable ${name} (known: ${[...known.keys()].join(', ')})`, { key: name });
    }
    set(merged, path, parseValue(path, value, `environment ${name}`));
    origin[path] = name;
  }
  for (const [path, value] of Object.entries(o.flags ?? {})) {
    if (value === undefined) continue;
    if (spec(path) === undefined) throw new ParallaxError('CONFIG_INVALID', `flag: unknown key "${path}"`, { key: path });
    set(merged, path, value);
    origin[path] = 'flag';
  }
  const config = validate(merged, (path) => (path === '' ? 'configuration' : describeOrigin(origin[path] ?? 'default', defaultsPath)));
  if (config.engine.workers === 0) config.engine.workers = availableParallelism();
  return { config, origin };
}

function describeOrigin(origin: string, defaultsPath: string): string {
  if (origin === 'default') return defaultsPath;
  if (origin === 'flag') return 'command line';
  if (origin.startsWith('PARALLAX_')) return `environment ${origin}`;
  return origin;
}

/** Credentials in a URL (user:password@, query string) replaced for logging. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username !== '' || u.password !== '') {
      u.username = 'REDACTED';
      u.password = '';
    }
    if (u.search !== '') u.search = '?REDACTED';
    // Keys in the path (…/v3/<key>) are common for hosted nodes: keep the host and hide long opaque segments.
    u.pathname = u.pathname.replace(/\/[A-Za-z0-9_-]{20,}/g, '/REDACTED');
    return u.toString();
  } catch {
    return 'REDACTED';
  }
}

/** The configuration with secrets redacted, for the one log line at start. */
export function redacted(cfg: Config): Config {
  const copy = structuredClone(cfg) as unknown as Record<string, unknown>;
  for (const s of SCHEMA) {
    if (s.secret === true) {
      const v = get(copy, s.path);
      if (typeof v === 'string') set(copy, s.path, redactUrl(v));
    }
  }
  return copy as unknown as Config;
}

/** Markdown table of every key, for the README (generated, never edited by hand). */
export function schemaTable(defaults: Config): string {
  const rows = SCHEMA.map((s) => {
    const d = get(defaults, s.path);
    const type = s.type === 'enum' ? s.values!.join(' \\| ') : s.type === 'integer' ? `integer ${s.min}..${s.max}` : s.type;
    return `| \`${s.path}\` | \`${envName(s.path)}\` | ${type} | \`${JSON.stringify(d)}\` | ${s.doc} |`;
  });
  return ['| key | environment | type | default | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** The raw defaults (workers as written, 0 = one per core), for documentation. */
export async function rawDefaults(): Promise<Config> {
  return (await readJson(join(PROJECT_ROOT, 'config', 'default.json'))) as Config;
}
