// Configuration from environment variables, validated against a TypeBox schema at start-up.
// An invalid or missing variable is a ConfigError whose message is one line naming the variable
// and what was expected; runMain() prints that line and exits non-zero.
import Type, { type Static, type TLiteral, type TObject, type TProperties, type TSchema, type TUnion } from 'typebox';
import Value from 'typebox/value';

const SECRET = 'x-secret';

/** Marks a schema as a secret: its value is never echoed in errors or logs. */
export function Secret<T extends TSchema>(schema: T): T {
  return { ...schema, [SECRET]: true };
}

export function isSecret(schema: TSchema): boolean {
  return (schema as Record<string, unknown>)[SECRET] === true;
}

/** A one-of-these-strings schema that reads well in error messages. */
export function OneOf<const T extends readonly [string, ...string[]]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<[TLiteral<T[number]>]>; // one member whose literal type is the union: Static gives T[number]
}

/** Settings every service has; services spread these into their own schema. */
export const baseConfigProperties = {
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'address to listen on' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port (0 = any)' }),
  LOG_LEVEL: OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1, default: 1_048_576, description: 'largest accepted request body' }),
  SHUTDOWN_DELAY_MS: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'after SIGTERM, keep serving while /readyz reports 503 so load balancers stop routing here',
  }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 10_000,
    description: 'bound on draining in-flight requests before connections are cut',
  }),
} satisfies TProperties;

export const BaseConfigSchema = Type.Object(baseConfigProperties);
export type BaseConfig = Static<typeof BaseConfigSchema>;

/** A configuration the service refuses to start with; the message always starts "invalid configuration: ". */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(detail: string) {
    super(`invalid configuration: ${detail}`);
  }
}

/**
 * Reads, converts and validates `env` against `schema`. Empty strings count as unset, so
 * `FOO=` falls back to the default (or fails when FOO is required).
 */
export function loadConfig<T extends TObject>(schema: T, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const candidate = Value.Convert(schema, Value.Default(schema, raw)) as Record<string, unknown>;
  const problems = describeProblems(schema, candidate, raw);
  if (problems.length > 0) {
    const [first, ...rest] = problems;
    const more = rest.length > 0 ? ` (also invalid: ${rest.map((p) => p.name).join(', ')})` : '';
    throw new ConfigError(`${first!.name} ${first!.message}${more}`);
  }
  return Value.Clean(schema, candidate) as Static<T>;
}

/** The config as it may be logged: secrets replaced. */
export function redactConfig<T extends TObject>(schema: T, config: Static<T>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const property = schema.properties[key];
    out[key] = property && isSecret(property) && value !== undefined ? '[REDACTED]' : value;
  }
  return out;
}

interface Problem {
  name: string;
  message: string;
}

function describeProblems(schema: TObject, candidate: Record<string, unknown>, raw: Record<string, unknown>) {
  const problems: Problem[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = candidate[name];
    if (value === undefined) {
      if (required.has(name)) problems.push({ name, message: `is required: ${expected(property)}` });
      continue;
    }
    if (Value.Check(property, value)) continue;
    const shown = isSecret(property) ? '' : ` (got ${JSON.stringify(raw[name] ?? value)})`;
    problems.push({ name, message: `must be ${expected(property)}${shown}` });
  }
  return problems;
}

/** Human description of what a schema accepts, e.g. "an integer from 1 to 65535". */
interface SchemaFacts {
  type?: string;
  anyOf?: { const?: unknown }[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  pattern?: string;
  description?: string;
}

export function expected(schema: TSchema): string {
  const s = schema as SchemaFacts;
  if (s.anyOf?.every((o) => 'const' in o)) return `one of ${s.anyOf.map((o) => String(o.const)).join(', ')}`;
  const range = (min: number | undefined, max: number | undefined, unit: string) => {
    if (min !== undefined && max !== undefined) return ` from ${min} to ${max}${unit}`;
    if (min !== undefined) return ` of at least ${min}${unit}`;
    if (max !== undefined) return ` of at most ${max}${unit}`;
    return '';
  };
  switch (s.type) {
    case 'integer':
      return `an integer${range(s.minimum, s.maximum, '')}`;
    case 'number':
      return `a number${range(s.minimum, s.maximum, '')}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      if (s.format) return `a valid ${s.format}`;
      if (s.pattern) return `a string matching ${s.pattern}`;
      return `a string${range(s.minLength, s.maxLength, ' characters')}`;
    default:
      return s.description ?? 'a valid value';
  }
}
