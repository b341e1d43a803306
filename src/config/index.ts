/**
 * Configuration: `config/default.json`, then an optional file given by the user, validated against one schema.
 * Every key is described here once; a bad value names the key and what is allowed.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ParallaxError, errorMessage } from '../errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';

export interface Config {
  chain: string;
  engine: { workers: number; minParallelTxs: number; txTimeoutMs: number };
}

interface KeySpec {
  path: string;
  type: 'string' | 'integer' | 'boolean';
  min?: number;
  max?: number;
  doc: string;
}

/** The schema: every configuration key, its type, bounds and meaning. */
export const SCHEMA: KeySpec[] = [
  { path: 'chain', type: 'string', doc: 'chain profile: "mainnet" (Ethereum mainnet fork schedule)' },
  { path: 'engine.workers', type: 'integer', min: 0, max: 256, doc: 'execution worker threads; 0 = one per core, 1 = serial path' },
  { path: 'engine.minParallelTxs', type: 'integer', min: 0, max: 1_000_000, doc: 'blocks with fewer transactions run serially' },
  { path: 'engine.txTimeoutMs', type: 'integer', min: 100, max: 3_600_000, doc: 'a worker silent this long is replaced and the block re-run serially' },
];

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

function checkUnknown(obj: unknown, prefix: string, where: string): void {
  if (obj === null || typeof obj !== 'object') return;
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    const isLeaf = SCHEMA.some((s) => s.path === path);
    const isBranch = SCHEMA.some((s) => s.path.startsWith(path + '.'));
    if (!isLeaf && !isBranch) {
      throw new ParallaxError('CONFIG_INVALID', `${where}: unknown key "${path}" (known: ${SCHEMA.map((s) => s.path).join(', ')})`, { key: path });
    }
    if (isBranch) checkUnknown(v, path, where);
  }
}

/** Validate a merged configuration object; the error names the key, the value and what is allowed. */
export function validate(raw: unknown, where: string): Config {
  checkUnknown(raw, '', where);
  for (const spec of SCHEMA) {
    const v = get(raw, spec.path);
    const bad = (allowed: string) =>
      new ParallaxError('CONFIG_INVALID', `${where}: "${spec.path}" is ${JSON.stringify(v)}; allowed: ${allowed}`, { key: spec.path });
    if (spec.type === 'string' && (typeof v !== 'string' || v.length === 0)) throw bad('a non-empty string');
    if (spec.type === 'boolean' && typeof v !== 'boolean') throw bad('true or false');
    if (spec.type === 'integer' && (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min! || v > spec.max!)) {
      throw bad(`an integer from ${spec.min} to ${spec.max}`);
    }
  }
  const cfg = raw as Config;
  if (cfg.chain !== 'mainnet') {
    throw new ParallaxError('CONFIG_INVALID', `${where}: "chain" is ${JSON.stringify(cfg.chain)}; allowed: "mainnet"`, { key: 'chain' });
  }
  return cfg;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `cannot read configuration ${path}: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
}

function merge(base: Record<string, unknown>, over: unknown): void {
  if (over === null || typeof over !== 'object') return;
  for (const spec of SCHEMA) {
    const v = get(over, spec.path);
    if (v !== undefined) set(base, spec.path, v);
  }
}

/** Defaults from config/default.json, overlaid by `file` if given; validated. */
export async function loadConfig(file?: string): Promise<Config> {
  const defaultsPath = join(PROJECT_ROOT, 'config', 'default.json');
  const merged = (await readJson(defaultsPath)) as Record<string, unknown>;
  validate(merged, defaultsPath);
  if (file !== undefined) {
    const user = await readJson(file);
    checkUnknown(user, '', file);
    merge(merged, user);
    return resolveWorkers(validate(merged, file));
  }
  return resolveWorkers(merged as unknown as Config);
}

function resolveWorkers(cfg: Config): Config {
  if (cfg.engine.workers === 0) cfg.engine.workers = availableParallelism();
  return cfg;
}
