// The adapter on real PostgreSQL: the same contract as PGlite, plus what only a server with many
// connections can show (row locks across connections, replicas migrating at the same moment).
import { startPostgres, useDatabase } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { migrate, openDatabase } from '../src/index.ts';
import { databaseContract } from './contract.ts';

const pg = useDatabase('database');

describe('PostgreSQL', () => {
  databaseContract(() => openDatabase({ url: pg.url, poolSize: 4 }));

  it('lets replicas that start together migrate the same schema without racing', async () => {
    const replicas = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: pg.url, poolSize: 2 })));
    try {
      const schema = [
        'create table if not exists t_race (id int primary key)',
        'create index if not exists t_race_i on t_race (id)',
      ];
      await Promise.all(replicas.map((db) => migrate(db, 'race', schema)));
      expect(await replicas[0]!.query("select to_regclass('t_race')::text as t")).toEqual([{ t: 't_race' }]);
    } finally {
      await Promise.all(replicas.map((db) => db.close()));
    }
  });

  it('holds row locks for the whole transaction: SKIP LOCKED hands each row to one transaction only', async () => {
    const a = await openDatabase({ url: pg.url, poolSize: 2 });
    const b = await openDatabase({ url: pg.url, poolSize: 2 });
    try {
      await a.query('create table t_jobs (id int primary key)');
      await a.query('insert into t_jobs select generate_series(1, 10)');
      const pick = 'select id from t_jobs order by id limit 5 for update skip locked';
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let lockedByA: number[] = [];
      const first = a.transaction(async (tx) => {
        lockedByA = (await tx.query<{ id: number }>(pick)).map((r) => r.id);
        await held;
      });
      while (lockedByA.length === 0) await new Promise((r) => setTimeout(r, 10));
      const lockedByB = await b.transaction(async (tx) => (await tx.query<{ id: number }>(pick)).map((r) => r.id));
      release();
      await first;
      expect(lockedByA).toEqual([1, 2, 3, 4, 5]);
      expect(lockedByB).toEqual([6, 7, 8, 9, 10]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('says which kind it is', async () => {
    const db = await openDatabase({ url: pg.url });
    expect(db.kind).toBe('postgres');
    await db.close();
  });
});

describe('PostgreSQL that goes away and comes back', () => {
  it("reconnects within the retry bound, however many times it failed (postgres.js's own back-off is bounded)", async () => {
    const server = await startPostgres();
    const retry = { initialMs: 20, maxMs: 100 };
    const db = await openDatabase({ url: server.info.adminUrl, poolSize: 2, retry });
    try {
      await db.ping();
      await server.pause();
      // Unbounded, postgres.js would now wait 3^n/100 s (up to 20 s) before each new connection.
      for (let i = 0; i < 10; i++) await expect(db.ping()).rejects.toThrow();
      await server.resume();
      const upAt = performance.now();
      await db.ping();
      // One bounded delay plus one connection (its own timeout is 5 s, with room for a busy machine),
      // never the 10-20 s postgres.js would wait unbounded after ten failures.
      expect(performance.now() - upAt).toBeLessThan(retry.maxMs + 8000);
    } finally {
      await db.close();
      await server.stop();
    }
  });
});
