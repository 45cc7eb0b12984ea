// The database settings every service that uses this package reads, spread into its config schema
// next to the kit's baseConfigProperties.
import { Secret, Type } from '@sre-platform/service-kit';

export const databaseConfigProperties = {
  // PostgreSQL URL; without it an embedded PGlite database (in DATA_DIR, or in memory) is used, which
  // is one truth only for one process: replicas must share DATABASE_URL.
  DATABASE_URL: Type.Optional(Secret(Type.String({ pattern: '^postgres(ql)?://' }))),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  // Retries while the database does not answer (startup.ts, and postgres.js's reconnects): the first
  // delay's ceiling, doubling per failure, and the bound on every delay (readiness follows the
  // database within it). The defaults are DEFAULT_RETRY.
  DATABASE_RETRY_INITIAL_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 100 }),
  DATABASE_RETRY_MAX_MS: Type.Integer({ minimum: 1, maximum: 300_000, default: 1000 }),
};
