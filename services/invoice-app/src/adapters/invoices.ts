// The invoice table: one truth for every replica. Each invoice moves through a small state
// machine, and every transition is one conditional UPDATE, so that replicas never pay twice:
//
//   unpaid --claim (row lock, SKIP LOCKED)--> paying(key K, lease) --provider 2xx--> paid
//   paying --provider refused (4xx)--> unpaid (K dropped: nothing was paid under it)
//   paying --timeout, network error, 5xx--> paying(K kept, lease released): the next pay call
//       re-sends with K, and the provider answers the first outcome instead of paying again
//   paying, lease expired (the replica died) --claim--> paying(same K, new lease)
import { migrate, type Database } from '@sre-platform/database';
import { toPlainText } from '@sre-platform/service-kit';

import { currencyExponent, toMinorUnits } from '@sre-platform/currency';

export interface Invoice {
  id: string;
  amountMinor: bigint;
  currency: string;
  exponent: number;
  status: 'unpaid' | 'paying' | 'paid';
}

export interface ClaimedInvoice extends Invoice {
  attemptKey: string;
  attempts: number;
  /** The key was made by this claim: no earlier attempt can have paid under it. */
  freshKey: boolean;
}

function seedMinor(value: string, currency: string): bigint {
  const amount = toMinorUnits(value, currency);
  if (!amount.ok) throw new Error(amount.reason);
  return amount.minor;
}

/** Invoices in id order (UTF-16 code units, as JavaScript compares strings): claims and reports list them so. */
export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The original's seed data, in minor units of each currency. */
export const SEED = [
  { id: 'I1', value: '12.15', currency: 'EUR' },
  { id: 'I2', value: '10.25', currency: 'GBP' },
  { id: 'I3', value: '66.13', currency: 'DKK' },
].map((s) => ({
  ...s,
  minor: seedMinor(s.value, s.currency),
  exponent: currencyExponent(s.currency),
}));

const SCHEMA = [
  `create table if not exists invoices (
     id text primary key check (length(id) between 1 and 128),
     amount_minor bigint not null check (amount_minor > 0),
     currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
     currency_exponent smallint not null check (currency_exponent between 0 and 4),
     status text not null default 'unpaid' check (status in ('unpaid', 'paying', 'paid')),
     attempt_key uuid,
     attempts integer not null default 0,
     lease_until timestamptz,
     last_error text,
     created_at timestamptz not null default now(),
     paid_at timestamptz,
     check ((status = 'paid') = (paid_at is not null)),
     check (status <> 'paying' or attempt_key is not null)
   )`,
  `create index if not exists invoices_payable on invoices (created_at, id) where status <> 'paid'`,
  `create table if not exists invoice_app_migrations (
     name text primary key,
     applied_at timestamptz not null default now()
   )`,
];

// Inserted once: the migration row records it, so an invoice deleted later is not resurrected.
const SEED_ONCE = `
  with first_time as (
    insert into invoice_app_migrations (name) values ('001_seed_invoices') on conflict (name) do nothing returning name
  )
  insert into invoices (id, amount_minor, currency, currency_exponent)
  select s.id, s.minor::bigint, s.currency, s.exponent::smallint
    from unnest($1::text[], $2::text[], $3::text[], $4::int[]) as s(id, minor, currency, exponent)
   where exists (select 1 from first_time)
  on conflict (id) do nothing`;

type Row = {
  id: string;
  amount_minor: string;
  currency: string;
  currency_exponent: number;
  status: Invoice['status'];
};
const toInvoice = (r: Row): Invoice => ({
  id: r.id,
  amountMinor: BigInt(r.amount_minor),
  currency: r.currency,
  exponent: r.currency_exponent,
  status: r.status,
});
const COLUMNS = 'id, amount_minor::text as amount_minor, currency, currency_exponent, status';

