// The one place that talks to a database: PostgreSQL through `postgres`, or PGlite (PostgreSQL
// compiled to WebAssembly, in-process) when no DATABASE_URL is configured. Same SQL for both.
import { mkdirSync } from 'node:fs';

import postgres from 'postgres';

import { DEFAULT_RETRY, nextDelayMs, type RetryPolicy } from './startup.ts';

/** Something that runs SQL: the database itself, or one open transaction. */
export interface Queryable {
  query<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Database extends Queryable {
  kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it
   * throws (and the error is rethrown). Inside `fn` use only `tx`: with PGlite, which has a single
   * connection, a query on the database itself waits for the transaction and so never returns.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres:// URL; without it, PGlite. */
  url?: string;
  /** PGlite's directory; without it (and without url), PGlite in memory. */
  dataDir?: string;
  poolSize?: number;
  /**
   * Bounds postgres.js's own reconnect back-off (by default 3^n/100 s up to 20 s, shared by the pool):
   * after a failure the pool's next connection waits for it, so unbounded it would hold a service
   * up to 20 s after its database is back. Defaults to databaseConfigProperties' defaults.
   */
  retry?: RetryPolicy;
}

type Params = postgres.ParameterOrJSON<never>[];

export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.url) {
    const sql = postgres(options.url, {
      max: options.poolSize ?? 10,
      onnotice: () => undefined,
      connect_timeout: 5,
      idle_timeout: 60,
      backoff: (retries: number) => nextDelayMs(retries, options.retry ?? DEFAULT_RETRY) / 1000,
    });
    // Named prepared statements: services run the same few statements over and over.
    const on =
      (conn: postgres.Sql | postgres.TransactionSql) =>
      async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
        (await conn.unsafe(text, params as Params, { prepare: true })) as unknown as T[];
    return {
      kind: 'postgres',
      query: on(sql),
      transaction: async <T>(fn: (tx: Queryable) => Promise<T>) =>
        (await sql.begin((tx) => fn({ query: on(tx) }))) as T,
      ping: async () => {
        await sql`select 1`;
      },
      close: () => sql.end({ timeout: 5 }),
    };
  }
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  // Loaded only here: a service with a DATABASE_URL never loads PGlite (importing its module alone adds 7.7 MiB to a
  // process's memory, measured by tools/build/bench/lean.bench.ts).
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  return {
    kind: 'pglite',
    query: async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
      (await db.query<T>(text, params)).rows,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      db.transaction((tx) =>
        fn({
          query: async <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
            (await tx.query<R>(text, params)).rows,
        }),
      ),
    ping: async () => {
      await db.query('select 1');
    },
    close: () => db.close(),
  };
}

/**
 * Applies a service's schema: every statement in one transaction, under a transaction-scoped
 * advisory lock named after the service, so that replicas starting at the same moment do not race
 * each other's `create table if not exists` (PostgreSQL can fail such a race with a unique
 * violation on its catalog). Statements must be idempotent: they run on every start.
 */
export async function migrate(db: Database, name: string, statements: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`sre-platform:migrate:${name}`]);
    for (const statement of statements) await tx.query(statement);
  });
}

export { GroupCommit, type GroupCommitOptions } from './group-commit.ts';
export { databaseConfigProperties } from './config.ts';
export { databaseOptions } from './options.ts';
export { databaseUnavailable } from './unavailable.ts';
export {
  DatabaseStartup,
  databaseStartup,
  DEFAULT_LOG_POLICY,
  DEFAULT_RETRY,
  describeDatabaseError,
  nextDelayMs,
  secretsOf,
  shouldLogFailure,
  type DatabaseStartupOptions,
  type LogPolicy,
  type RetryPolicy,
} from './startup.ts';
