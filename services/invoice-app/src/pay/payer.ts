// Paying every unpaid invoice: claim a batch, send each to the provider with its attempt key
// (PAY_CONCURRENCY at a time), record each outcome as it comes, claim the next batch, until
// nothing payable is left. One invoice's failure never stops the others.
//
// One pay call is one PayRun: its queue, the invoices it gave up on, its breaker and its report
// live in the run and are dropped with it, so nothing crosses calls. payOne executes one invoice's
// steps (decide.ts says which) and returns an outcome; the run alone applies outcomes to its state.
import { setTimeout as sleep } from 'node:timers/promises';

import { jsonDecimal } from '@sre-platform/currency';
import { GroupCommit } from '@sre-platform/database';

import type { PaymentProvider, ProviderOutcome } from '../adapters/provider.ts';
import { byId, type ClaimedInvoice, type Invoice, type Invoices } from '../adapters/invoices.ts';
import { Breaker } from './breaker.ts';
import { nextStep, type FailureReason } from './decide.ts';

export type { FailureReason } from './decide.ts';

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

/**
 * What sending one invoice came to. `paid`: the provider confirmed it (the run records it).
 * `rejected` / `gave-up`: the run writes the row back (the key kept or forgotten) with `said` as
 * its last error, and reports `failure`.
 */
export type PayOutcome =
  | { kind: 'paid' }
  | { kind: 'rejected'; failure: Failure; said: string; forgetKey: boolean }
  | { kind: 'gave-up'; failure: Failure; said: string };

/** The long-lived part: what every pay call shares (the database, the provider, the settings). */
export class Payer {
  readonly #invoices: Invoices;
  readonly #provider: PaymentProvider;
  readonly #settings: PayerSettings;
  readonly #events: PayerEvents;

  constructor(invoices: Invoices, provider: PaymentProvider, settings: PayerSettings, events: PayerEvents = {}) {
    this.#invoices = invoices;
    this.#provider = provider;
    this.#settings = settings;
    this.#events = events;
  }

  payAll(): Promise<PayReport> {
    return new PayRun(this.#invoices, this.#settings, this.#events, (invoice, breaker) =>
      this.payOne(invoice, breaker),
    ).run();
  }

  /**
   * Sends one claimed invoice to the provider, retrying as nextStep says, and returns what came of
   * it; it writes nothing. Each attempt that reached the provider tells the run's breaker at once,
   * so that concurrent invoices do not open it meanwhile.
   */
  async payOne(invoice: ClaimedInvoice, breaker: Pick<Breaker, 'reached'>): Promise<PayOutcome> {
    const { retries, backoffMs } = this.#settings;
    const order = {
      invoiceId: invoice.id,
      value: jsonDecimal(invoice.amountMinor, invoice.exponent),
      currency: invoice.currency,
    };
    const attempts: ProviderOutcome[] = [];
    for (;;) {
      const step = nextStep(attempts, { retries, backoffMs }, invoice.freshKey, Math.random());
      switch (step.kind) {
        case 'retry':
        case 'send': {
          if (step.kind === 'retry') await sleep(step.afterMs);
          const t0 = performance.now();
          const outcome = await this.#provider.pay(order, invoice.attemptKey);
          this.#events.attempt?.(outcome, (performance.now() - t0) / 1000);
          if (outcome.kind !== 'unknown' || outcome.reason !== 'unreachable') breaker.reached();
          attempts.push(outcome);
          break;
        }
        case 'paid':
          return { kind: 'paid' };
        case 'rejected':
          return {
            kind: 'rejected',
            said: step.detail,
            forgetKey: step.forgetKey,
            failure: {
              invoice,
              reason: 'rejected',
              retryable: false,
              detail: `the payment provider refused it: ${step.detail}`,
            },
          };
        case 'gave-up':
          return {
            kind: 'gave-up',
            said: step.said,
            failure: {
              invoice,
              reason: step.reason,
              retryable: true,
              detail: `${step.said} (after ${retries + 1} attempt${retries === 0 ? '' : 's'}; it stays unpaid and the next pay call re-sends it with the same Idempotency-Key)`,
            },
          };
      }
    }
  }
}

/** One pay call: created by payAll, dropped when it answers. */
class PayRun {
  readonly #invoices: Invoices;
  readonly #settings: PayerSettings;
  readonly #events: PayerEvents;
  readonly #payOne: (invoice: ClaimedInvoice, breaker: Breaker) => Promise<PayOutcome>;
  readonly #report: PayReport = { paid: [], failed: [], inProgress: [] };
  /** Invoices this call settled without paying: released before they are done, never claimed again by it. */
  readonly #failedIds: string[] = [];
  readonly #recorder: PaidRecorder;
  readonly #breaker: Breaker;
  readonly #queue: ClaimedInvoice[] = [];
  // A worker does not wait for its invoice's paid UPDATE (group-committed with others): it goes on
  // to the next invoice, so PAY_CONCURRENCY provider calls stay in flight. The answer waits for all.
  readonly #recordings: Promise<void>[] = [];
  #exhausted = false;
  #claiming: Promise<void> | undefined;
  // A database error stops this call from claiming more; what is in flight finishes, then it throws
  // (a 500): the invoices it held stay `paying` with their keys until their lease runs out.
  #broken: { error: unknown } | undefined;

