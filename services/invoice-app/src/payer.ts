// Paying every unpaid invoice: claim a batch, send each to the provider with its attempt key
// (PAY_CONCURRENCY at a time), record each outcome as it comes, claim the next batch, until
// nothing payable is left. One invoice's failure never stops the others.
import { setTimeout as sleep } from 'node:timers/promises';

import { GroupCommit } from '@sre-platform/database';

import type { PaymentProvider, ProviderOutcome, UnknownReason } from './adapters/provider.ts';
import { jsonDecimal } from '@sre-platform/currency';
import { byId, type ClaimedInvoice, type Invoice, type Invoices } from './invoices.ts';

/**
 * `unknown`: an earlier attempt may have reached the provider, and the last one did not even
 * connect; `unreachable` is kept for invoices of which nothing left this host at all.
 */
export type FailureReason = 'rejected' | UnknownReason | 'unknown';

export interface Failure {
  invoice: Invoice;
  reason: FailureReason;
  /** True when a later pay call may succeed (the outcome was unknown); false when refused. */
  retryable: boolean;
  detail: string;
}

export interface PayReport {
  paid: Invoice[];
  failed: Failure[];
  /** Invoices other pay calls (on any replica) are paying right now. */
  inProgress: Invoice[];
}

export interface PayerSettings {
  /** After this many invoices in a row end `unreachable`, the call stops sending (see Breaker). */
  stopAfterUnreachable: number;
  concurrency: number;
  batchSize: number;
  leaseMs: number;
  retries: number;
  backoffMs: number;
}

export interface PayerEvents {
  /** One provider call's outcome and how long it took. */
  attempt?: (outcome: ProviderOutcome, seconds: number) => void;
  /** One invoice's final result in this pay call. */
  settled?: (result: 'paid' | FailureReason) => void;
}

export class Payer {
  private readonly invoices: Invoices;
  private readonly provider: PaymentProvider;
  private readonly settings: PayerSettings;
  private readonly events: PayerEvents;

  constructor(invoices: Invoices, provider: PaymentProvider, settings: PayerSettings, events: PayerEvents = {}) {
    this.invoices = invoices;
    this.provider = provider;
    this.settings = settings;
    this.events = events;
  }

  async payAll(): Promise<PayReport> {
    const { concurrency, batchSize, leaseMs } = this.settings;
    const report: PayReport = { paid: [], failed: [], inProgress: [] };
    const failedIds: string[] = [];
    const recorder = new PaidRecorder(this.invoices);
    const breaker: Breaker = { unreachableInARow: 0, open: false };
    const queue: ClaimedInvoice[] = [];
    let exhausted = false;
    let claiming: Promise<void> | undefined;
    // A database error stops this call from claiming more; what is in flight finishes, then it throws
    // (a 500): the invoices it held stay `paying` with their keys until their lease runs out.
    let broken: { error: unknown } | undefined;

    // Single-flight claiming: whichever worker finds the queue empty fetches the next batch.
    const next = async (): Promise<ClaimedInvoice | undefined> => {
      while (queue.length === 0 && !exhausted) {
        claiming ??= this.invoices
          .claim(batchSize, leaseMs, failedIds)
          .then((rows) => {
            if (rows.length === 0) exhausted = true;
            queue.push(...rows);
          })
          .finally(() => {
            claiming = undefined;
          });
        await claiming;
      }
      return queue.shift();
    };
    const worker = async () => {
      try {
        await work();
      } catch (error) {
        broken ??= { error };
        exhausted = true;
        throw error;
      }
    };
    const settle = (invoice: Invoice, failure: Failure | undefined) => {
      if (failure) {
        report.failed.push(failure);
        this.events.settled?.(failure.reason);
      } else {
        report.paid.push(invoice);
        this.events.settled?.('paid');
      }
    };
    // A worker does not wait for its invoice's paid UPDATE (group-committed with others): it goes on
    // to the next invoice, so PAY_CONCURRENCY provider calls stay in flight. The answer waits for all.
    const recordings: Promise<void>[] = [];
    const work = async () => {
      for (let invoice = await next(); invoice && !broken; invoice = await next()) {
        const claimed = invoice;
        const result = await this.payOne(claimed, failedIds, breaker);
        if (result !== 'confirmed') {
          settle(claimed, result);
          continue;
        }
        recordings.push(
          recorder.record(claimed.id, claimed.attemptKey).then(
            (recorded) => {
              settle(claimed, recorded ? undefined : lostRace(claimed));
            },
            (error: unknown) => {
              broken ??= { error };
              exhausted = true;
            },
          ),
        );
      }
    };
    await Promise.allSettled(Array.from({ length: concurrency }, worker));
    await Promise.all(recordings);
    if (broken) throw broken.error;
    report.inProgress = await this.invoices.inProgress();
    report.paid.sort(byId);
    report.failed.sort((a, b) => byId(a.invoice, b.invoice));
    return report;
  }

