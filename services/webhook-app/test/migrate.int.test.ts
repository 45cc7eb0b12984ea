// Replicas starting together against one real PostgreSQL: each migrates the outbox at start-up, and
// PostgreSQL can fail concurrent `create table if not exists` with a unique violation on its catalog.
// The outbox uses packages/database's migrator, which takes one advisory lock per service for the
// whole migration; these tests prove both halves: many migrators at once all succeed, and a
// migrator really waits for the one holding the lock (so they cannot interleave on the catalog).
import { openDatabase, type Database } from '@sre-platform/database';
import { eventually, useDatabase } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { Outbox } from '../src/adapters/outbox.ts';

const pg = useDatabase('webhook_migrate');
const REPLICAS = 8;

async function replicas(n: number): Promise<Database[]> {
  return Promise.all(Array.from({ length: n }, () => openDatabase({ url: pg.url, poolSize: 1 })));
}

const outboxTables = async () =>
  (
    await pg.sql<{ name: string }[]>`
      select relname::text as name from pg_class
       where relname in ('webhook_outbox', 'webhook_outbox_due', 'webhook_outbox_dead') order by relname`
  ).map((r) => r.name);

describe('the outbox migration, replicas starting together on real PostgreSQL', () => {
  it(`${REPLICAS} replicas migrating at the same moment all succeed, round after round, with one schema`, async () => {
    const dbs = await replicas(REPLICAS);
    try {
      for (let round = 0; round < 5; round++) {
        await pg.sql`drop table if exists webhook_outbox`;
        const results = await Promise.allSettled(dbs.map((db) => new Outbox(db).migrate()));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        expect(await outboxTables()).toEqual(['webhook_outbox', 'webhook_outbox_dead', 'webhook_outbox_due']);
      }
      // And the schema works for all of them: one accept, seen by every replica.
      expect(
        await new Outbox(dbs[0]!).accept({
          idempotencyKey: 'k',
          eventType: 'push',
          project: 'p',
          recipient: 'ops',
          message: 'm',
        }),
      ).toBe(true);
      for (const db of dbs) expect((await new Outbox(db).stats()).pending).toBe(1);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it('a replica waits for the migration lock another holds, and touches the catalog only after it is released', async () => {
    const [holder, waiter] = await replicas(2);
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      // The lock the shared migrator takes for webhook-app, held by an open transaction.
      const holding = holder!.transaction(async (tx) => {
        await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['sre-platform:migrate:webhook-app']);
        locked();
        await released;
      });
      await isLocked;
      let migrated = false;
      const migrating = new Outbox(waiter!).migrate().then(() => {
        migrated = true;
      });
      // The waiter's connection is blocked on that advisory lock (PostgreSQL says so), and has created nothing.
      await eventually('the second migrator waiting on the advisory lock', async () => {
        const [row] = await pg.sql<{ n: number }[]>`
          select count(*)::int as n from pg_locks
           where locktype = 'advisory' and not granted
             and database = (select oid from pg_database where datname = current_database())`;
        return row?.n === 1 ? true : undefined;
      });
      expect(migrated).toBe(false);
      expect(await outboxTables()).toEqual([]);
      release();
      await holding;
      await migrating;
      expect(await outboxTables()).toEqual(['webhook_outbox', 'webhook_outbox_dead', 'webhook_outbox_due']);
    } finally {
      await Promise.all([holder!.close(), waiter!.close()]);
    }
  });
});
