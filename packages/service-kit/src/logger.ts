// Structured JSON logs (pino). Redaction is on by default for everything that commonly carries
// a credential: auth headers, cookies, webhook tokens, and fields named like secrets.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const SECRET_FIELDS = [
  'password',
  'passwd',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'authToken',
  'apiKey',
  'privateKey',
  'clientSecret',
  'secretAccessKey',
  'sessionToken',
];
const SECRET_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-gitlab-token',
  'x-auth-token',
  'x-api-key',
  'x-amz-security-token',
];

/** pino redact paths: secret-named fields at the top level and one or two levels down, secret headers anywhere we log headers. */
export const defaultRedactPaths: string[] = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  ...SECRET_HEADERS.flatMap((h) => [
    `headers["${h}"]`,
    `req.headers["${h}"]`,
    `res.headers["${h}"]`,
    `*.headers["${h}"]`,
  ]),
];

export interface LoggerSettings {
  name: string;
  level: string;
  version?: string;
  /** Extra redact paths (pino syntax) on top of the defaults. */
  redact?: string[];
  /** Where to write; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    base: { service: settings.name, version: settings.version, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...defaultRedactPaths, ...(settings.redact ?? [])], censor: '[REDACTED]' },
    serializers: { err: pino.stdSerializers.err },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
