// The invoice state machine on embedded PGlite: each transition and its guard.
import { openDatabase, type Database } from '@sre-platform/database';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { Invoices } from '../src/adapters/invoices.ts';

let db: Database;
let invoices: Invoices;
beforeAll(async () => {
  db = await openDatabase({});
  invoices = new Invoices(db);
});
afterAll(() => db.close());
beforeEach(async () => {
  await db.query('drop table if exists invoices, invoice_app_migrations');
  await invoices.migrate();
});

const row = async (id: string) =>
  (
    await db.query<{ status: string; attempt_key: string | null; lease: boolean; last_error: string | null }>(
      `select status, attempt_key::text as attempt_key, lease_until is not null as lease, last_error
         from invoices where id = $1`,
      [id],
    )
  )[0];

describe('invoices', () => {
  it('seeds I1..I3 once, in minor units with the exponent', async () => {
    expect(
      await db.query('select id, amount_minor::text as m, currency, currency_exponent as e from invoices order by id'),
    ).toEqual([
      { id: 'I1', m: '1215', currency: 'EUR', e: 2 },
      { id: 'I2', m: '1025', currency: 'GBP', e: 2 },
      { id: 'I3', m: '6613', currency: 'DKK', e: 2 },
    ]);
    await db.query("delete from invoices where id = 'I1'");
    await invoices.migrate();
    expect((await invoices.list()).map((i) => i.id)).toEqual(['I2', 'I3']);
  });

  it('refuses a non-positive amount, a malformed currency or a paid invoice without a date at the schema', async () => {
    await expect(
      db.query("insert into invoices (id, amount_minor, currency, currency_exponent) values ('X', 1, 'eur', 2)"),
    ).rejects.toThrow(/check constraint/);
    await expect(db.query("update invoices set status = 'paid' where id = 'I1'")).rejects.toThrow(/check constraint/);
    await expect(
      db.query("insert into invoices (id, amount_minor, currency, currency_exponent) values ('X', 0, 'EUR', 2)"),
    ).rejects.toThrow(/check constraint/);
  });

  it('claims each payable invoice once, with a fresh key and a lease', async () => {
    const first = await invoices.claim(2, 60_000, []);
    expect(first.map((i) => [i.id, i.freshKey, i.attempts])).toEqual([
      ['I1', true, 1],
      ['I2', true, 1],
    ]);
    const second = await invoices.claim(10, 60_000, []);
    expect(second.map((i) => i.id)).toEqual(['I3']);
    expect(await invoices.claim(10, 60_000, [])).toEqual([]);
    expect(await row('I1')).toMatchObject({ status: 'paying', lease: true });
    expect((await invoices.inProgress()).map((i) => i.id)).toEqual(['I1', 'I2', 'I3']);
  });

  it('paid: only under the key it was claimed with', async () => {
    const [i1] = await invoices.claim(1, 60_000, []);
    expect(await invoices.markPaid([{ id: 'I1', key: '00000000-0000-4000-8000-000000000000' }])).toEqual(new Set());
    expect((await row('I1'))!.status).toBe('paying');
    expect(await invoices.markPaid([{ id: 'I1', key: i1!.attemptKey }])).toEqual(new Set(['I1']));
    expect(await row('I1')).toMatchObject({ status: 'paid', lease: false });
    // Marking again (another replica with the same key) still reports it paid; nothing changes.
    expect(await invoices.markPaid([{ id: 'I1', key: i1!.attemptKey }])).toEqual(new Set(['I1']));
    expect((await invoices.claim(10, 60_000, [])).map((i) => i.id)).toEqual(['I2', 'I3']);
  });

  it('unknown outcome: stays paying with its key, claimable at once, re-sent with the same key', async () => {
    const [i1] = await invoices.claim(1, 60_000, []);
    await invoices.release('I1', i1!.attemptKey, 'timeout');
    expect(await row('I1')).toMatchObject({ status: 'paying', attempt_key: i1!.attemptKey, lease: false });
    // Excluded by this pay call, claimable by the next.
    expect((await invoices.claim(10, 60_000, ['I1'])).map((i) => i.id)).toEqual(['I2', 'I3']);
    const [again] = await invoices.claim(10, 60_000, []);
    expect(again).toMatchObject({ id: 'I1', attemptKey: i1!.attemptKey, freshKey: false, attempts: 2 });
  });

  it('refused: back to unpaid; the key is dropped only when no earlier attempt could have paid', async () => {
    const [first] = await invoices.claim(1, 60_000, []);
    await invoices.markRejected('I1', first!.attemptKey, 'rejected 400', true);
    expect(await row('I1')).toMatchObject({ status: 'unpaid', attempt_key: null, last_error: 'rejected 400' });
    const [second] = await invoices.claim(1, 60_000, []);
    expect(second!.attemptKey).not.toBe(first!.attemptKey);
    await invoices.markRejected('I1', second!.attemptKey, 'rejected after a timeout', false);
    expect(await row('I1')).toMatchObject({ status: 'unpaid', attempt_key: second!.attemptKey });
    const [third] = await invoices.claim(1, 60_000, []);
    expect(third).toMatchObject({ attemptKey: second!.attemptKey, freshKey: false });
  });

  it('a crashed claim (expired lease) is claimable again with the same key', async () => {
    const [i1] = await invoices.claim(1, 1, []);
    await new Promise((r) => setTimeout(r, 20));
    const [again] = await invoices.claim(1, 60_000, []);
    expect(again).toMatchObject({ id: 'I1', attemptKey: i1!.attemptKey, freshKey: false });
  });

  it('counts invoices by status', async () => {
    const [i1] = await invoices.claim(1, 60_000, []);
    await invoices.markPaid([{ id: 'I1', key: i1!.attemptKey }]);
    await invoices.claim(1, 60_000, []);
    expect(await invoices.countByStatus()).toEqual({ unpaid: 1, paying: 1, paid: 1 });
  });
});
