// The provider's ledger. Every payment is one row, inserted in one statement; the row is also the
// idempotency record: a key seen before answers with the first outcome instead of paying again.
import { createHash } from 'node:crypto';

import { migrate, type Database } from '@sre-platform/database';

export interface PaymentRequest {
  invoiceId: string;
  amountMinor: bigint;
  currency: string;
}

export type PayOutcome =
  { kind: 'paid'; paymentId: string } | { kind: 'replayed'; paymentId: string } | { kind: 'conflict' }; // the key was used for a different request

const SCHEMA = [
  `create table if not exists provider_payments (
     payment_id uuid primary key default gen_random_uuid(),
     idempotency_key text unique,
     request_hash text not null,
     invoice_id text not null,
     amount_minor bigint not null check (amount_minor > 0),
     currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
     created_at timestamptz not null default now()
   )`,
  'create index if not exists provider_payments_invoice on provider_payments (invoice_id)',
];

/** What makes two requests "the same": the amount in minor units, so 12.15 and 12.150 match. */
export function requestHash(r: PaymentRequest): string {
  return createHash('sha256').update(`${r.invoiceId}\n${r.amountMinor}\n${r.currency}`).digest('hex');
}

export class Payments {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  migrate(): Promise<void> {
    return migrate(this.#db, 'payment-provider', SCHEMA);
  }

  /**
   * Pays once per idempotency key. Two requests with one key at the same moment are serialised by
   * the unique index: the second waits for the first to commit, then finds its row.
   */
  async pay(request: PaymentRequest, idempotencyKey: string | undefined): Promise<PayOutcome> {
    const hash = requestHash(request);
    const inserted = await this.#db.query<{ payment_id: string }>(
      `insert into provider_payments (idempotency_key, request_hash, invoice_id, amount_minor, currency)
       values ($1, $2, $3, $4, $5)
       on conflict (idempotency_key) do nothing
       returning payment_id::text`,
      [idempotencyKey ?? null, hash, request.invoiceId, request.amountMinor.toString(), request.currency],
    );
    if (inserted[0]) return { kind: 'paid', paymentId: inserted[0].payment_id };
    const [existing] = await this.#db.query<{ payment_id: string; request_hash: string }>(
      'select payment_id::text, request_hash from provider_payments where idempotency_key = $1',
      [idempotencyKey],
    );
    if (!existing) throw new Error('idempotency record vanished between insert and select');
    return existing.request_hash === hash ? { kind: 'replayed', paymentId: existing.payment_id } : { kind: 'conflict' };
  }
}
