// The behaviour both kinds of database must show; run against PGlite (unit) and PostgreSQL (integration).
import { expect, it } from 'vitest';

import { migrate, type Database } from '../src/index.ts';

export function databaseContract(open: () => Promise<Database>) {
  it('runs parameterised queries and returns rows', async () => {
    const db = await open();
    try {
      const rows = await db.query<{ n: number; s: string }>('select $1::int + 1 as n, $2::text as s', [41, 'x']);
      expect(rows).toEqual([{ n: 42, s: 'x' }]);
      await db.ping();
    } finally {
      await db.close();
    }
  });

  it('commits a transaction when its function resolves, and returns its value', async () => {
    const db = await open();
    try {
      await db.query('create table t_commit (id int primary key)');
      const value = await db.transaction(async (tx) => {
        await tx.query('insert into t_commit values (1), (2)');
        return (await tx.query<{ n: number }>('select count(*)::int as n from t_commit'))[0]!.n;
      });
      expect(value).toBe(2);
      expect(await db.query('select id from t_commit order by id')).toEqual([{ id: 1 }, { id: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('rolls a transaction back when its function throws, and rethrows', async () => {
    const db = await open();
    try {
      await db.query('create table t_rollback (id int primary key)');
      await expect(
        db.transaction(async (tx) => {
          await tx.query('insert into t_rollback values (1)');
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      // A failing statement aborts the transaction as well.
      await expect(
        db.transaction(async (tx) => {
          await tx.query('insert into t_rollback values (2)');
          await tx.query('insert into t_rollback values (2)');
        }),
      ).rejects.toThrow(/duplicate key/);
      expect(await db.query('select id from t_rollback')).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('keeps concurrent transactions apart: each sees only its own uncommitted rows', async () => {
    const db = await open();
    try {
      await db.query('create table t_iso (id int primary key, who text)');
      const seen = await Promise.all(
        ['a', 'b', 'c'].map((who, i) =>
          db.transaction(async (tx) => {
            await tx.query('insert into t_iso values ($1, $2)', [i, who]);
            return (await tx.query<{ who: string }>('select who from t_iso where who = $1', [who])).length;
          }),
        ),
      );
      expect(seen).toEqual([1, 1, 1]);
      expect((await db.query('select who from t_iso order by id')).map((r) => r['who'])).toEqual(['a', 'b', 'c']);
    } finally {
      await db.close();
    }
  });

  it('migrates idempotently: statements run again on every start without error', async () => {
    const db = await open();
    try {
      const schema = [
        'create table if not exists t_migrated (id int primary key)',
        'create index if not exists t_m on t_migrated (id)',
      ];
      await migrate(db, 'contract', schema);
      await db.query('insert into t_migrated values (7)');
      await migrate(db, 'contract', schema);
      expect(await db.query('select id from t_migrated')).toEqual([{ id: 7 }]);
      // A failing statement leaves nothing half-applied.
      await expect(
        migrate(db, 'contract', ['create table t_half (id int)', 'select no_such_function()']),
      ).rejects.toThrow();
      expect(await db.query("select to_regclass('t_half')::text as t")).toEqual([{ t: null }]);
    } finally {
      await db.close();
    }
  });
}
