// payment-provider configuration: environment variables, validated at start-up.
import { baseConfigProperties, ConfigError, loadConfig, Secret, Type, type Static } from '@sre-platform/service-kit';

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8082 }),

  // PostgreSQL URL for the payment (idempotency) records; without it an embedded PGlite database
  // (in DATA_DIR, or in memory) is used. Replicas must share one database to honour keys together.
  DATABASE_URL: Type.Optional(Secret(Type.String({ pattern: '^postgres(ql)?://' }))),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),

  // Fault injection, podinfo style, for tests and game days; all off by default.
  // FAULT_IDS: comma-separated invoice ids the faults apply to (unset: every payment).
  FAULT_IDS: Type.Optional(Type.String({ minLength: 1 })),
  // Answer this long after recording the payment (a slow provider that has already paid).
  FAULT_DELAY_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 0 }),
  // Answer this status instead of paying (nothing recorded), with probability FAULT_RATE.
  FAULT_STATUS: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
  FAULT_RATE: Type.Number({ minimum: 0, maximum: 1, default: 1 }),
});

export type Config = Static<typeof ConfigSchema> & { faultIds: ReadonlySet<string> | undefined };

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, env);
  const ids = c.FAULT_IDS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (c.FAULT_IDS !== undefined && (!ids || ids.length === 0)) {
    throw new ConfigError('invalid configuration: FAULT_IDS must be a comma-separated list of invoice ids');
  }
  return { ...c, faultIds: ids ? new Set(ids) : undefined };
}
