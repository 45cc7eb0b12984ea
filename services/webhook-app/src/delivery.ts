// The delivery worker: claims due events, sends them, records the outcome. Capped exponential
// back-off with full jitter; a bounded number of attempts, then the dead-letter state.

import type { Logger } from '@sre-platform/service-kit';

import type { Outcome } from './adapters/rocketchat.ts';
import type { ClaimedEvent, Outbox } from './outbox.ts';

export interface DeliverySettings {
  batchSize: number;
  /** Sends in flight at once within a batch. */
  concurrency: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Longer than a delivery can take (the Rocket.Chat timeout times its calls), so leases do not expire mid-send. */
  leaseMs: number;
  idlePollMs: number;
  /** How long a wake-up after an accept waits for more accepts before claiming. */
  wakeWindowMs: number;
}

/** What the worker reports; prom-client metrics in-process, messages to the main thread from a thread. */
export interface DeliveryMetrics {
  delivered(latencySeconds: number): void;
  failed(reason: string): void;
  deadLettered(reason: string): void;
}

export interface Sender {
  sendDirectMessage(username: string, text: string, idempotencyKey: string): Promise<Outcome>;
}

/** Delay before attempt `attempt + 1`: uniformly random up to min(cap, base * 2^(attempt - 1)). */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

export class DeliveryWorker {
  private running = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;
  private pausedUntil = 0;

  private readonly outbox: Outbox;
  private readonly sender: Sender;
  private readonly settings: DeliverySettings;
  private readonly metrics: DeliveryMetrics;
  private readonly log: Logger;

  constructor(outbox: Outbox, sender: Sender, settings: DeliverySettings, metrics: DeliveryMetrics, log: Logger) {
    this.outbox = outbox;
    this.sender = sender;
    this.settings = settings;
    this.metrics = metrics;
    this.log = log;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  private wakeScheduled = false;

  /**
   * Called after an event is accepted, so delivery starts without waiting for the next poll. Wakes
   * are coalesced over a short window, so that a burst of accepts becomes one claim of many rows
   * instead of many claims of one.
   */
  wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setTimeout(() => {
      this.wakeScheduled = false;
      this.wakeUp?.();
    }, this.settings.wakeWindowMs).unref();
  }

  /** Finishes the batch in hand (its leases stay valid) and stops claiming. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed: ClaimedEvent[];
      try {
        const pause = this.pausedUntil - Date.now();
        if (pause > 0) await this.idle(pause);
        if (!this.running) break;
        claimed = await this.outbox.claim(this.settings.batchSize, this.settings.leaseMs);
        // Up to `concurrency` sends at once: throughput over strict ordering (each message names
        // its ref and SHA, so a reader never depends on arrival order).
        const queue = [...claimed];
        const succeeded: { event: ClaimedEvent; duplicate: boolean }[] = [];
        await Promise.all(
          Array.from({ length: Math.min(this.settings.concurrency, queue.length) }, async () => {
            for (let event = queue.shift(); event; event = queue.shift()) {
              const ok = await this.deliver(event);
              if (ok) succeeded.push({ event, duplicate: ok.duplicate });
            }
          }),
        );
        await this.recordDelivered(succeeded);
      } catch (err) {
        this.log.error({ err }, 'delivery loop error; retrying shortly');
        await this.idle(1000);
        continue;
      }
      if (claimed.length < this.settings.batchSize) await this.idle(this.settings.idlePollMs);
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** One statement for the whole batch's successes. */
  private async recordDelivered(succeeded: { event: ClaimedEvent; duplicate: boolean }[]): Promise<void> {
    const owned = await this.outbox.delivered(succeeded.map((s) => s.event));
    for (const { event, duplicate } of succeeded) {
      const ctx = { eventId: event.id, idempotencyKey: event.idempotencyKey, attempt: event.attempts };
      if (owned.has(event.id)) {
        this.metrics.delivered((Date.now() - event.receivedAt.getTime()) / 1000);
        this.log.info({ ...ctx, duplicate }, 'delivered');
      } else {
        this.log.warn(ctx, 'delivered, but the lease had expired: another worker owns the event now');
      }
    }
  }

  /** Sends one event; returns how it went when it was delivered, and records every other outcome. */
  private async deliver(event: ClaimedEvent): Promise<{ duplicate: boolean } | undefined> {
    if (Date.now() < this.pausedUntil) {
      // Rate limited while this batch was in hand: hand the event back without spending an attempt.
      await this.outbox.retryLater(event, this.pausedUntil - Date.now(), 'waiting for the rate limit to reset', false);
      return undefined;
    }
    const outcome = await this.sender.sendDirectMessage(event.recipient, event.message, event.idempotencyKey);
    const ctx = { eventId: event.id, idempotencyKey: event.idempotencyKey, attempt: event.attempts };
    if (outcome.kind === 'delivered') return { duplicate: outcome.duplicate };
    this.metrics.failed(outcome.reason);
    if (outcome.kind === 'fatal' || (outcome.countAttempt && event.attempts >= this.settings.maxAttempts)) {
      const why = outcome.kind === 'fatal' ? outcome.reason : 'attempts_exhausted';
      await this.outbox.dead(event, outcome.detail);
      this.metrics.deadLettered(why);
      this.log.error(
        { ...ctx, reason: outcome.reason, detail: outcome.detail },
        'dead letter: replay it from the admin API once fixed',
      );
      return;
    }
    let delay = outcome.afterMs ?? backoffMs(event.attempts, this.settings.backoffBaseMs, this.settings.backoffCapMs);
    if (outcome.reason === 'rate_limited') {
      // The limit is per route and client: stop sending anything until it resets.
      delay = Math.max(delay, 0);
      this.pausedUntil = Date.now() + delay;
    }
    await this.outbox.retryLater(event, delay, outcome.detail, outcome.countAttempt);
    const level = outcome.reason === 'unauthorized' ? 'error' : 'warn';
    this.log[level](
      { ...ctx, reason: outcome.reason, detail: outcome.detail, retryInMs: delay },
      'delivery failed; will retry',
    );
  }
}
