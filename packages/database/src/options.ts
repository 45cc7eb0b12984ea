// What openDatabase needs, from a service's configuration. Apart from config.ts (the schema, which needs TypeBox):
// a worker thread that only opens the database (webhook-app's delivery thread) bundles neither TypeBox nor the rest.
/** What openDatabase needs, from a config that spreads databaseConfigProperties. */
export function databaseOptions(config: {
  DATABASE_URL?: string | undefined;
  DATA_DIR?: string | undefined;
  DATABASE_POOL_SIZE: number;
  DATABASE_RETRY_INITIAL_MS: number;
  DATABASE_RETRY_MAX_MS: number;
}) {
  return {
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
    retry: { initialMs: config.DATABASE_RETRY_INITIAL_MS, maxMs: config.DATABASE_RETRY_MAX_MS },
  };
}
