// The one place that talks to a database: PostgreSQL through `postgres`, or PGlite (PostgreSQL
// compiled to WebAssembly, in-process) when no DATABASE_URL is configured. Same SQL for both.
import { mkdirSync } from 'node:fs';

import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';

export interface Database {
  kind: 'postgres' | 'pglite';
  query<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openDatabase(options: { url?: string; dataDir?: string; poolSize?: number }): Promise<Database> {
  if (options.url) {
    const sql = postgres(options.url, {
      max: options.poolSize ?? 10,
      onnotice: () => undefined,
      connect_timeout: 5,
      idle_timeout: 60,
    });
    return {
      kind: 'postgres',
      query: async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
        // Named prepared statements: the outbox runs the same few statements over and over.
        (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as T[],
      ping: async () => {
        await sql`select 1`;
      },
      close: () => sql.end({ timeout: 5 }),
    };
  }
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  return {
    kind: 'pglite',
    query: async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
      (await db.query<T>(text, params)).rows,
    ping: async () => {
      await db.query('select 1');
    },
    close: () => db.close(),
  };
}
