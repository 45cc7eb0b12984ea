// payment-provider configuration: environment variables, validated at start-up.
import { databaseConfigProperties } from '@sre-platform/database';
import { baseConfigProperties, ConfigError, loadConfig, Type, type Static } from '@sre-platform/service-kit';

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8082 }),

  // Replicas must share one database (DATABASE_URL) to honour idempotency keys together.
  ...databaseConfigProperties,

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
    throw new ConfigError('FAULT_IDS must be a comma-separated list of invoice ids');
  }
  return { ...c, faultIds: ids ? new Set(ids) : undefined };
}
