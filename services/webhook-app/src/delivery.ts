// The delivery worker: claims due events, sends them, records the outcome. Capped exponential
// back-off with full jitter; a bounded number of attempts, then the dead-letter state. What a
// failed send leads to is the pure `afterFailure`; the worker executes it.
import type { Logger } from '@sre-platform/service-kit';

import { RocketChatClient, type Outcome } from './adapters/rocketchat.ts';
import type { Config } from './config.ts';
import type { ClaimedEvent, Outbox } from './adapters/outbox.ts';

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
  /** How long a wake-up after an accept waits for more accepts before claiming (see WakeThrottle). */
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

/** A running delivery: started once the database is ready, woken after accepts, stopped on shutdown. */
export interface Delivery {
  start(): void;
  /** Claims now instead of at the next poll. */
  wake(): void;
  /** Finishes the batch in hand, stops claiming and closes its Rocket.Chat client. */
  stop(): Promise<void>;
}

/** The worker and its Rocket.Chat client, on `outbox` (the one this thread or process has). */
export function createDelivery(config: Config, outbox: Outbox, metrics: DeliveryMetrics, log: Logger): Delivery {
  const rocketchat = new RocketChatClient(config.ROCKETCHAT_URL, config.rocketchatAuth, config.ROCKETCHAT_TIMEOUT_MS);
  const worker = new DeliveryWorker(outbox, rocketchat, config.delivery, metrics, log);
  return {
    start: () => {
      worker.start();
    },
    wake: () => {
      worker.wake();
    },
    stop: async () => {
      await worker.stop();
      await rocketchat.close();
    },
  };
}

/** Delay before attempt `attempt + 1`: uniformly random up to min(cap, base * 2^(attempt - 1)). */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

export type Failed = Exclude<Outcome, { kind: 'delivered' }>;

/**
 * What a failed send leads to, for an event on its `attempts`-th attempt: the dead-letter state
 * (a permanent failure, or the budget spent on attempts that count), or another try after
 * `delayMs` (`countAttempt` false gives the attempt back); `pauseAll` when Rocket.Chat rate-limited us (the limit is per route and client, so
 * nothing is sent until it resets).
 */
export function afterFailure(
  outcome: Failed,
  attempts: number,
  settings: Pick<DeliverySettings, 'maxAttempts' | 'backoffBaseMs' | 'backoffCapMs'>,
  random: () => number = Math.random,
): { kind: 'dead'; why: string } | { kind: 'retry'; delayMs: number; pauseAll: boolean; countAttempt: boolean } {
  if (outcome.kind === 'fatal') return { kind: 'dead', why: outcome.reason };
  if (outcome.countAttempt && attempts >= settings.maxAttempts) return { kind: 'dead', why: 'attempts_exhausted' };
  const delayMs = outcome.afterMs ?? backoffMs(attempts, settings.backoffBaseMs, settings.backoffCapMs, random);
  const { countAttempt } = outcome;
  return outcome.reason === 'rate_limited'
    ? { kind: 'retry', delayMs: Math.max(delayMs, 0), pauseAll: true, countAttempt }
    : { kind: 'retry', delayMs, pauseAll: false, countAttempt };
}

export class DeliveryWorker {
  #running = false;
  #loop?: Promise<void>;
  #wakeUp?: () => void;
  #pausedUntil = 0;

  readonly #outbox: Outbox;
  readonly #sender: Sender;
  readonly #settings: DeliverySettings;
  readonly #metrics: DeliveryMetrics;
  readonly #log: Logger;

  constructor(outbox: Outbox, sender: Sender, settings: DeliverySettings, metrics: DeliveryMetrics, log: Logger) {
    this.#outbox = outbox;
    this.#sender = sender;
    this.#settings = settings;
    this.#metrics = metrics;
    this.#log = log;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Ends the idle wait now. Wakes are coalesced before they get here (WakeThrottle, delivery-runner.ts). */
  wake(): void {
    this.#wakeUp?.();
  }

  /** Finishes the batch in hand (its leases stay valid) and stops claiming. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wakeUp?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed: ClaimedEvent[];
      try {
        const pause = this.#pausedUntil - Date.now();
        if (pause > 0) await this.#idle(pause);
        if (!this.#running) break;
        claimed = await this.#outbox.claim(this.#settings.batchSize, this.#settings.leaseMs);
        // Up to `concurrency` sends at once: throughput over strict ordering (each message names
        // its ref and SHA, so a reader never depends on arrival order).
        const queue = [...claimed];
        const succeeded: { event: ClaimedEvent; duplicate: boolean }[] = [];
        await Promise.all(
          Array.from({ length: Math.min(this.#settings.concurrency, queue.length) }, async () => {
            for (let event = queue.shift(); event; event = queue.shift()) {
              const ok = await this.#deliver(event);
              if (ok) succeeded.push({ event, duplicate: ok.duplicate });
            }
          }),
        );
        await this.#recordDelivered(succeeded);
      } catch (err) {
        this.#log.error({ err }, 'delivery loop error; retrying shortly');
        await this.#idle(1000);
        continue;
      }
      if (claimed.length < this.#settings.batchSize) await this.#idle(this.#settings.idlePollMs);
    }
  }

  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeUp = done;
    });
  }

  /** One statement for the whole batch's successes. */
  async #recordDelivered(succeeded: { event: ClaimedEvent; duplicate: boolean }[]): Promise<void> {
    const owned = await this.#outbox.delivered(succeeded.map((s) => s.event));
    for (const { event, duplicate } of succeeded) {
      const ctx = { eventId: event.id, idempotencyKey: event.idempotencyKey, attempt: event.attempts };
      if (owned.has(event.id)) {
        this.#metrics.delivered((Date.now() - event.receivedAt.getTime()) / 1000);
        this.#log.info({ ...ctx, duplicate }, 'delivered');
      } else {
        this.#log.warn(ctx, 'delivered, but the lease had expired: another worker owns the event now');
      }
    }
  }

  /** Sends one event; returns how it went when it was delivered, and records every other outcome. */
  async #deliver(event: ClaimedEvent): Promise<{ duplicate: boolean } | undefined> {
    if (Date.now() < this.#pausedUntil) {
      // Rate limited while this batch was in hand: hand the event back without spending an attempt.
      await this.#outbox.retryLater(
        event,
        this.#pausedUntil - Date.now(),
        'waiting for the rate limit to reset',
        false,
      );
      return undefined;
    }
    const outcome = await this.#sender.sendDirectMessage(event.recipient, event.message, event.idempotencyKey);
    const ctx = { eventId: event.id, idempotencyKey: event.idempotencyKey, attempt: event.attempts };
    if (outcome.kind === 'delivered') return { duplicate: outcome.duplicate };
    this.#metrics.failed(outcome.reason);
    const next = afterFailure(outcome, event.attempts, this.#settings);
    if (next.kind === 'dead') {
      await this.#outbox.dead(event, outcome.detail);
      this.#metrics.deadLettered(next.why);
      this.#log.error(
        { ...ctx, reason: outcome.reason, detail: outcome.detail },
        'dead letter: replay it from the admin API once fixed',
      );
      return;
    }
    if (next.pauseAll) this.#pausedUntil = Date.now() + next.delayMs;
    await this.#outbox.retryLater(event, next.delayMs, outcome.detail, next.countAttempt);
    const level = outcome.reason === 'unauthorized' ? 'error' : 'warn';
    this.#log[level](
      { ...ctx, reason: outcome.reason, detail: outcome.detail, retryInMs: next.delayMs },
      'delivery failed; will retry',
    );
  }
}
