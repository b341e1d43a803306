/**
 * Structured logging with pino. JSON lines by default (for log shippers); on a terminal, or with
 * `log.format = pretty`, the same records are printed as one readable line each: time, level, message, then the
 * fields as key=value. Library code logs records (`log.info({ block, txs }, 'block executed')`), never strings it
 * built itself.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../config/index.ts';

export type { Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function field(v: unknown): string {
  if (typeof v === 'string') return /[\s="]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** One JSON record -> one human line. */
export function prettyLine(json: string, color: boolean): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = new Date(typeof r.time === 'number' ? r.time : Date.now());
  const time = t.toISOString().slice(11, 23);
  const lv = typeof r.level === 'number' ? r.level : 30;
  const name = (LEVELS[lv] ?? String(lv)).padEnd(5);
  const level = color ? `\x1b[${COLORS[lv] ?? '0'}m${name}\x1b[0m` : name;
  const rest = Object.entries(r)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => (k === 'err' && v !== null && typeof v === 'object' ? `err=${field((v as { message?: string }).message)}` : `${k}=${field(v)}`))
    .join(' ');
  return `${time} ${level} ${String(r.msg ?? '')}${rest === '' ? '' : ' ' + rest}`;
}

function prettyStream(out: NodeJS.WritableStream & { isTTY?: boolean }): Writable {
  const color = out.isTTY === true;
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString('utf8');
      let nl: number;
      let text = '';
      while ((nl = pending.indexOf('\n')) >= 0) {
        text += prettyLine(pending.slice(0, nl), color) + '\n';
        pending = pending.slice(nl + 1);
      }
      if (text === '') cb();
      else out.write(text, () => cb());
    },
  });
}

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go (default stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(opts: LogOptions): Logger {
  const out = opts.stream ?? process.stdout;
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && out.isTTY === true);
  return pino(
    { level: opts.level, base: undefined, serializers: { err: pino.stdSerializers.err } },
    pretty ? prettyStream(out) : (out as NodeJS.WritableStream as Writable),
  );
}

/** A logger that drops everything (library use without a daemon). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
