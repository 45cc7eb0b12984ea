import { describe, expect, it } from 'vitest';

import { openDatabase } from '@sre-platform/database';

import { Outbox, type NewEvent } from '../src/adapters/outbox.ts';

describe('Outbox accepts, group-committed (PGlite)', () => {
  const event = (key: string): NewEvent => ({
    idempotencyKey: key,
    eventType: 'push',
    project: 'group/project',
    recipient: 'ops',
    message: `sha for ${key}`,
  });

  it('stores concurrent accepts in shared INSERTs, with a duplicate inside one batch counted once', async () => {
    const db = await openDatabase({});
    try {
      const outbox = new Outbox(db);
      await outbox.migrate();
      const keys = ['a', 'b', 'a', 'c', 'b', 'd'];
      const results = await Promise.all(keys.map((k) => outbox.accept(event(k))));
      expect(results).toEqual([true, true, false, true, false, true]);
      expect(await outbox.accept(event('c'))).toBe(false);
      const rows = await db.query<{ idempotency_key: string; message: string }>(
        'select idempotency_key, message from webhook_outbox order by id',
      );
      expect(rows).toEqual(['a', 'b', 'c', 'd'].map((k) => ({ idempotency_key: k, message: `sha for ${k}` })));
      expect((await outbox.stats()).pending).toBe(4);
    } finally {
      await db.close();
    }
  }, 120_000); // opening PGlite outlasted the 30 s default on a busy machine: a bound, not a target
});
