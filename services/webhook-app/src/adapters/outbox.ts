// The outbox: every accepted event is a row, committed before GitLab gets its 2xx. Workers claim
// due rows with a lease (FOR UPDATE SKIP LOCKED, so replicas never claim the same row), deliver,
// and record the outcome only while they still hold the lease.
import { randomUUID } from 'node:crypto';

import { GroupCommit, migrate, type Database } from '@sre-platform/database';

export interface NewEvent {
  idempotencyKey: string;
  eventType: string;
  project: string;
  recipient: string;
  message: string;
}

export interface ClaimedEvent {
  id: string;
  idempotencyKey: string;
  recipient: string;
  message: string;
  attempts: number;
  receivedAt: Date;
  leaseToken: string;
}

export interface DeadEvent {
  id: string;
  idempotencyKey: string;
  eventType: string;
  project: string;
  recipient: string;
  attempts: number;
  receivedAt: Date;
  lastError: string | null;
}

const SCHEMA = `
create table if not exists webhook_outbox (
  id bigserial primary key,
  idempotency_key text not null unique,
  event_type text not null,
  project text not null,
  recipient text not null,
  message text not null,
  received_at timestamptz not null default now(),
  status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  lease_token uuid,
  lease_until timestamptz,
  last_error text,
  delivered_at timestamptz
);
create index if not exists webhook_outbox_due on webhook_outbox (next_attempt_at, id) where status = 'pending';
create index if not exists webhook_outbox_dead on webhook_outbox (id) where status = 'dead';
`;

export interface OutboxOptions {
  /** Most events stored by one INSERT when accepts are group-committed; 1 commits each on its own. */
  acceptBatchMax?: number;
  /** Accept statements in flight at once. */
  acceptCommitsInFlight?: number;
}

export class Outbox {
  readonly #db: Database;
  readonly #accepts: GroupCommit<NewEvent, boolean>;

