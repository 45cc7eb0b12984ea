// Structured JSON logs (pino). Every emitted line is scrubbed of values under secret-looking
// keys (auth headers, cookies, webhook tokens, passwords, keys), at any depth.
//
// Why not pino's `redact` option: its wildcard paths are applied to every child logger's
// bindings, and Fastify creates a child per request, which the kit's benchmark measured as costly
// (README, "Key challenges"). Scrubbing in formatters.log costs nothing for lines that are not
// written (disabled levels) and little for those that are.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const CENSOR = '[REDACTED]';

/** Keys (compared lower-case) whose values never reach a log line. */
export const defaultSecretKeys: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'token',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'apikey',
  'api_key',
  'privatekey',
  'clientsecret',
  'client_secret',
  'secretaccesskey',
  'sessiontoken',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-gitlab-token',
  'x-auth-token',
  'x-api-key',
  'x-amz-security-token',
];

const MAX_DEPTH = 8;

/** A copy of `value` with every secret-keyed value replaced; the input is never modified. */
export function scrub(value: unknown, secretKeys: ReadonlySet<string>, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) {
    const items = value.map((v: unknown) => scrub(v, secretKeys, depth + 1));
    return items.some((v, i) => v !== value[i]) ? items : value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    const replaced = secretKeys.has(key.toLowerCase()) && v !== undefined ? CENSOR : scrub(v, secretKeys, depth + 1);
    if (replaced !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = replaced;
    }
  }
  return out ?? value;
}

export interface LoggerSettings {
  name: string;
  level: string;
  version?: string;
  /** More keys to scrub, on top of defaultSecretKeys. */
  secretKeys?: string[];
  /** Where to write; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const secretKeys = new Set([...defaultSecretKeys, ...(settings.secretKeys ?? [])].map((k) => k.toLowerCase()));
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    base: { service: settings.name, version: settings.version, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => scrub(object, secretKeys) as Record<string, unknown>,
      bindings: (bindings) => scrub(bindings, secretKeys) as Record<string, unknown>,
    },
    serializers: { err: pino.stdSerializers.err },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
