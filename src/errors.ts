/**
 * Typed errors. Every error Parallax raises on bad input or a failed check carries a stable `code` and says
 * what was wrong and where, so operators and tests can tell failures apart without parsing messages.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'FIXTURE_INVALID'
  | 'DB_CORRUPT'
  | 'DB_LOCKED'
  | 'DB_NOT_OPEN'
  | 'DB_WRITE_FAILED'
  | 'BLOCK_INVALID'
  | 'TX_INVALID'
  | 'UNWIND_TOO_DEEP'
  | 'STATE_MISSING'
  | 'HEAD_MISMATCH'
  | 'WORKER_FAILED'
  | 'SOURCE_FAILED'
  | 'CONSERVATION_VIOLATED';

export class ParallaxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ParallaxError';
    this.code = code;
    this.details = details;
  }
}

export function isParallaxError(e: unknown, code?: ErrorCode): e is ParallaxError {
  return e instanceof ParallaxError && (code === undefined || e.code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