  constructor(db: Database, options: OutboxOptions = {}) {
    this.#db = db;
    this.#accepts = new GroupCommit((events) => this.acceptMany(events), {
      maxBatch: options.acceptBatchMax ?? 256,
      maxInFlight: options.acceptCommitsInFlight ?? 1,
    });
  }

  /** The schema, under the shared migration lock (replicas starting together do not race). */
  migrate(): Promise<void> {
    return migrate(
      this.#db,
      'webhook-app',
      SCHEMA.split(';')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  }

  /**
   * Stores the event, committed when this resolves; false when its idempotency key was accepted
   * before (a GitLab re-send). Concurrent calls share one INSERT and one COMMIT (see group-commit.ts).
   */
  accept(event: NewEvent): Promise<boolean> {
    return this.#accepts.add(event);
  }

  /**
   * One multi-row INSERT (a single prepared statement whatever the count, through unnest) in one
   * implicit transaction. Returns, per event, whether it was new; when one key appears twice in a
   * batch the first occurrence wins and the second is a duplicate, as if they had come one by one.
   */
  async acceptMany(events: NewEvent[]): Promise<boolean[]> {
    const rows = await this.#db.query<{ idempotency_key: string }>(
      `insert into webhook_outbox (idempotency_key, event_type, project, recipient, message)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       on conflict (idempotency_key) do nothing returning idempotency_key`,
      [
        events.map((e) => e.idempotencyKey),
        events.map((e) => e.eventType),
        events.map((e) => e.project),
        events.map((e) => e.recipient),
        events.map((e) => e.message),
      ],
    );
    const inserted = new Set(rows.map((r) => r.idempotency_key));
    return events.map((e) => inserted.delete(e.idempotencyKey));
  }

  /** Claims up to `limit` due events for `leaseMs`; each claim counts as an attempt. */
  async claim(limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
    const token = randomUUID();
    const rows = await this.#db.query<{
      id: string;
      idempotency_key: string;
      recipient: string;
      message: string;
      attempts: number;
      received_at: Date;
    }>(
      `update webhook_outbox
          set lease_token = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000),
              attempts = attempts + 1
        where id in (select id from webhook_outbox
                      where status = 'pending' and next_attempt_at <= now()
                        and (lease_until is null or lease_until < now())
                      order by next_attempt_at, id
                      limit $3
                      for update skip locked)
        returning id::text as id, idempotency_key, recipient, message, attempts, received_at`,
      [token, leaseMs, limit],
    );
    return rows
      .map((r) => ({
        id: r.id,
        idempotencyKey: r.idempotency_key,
        recipient: r.recipient,
        message: r.message,
        attempts: r.attempts,
        receivedAt: new Date(r.received_at),
        leaseToken: token,
      }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  /**
   * Records successes in one statement; returns the ids still leased to us (an id missing from the
   * result lost its lease meanwhile: another worker owns that row now).
   */
  async delivered(events: ClaimedEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const rows = await this.#db.query<{ id: string }>(
      `update webhook_outbox set status = 'delivered', delivered_at = now(), lease_token = null, lease_until = null,
              last_error = null
        where id = any($1::bigint[]) and lease_token = any($2::uuid[]) returning id::text as id`,
      [events.map((e) => e.id), [...new Set(events.map((e) => e.leaseToken))]],
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Releases the event to be tried again after `delayMs`. `countAttempt: false` gives the attempt
   * back (a rate limit is Rocket.Chat asking us to wait, not the event failing).
   */
  async retryLater(event: ClaimedEvent, delayMs: number, error: string, countAttempt = true): Promise<boolean> {
    const rows = await this.#db.query(
      `update webhook_outbox set next_attempt_at = now() + make_interval(secs => $3::double precision / 1000),
              lease_token = null, lease_until = null, last_error = $4, attempts = attempts - $5
        where id = $1 and lease_token = $2 returning id`,
      [event.id, event.leaseToken, delayMs, error.slice(0, 1000), countAttempt ? 0 : 1],
    );
    return rows.length === 1;
  }

  async dead(event: ClaimedEvent, error: string): Promise<boolean> {
    const rows = await this.#db.query(
      `update webhook_outbox set status = 'dead', lease_token = null, lease_until = null, last_error = $3
        where id = $1 and lease_token = $2 returning id`,
      [event.id, event.leaseToken, error.slice(0, 1000)],
    );
    return rows.length === 1;
  }

  async listDead(limit = 100): Promise<DeadEvent[]> {
    const rows = await this.#db.query<{
      id: string;
      idempotency_key: string;
      event_type: string;
      project: string;
      recipient: string;
      attempts: number;
      received_at: Date;
      last_error: string | null;
    }>(
      `select id::text as id, idempotency_key, event_type, project, recipient, attempts, received_at, last_error
         from webhook_outbox where status = 'dead' order by id limit $1`,
      [limit],
    );
    return rows.map((r) => ({
      id: r.id,
      idempotencyKey: r.idempotency_key,
      eventType: r.event_type,
      project: r.project,
      recipient: r.recipient,
      attempts: r.attempts,
      receivedAt: new Date(r.received_at),
      lastError: r.last_error,
    }));
  }

  /** Puts dead events back in the queue with a fresh budget; returns how many. */
  async replay(ids: string[] | 'all'): Promise<number> {
    const rows =
      ids === 'all'
        ? await this.#db.query(
            `update webhook_outbox set status = 'pending', attempts = 0, next_attempt_at = now()
              where status = 'dead' returning id`,
          )
        : await this.#db.query(
            `update webhook_outbox set status = 'pending', attempts = 0, next_attempt_at = now()
              where status = 'dead' and id = any($1::bigint[]) returning id`,
            [ids],
          );
    return rows.length;
  }

  /** Pending depth and the age of the oldest pending event, for metrics. */
  async stats(): Promise<{ pending: number; oldestAgeSeconds: number; dead: number }> {
    // Both counts use partial indexes, so delivered history does not slow them down.
    const [pending] = await this.#db.query<{ n: number; oldest: number | null }>(
      `select count(*)::int as n, extract(epoch from now() - min(received_at))::float8 as oldest
         from webhook_outbox where status = 'pending'`,
    );
    const [dead] = await this.#db.query<{ n: number }>(
      `select count(*)::int as n from webhook_outbox where status = 'dead'`,
    );
    return { pending: pending?.n ?? 0, oldestAgeSeconds: pending?.oldest ?? 0, dead: dead?.n ?? 0 };
  }
}