export class Invoices {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async migrate(): Promise<void> {
    await migrate(this.#db, 'invoice-app', SCHEMA);
    await this.#db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['sre-platform:seed:invoice-app']);
      await tx.query(SEED_ONCE, [
        SEED.map((s) => s.id),
        SEED.map((s) => s.minor.toString()),
        SEED.map((s) => s.currency),
        SEED.map((s) => s.exponent),
      ]);
    });
  }

  async list(): Promise<Invoice[]> {
    return (await this.#db.query<Row>(`select ${COLUMNS} from invoices order by created_at, id`)).map(toInvoice);
  }

  /**
   * Claims up to `limit` payable invoices for `leaseMs`: unpaid ones get a fresh attempt key;
   * invoices whose earlier attempt ended without a known outcome keep theirs. Rows another
   * transaction is claiming right now are skipped, not waited for (SKIP LOCKED), and `exclude`
   * keeps this pay call from retrying what already failed in it.
   */
  async claim(limit: number, leaseMs: number, exclude: readonly string[]): Promise<ClaimedInvoice[]> {
    const rows = await this.#db.query<Row & { attempt_key: string; attempts: number; fresh_key: boolean }>(
      `with picked as (
         select id, attempt_key is null as fresh_key from invoices
          where (status = 'unpaid' or (status = 'paying' and (lease_until is null or lease_until < now())))
            and id <> all($3::text[])
          order by created_at, id
          limit $1
          for update skip locked
       )
       update invoices i
          set status = 'paying',
              attempt_key = coalesce(i.attempt_key, gen_random_uuid()),
              attempts = i.attempts + 1,
              lease_until = now() + make_interval(secs => $2::double precision / 1000)
         from picked
        where i.id = picked.id
        returning i.id, i.amount_minor::text as amount_minor, i.currency, i.currency_exponent, i.status,
                  i.attempt_key::text as attempt_key, i.attempts, picked.fresh_key`,
      [limit, leaseMs, exclude],
    );
    return rows
      .map((r) => ({ ...toInvoice(r), attemptKey: r.attempt_key, attempts: r.attempts, freshKey: r.fresh_key }))
      .sort(byId);
  }

  /**
   * The provider confirmed payment under each pair's key: one UPDATE for many invoices (group
   * commit). Returns the ids now paid under their key, including any another replica recorded
   * first with the same key; an id missing from the result moved on without us.
   */
  async markPaid(paid: readonly { id: string; key: string }[]): Promise<Set<string>> {
    const ids = paid.map((p) => p.id);
    const keys = paid.map((p) => p.key);
    const rows = await this.#db.query<{ id: string }>(
      `update invoices i set status = 'paid', paid_at = now(), lease_until = null, last_error = null
         from unnest($1::text[], $2::uuid[]) as p(id, key)
        where i.id = p.id and i.attempt_key = p.key and i.status = 'paying'
        returning i.id`,
      [ids, keys],
    );
    const done = new Set(rows.map((r) => r.id));
    if (done.size < paid.length) {
      const rest = paid.filter((p) => !done.has(p.id));
      const already = await this.#db.query<{ id: string }>(
        `select i.id from invoices i join unnest($1::text[], $2::uuid[]) as p(id, key)
             on i.id = p.id and i.attempt_key = p.key where i.status = 'paid'`,
        [rest.map((p) => p.id), rest.map((p) => p.key)],
      );
      for (const r of already) done.add(r.id);
    }
    return done;
  }

  /**
   * The provider refused. When no earlier attempt under `key` could have paid (`dropKey`), the
   * next attempt gets a new key; otherwise the key stays, because a refusal now does not prove
   * that an earlier, unanswered attempt under it did not pay.
   */
  async markRejected(id: string, key: string, error: string, dropKey: boolean): Promise<void> {
    await this.#db.query(
      `update invoices
          set status = 'unpaid', attempt_key = case when $4 then null else attempt_key end,
              lease_until = null, last_error = $3
        where id = $1 and attempt_key = $2 and status = 'paying'`,
      [id, key, toPlainText(error), dropKey],
    );
  }

  /**
   * Outcome unknown: stay `paying` with the same key, and let the next pay call re-send it.
   * `error` may quote the provider, whose text we do not control: its control characters are
   * replaced (PostgreSQL refuses U+0000), here and in markRejected.
   */
  async release(id: string, key: string, error: string): Promise<void> {
    await this.#db.query(
      `update invoices set lease_until = null, last_error = $3
        where id = $1 and attempt_key = $2 and status = 'paying'`,
      [id, key, toPlainText(error)],
    );
  }

  /** Invoices being paid right now by other requests (a live lease), for the pay response. */
  async inProgress(): Promise<Invoice[]> {
    return (
      await this.#db.query<Row>(
        `select ${COLUMNS} from invoices
          where status = 'paying' and lease_until >= now() order by created_at, id limit 1000`,
      )
    ).map(toInvoice);
  }

  async countByStatus(): Promise<Record<Invoice['status'], number>> {
    const counts = { unpaid: 0, paying: 0, paid: 0 };
    for (const r of await this.#db.query<{ status: Invoice['status']; n: number }>(
      'select status, count(*)::int as n from invoices group by status',
    ))
      counts[r.status] = r.n;
    return counts;
  }
}