  /**
   * Sends one claimed invoice to the provider; resolves with 'confirmed' when the provider paid it
   * (the caller records it), or with its failure. A failed invoice goes into `failedIds` before it
   * is released, so that this pay call cannot claim it again.
   */
  private async payOne(invoice: ClaimedInvoice, failedIds: string[], breaker: Breaker): Promise<'confirmed' | Failure> {
    const { retries, backoffMs, stopAfterUnreachable } = this.settings;
    if (breaker.open) {
      failedIds.push(invoice.id);
      const detail = `not sent: the payment provider was unreachable for the last ${stopAfterUnreachable} invoices of this call`;
      await this.invoices.release(invoice.id, invoice.attemptKey, `unreachable ${detail}`);
      return { invoice, reason: 'unreachable', retryable: true, detail };
    }
    const order = {
      invoiceId: invoice.id,
      value: jsonDecimal(invoice.amountMinor, invoice.exponent),
      currency: invoice.currency,
    };
    let outcome: ProviderOutcome | undefined;
    // The last attempt that may have reached the provider (anything but `unreachable`), if any.
    let reached: Extract<ProviderOutcome, { kind: 'unknown' }> | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        // Full jitter, or the provider's Retry-After when it gave one (bounded by the lease's budget).
        const wanted = outcome?.kind === 'unknown' ? outcome.retryAfterMs : undefined;
        await sleep(Math.min(wanted ?? Math.random() * backoffMs * 2 ** attempt, backoffMs * 2 ** attempt));
      }
      const t0 = performance.now();
      outcome = await this.provider.pay(order, invoice.attemptKey);
      this.events.attempt?.(outcome, (performance.now() - t0) / 1000);
      if (outcome.kind !== 'unknown' || outcome.reason !== 'unreachable') breaker.unreachableInARow = 0;
      if (outcome.kind === 'paid') return 'confirmed';
      if (outcome.kind === 'rejected') {
        failedIds.push(invoice.id);
        // The key goes only if no earlier attempt under it can have paid.
        await this.invoices.markRejected(
          invoice.id,
          invoice.attemptKey,
          `rejected ${outcome.detail}`,
          invoice.freshKey && reached === undefined,
        );
        return {
          invoice,
          reason: 'rejected',
          retryable: false,
          detail: `the payment provider refused it: ${outcome.detail}`,
        };
      }
      if (outcome.reason !== 'unreachable') reached = outcome;
      // A key reused for another request is not something a retry can fix.
      if (outcome.reason === 'key_conflict') break;
    }
    const last = outcome as Extract<ProviderOutcome, { kind: 'unknown' }>;
    // `unreachable` only when no attempt left this host; after one that may have, the outcome is unknown.
    const earlier = last.reason === 'unreachable' ? reached : undefined;
    const reason: FailureReason = earlier ? 'unknown' : last.reason;
    const said = earlier
      ? `an earlier attempt may have reached the provider (${earlier.reason} ${earlier.detail}); the last was ${last.detail}`
      : last.detail;
    breaker.unreachableInARow = reason === 'unreachable' ? breaker.unreachableInARow + 1 : 0;
    if (breaker.unreachableInARow >= stopAfterUnreachable) breaker.open = true;
    failedIds.push(invoice.id);
    await this.invoices.release(invoice.id, invoice.attemptKey, `${reason} ${said}`);
    return {
      invoice,
      reason,
      retryable: true,
      detail: `${said} (after ${retries + 1} attempt${retries === 0 ? '' : 's'}; it stays unpaid and the next pay call re-sends it with the same Idempotency-Key)`,
    };
  }
}

/**
 * A per-call circuit breaker for a provider that is down (connection refused, name not resolved:
 * nothing was sent). Once open, the rest of the call releases each invoice it claims without
 * sending it, so that a backlog is reported in seconds instead of waiting out every retry against
 * a dead address. Timeouts and 5xx do not count: a slow provider may still be paying. The next pay
 * call starts closed, so it probes the provider again.
 */
interface Breaker {
  unreachableInARow: number;
  open: boolean;
}

/** Paid at the provider, but the row moved on without us (e.g. another replica re-claimed it). */
const lostRace = (invoice: Invoice): Failure => ({
  invoice,
  reason: 'protocol',
  retryable: true,
  detail: 'paid at the provider, but the invoice changed state meanwhile; the next pay call reconciles it',
});

/**
 * Group commit for "paid": confirmations that arrive while one UPDATE is in flight are written
 * together by the next one, so a pay run commits once per handful of invoices instead of once per
 * invoice. An invoice is reported paid only after its row says so. If the process dies between the
 * provider's answer and the write, the invoice stays `paying` with its key, and the next pay call
 * re-sends it: the provider replays its answer, nothing is paid twice.
 */
class PaidRecorder {
  private readonly commits: GroupCommit<{ id: string; key: string }, boolean>;

  constructor(invoices: Invoices) {
    this.commits = new GroupCommit(
      async (batch) => {
        const paid = await invoices.markPaid(batch);
        return batch.map((p) => paid.has(p.id));
      },
      { maxBatch: 500, maxInFlight: 1 },
    );
  }

  /** Resolves true once the invoice's row says paid; false when it changed state meanwhile. */
  record(id: string, key: string): Promise<boolean> {
    return this.commits.add({ id, key });
  }
}
