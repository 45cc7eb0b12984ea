// Whether an error means "the database cannot be reached right now" (the server is down, restarting,
// refusing connections or out of them), as opposed to a bug or a bad statement. The service kit answers
// such errors 503 with Retry-After instead of 500 (ServiceOptions.unavailable): the request was fine.

/** Node socket errors and postgres.js's own connection error codes. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * PostgreSQL SQLSTATEs of the same kind: class 08 (connection exception), 57P01-57P03 (the server is
 * shutting down or cannot accept connections yet), 53300 (too many connections).
 */
const UNAVAILABLE_STATE = /^(08...|57P0[123]|53300)$/;

/** 'database' when the error (or one it wraps) says the database is unreachable, else undefined. */
export function databaseUnavailable(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || UNAVAILABLE_STATE.test(code))) return 'database';
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.some((i) => databaseUnavailable(i) !== undefined)) return 'database';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