  constructor(
    invoices: Invoices,
    settings: PayerSettings,
    events: PayerEvents,
    payOne: (invoice: ClaimedInvoice, breaker: Breaker) => Promise<PayOutcome>,
  ) {
    this.#invoices = invoices;
    this.#settings = settings;
    this.#events = events;
    this.#payOne = payOne;
    this.#recorder = new PaidRecorder(invoices);
    this.#breaker = new Breaker(settings.stopAfterUnreachable);
  }

  async run(): Promise<PayReport> {
    await Promise.allSettled(Array.from({ length: this.#settings.concurrency }, () => this.#worker()));
    await Promise.all(this.#recordings);
    if (this.#broken) throw this.#broken.error;
    const report = this.#report;
    report.inProgress = await this.#invoices.inProgress();
    report.paid.sort(byId);
    report.failed.sort((a, b) => byId(a.invoice, b.invoice));
    return report;
  }

  async #worker(): Promise<void> {
    try {
      for (let invoice = await this.#next(); invoice && !this.#broken; invoice = await this.#next()) {
        await this.#apply(
          invoice,
          this.#breaker.open ? notSent(invoice, this.#settings) : await this.#payOne(invoice, this.#breaker),
        );
      }
    } catch (error) {
      this.#break(error);
      throw error;
    }
  }

  /** Single-flight claiming: whichever worker finds the queue empty fetches the next batch. */
  async #next(): Promise<ClaimedInvoice | undefined> {
    const { batchSize, leaseMs } = this.#settings;
    while (this.#queue.length === 0 && !this.#exhausted) {
      this.#claiming ??= this.#invoices
        .claim(batchSize, leaseMs, this.#failedIds)
        .then((rows) => {
          if (rows.length === 0) this.#exhausted = true;
          this.#queue.push(...rows);
        })
        .finally(() => {
          this.#claiming = undefined;
        });
      await this.#claiming;
    }
    return this.#queue.shift();
  }

  /** The executor: one outcome's writes, breaker and report. */
  async #apply(invoice: ClaimedInvoice, outcome: PayOutcome | NotSent): Promise<void> {
    if (outcome.kind === 'paid') {
      this.#recordings.push(
        this.#recorder.record(invoice.id, invoice.attemptKey).then(
          (recorded) => {
            this.#settle(invoice, recorded ? undefined : lostRace(invoice));
          },
          (error: unknown) => {
            this.#break(error);
          },
        ),
      );
      return;
    }
    if (outcome.kind === 'gave-up') this.#breaker.settled(outcome.failure.reason === 'unreachable');
    // Into failedIds before the row is released, so that this call cannot claim it again.
    this.#failedIds.push(invoice.id);
    if (outcome.kind === 'rejected') {
      await this.#invoices.markRejected(invoice.id, invoice.attemptKey, `rejected ${outcome.said}`, outcome.forgetKey);
    } else {
      await this.#invoices.release(invoice.id, invoice.attemptKey, `${outcome.failure.reason} ${outcome.said}`);
    }
    this.#settle(invoice, outcome.failure);
  }

  #settle(invoice: Invoice, failure: Failure | undefined): void {
    if (failure) {
      this.#report.failed.push(failure);
      this.#events.settled?.(failure.reason);
    } else {
      this.#report.paid.push(invoice);
      this.#events.settled?.('paid');
    }
  }

  #break(error: unknown): void {
    this.#broken ??= { error };
    this.#exhausted = true;
  }
}

/** The breaker is open: the invoice is released without being sent. */
type NotSent = { kind: 'not-sent'; failure: Failure; said: string };

function notSent(invoice: Invoice, settings: PayerSettings): NotSent {
  const detail = `not sent: the payment provider was unreachable for the last ${settings.stopAfterUnreachable} invoices of this call`;
  return { kind: 'not-sent', failure: { invoice, reason: 'unreachable', retryable: true, detail }, said: detail };
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
  readonly #commits: GroupCommit<{ id: string; key: string }, boolean>;

  constructor(invoices: Invoices) {
    this.#commits = new GroupCommit(
      async (batch) => {
        const paid = await invoices.markPaid(batch);
        return batch.map((p) => paid.has(p.id));
      },
      { maxBatch: 500, maxInFlight: 1 },
    );
  }

  /** Resolves true once the invoice's row says paid; false when it changed state meanwhile. */
  record(id: string, key: string): Promise<boolean> {
    return this.#commits.add({ id, key });
  }
}
