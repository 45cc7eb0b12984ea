// The delivery's pure parts and its plumbing, without Rocket.Chat, a database or a thread: what a
// failed send leads to, the one wake throttle, the settings derived from configuration, and the
// metric batching of the thread protocol.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Outcome } from '../src/adapters/rocketchat.ts';
import { readConfig } from '../src/config.ts';
import { afterFailure, type DeliveryMetrics } from '../src/delivery.ts';
import { applyFromThread, metricsToMain, type FromThread } from '../src/delivery-protocol.ts';
import { WakeThrottle } from '../src/delivery-runner.ts';

// Timers are fake throughout (the throttle and the metric batching wait on them; the rest never does).
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

type Failed = Exclude<Outcome, { kind: 'delivered' }>;
const settings = { maxAttempts: 3, backoffBaseMs: 1000, backoffCapMs: 60_000 };
const retry = (over: Partial<Extract<Failed, { kind: 'retry' }>> = {}): Failed => ({
  kind: 'retry',
  reason: 'server_error',
  detail: '503',
  countAttempt: true,
  ...over,
});

describe('afterFailure', () => {
  it('dead-letters a permanent failure at once, naming its reason', () => {
    expect(afterFailure({ kind: 'fatal', reason: 'unknown_user', detail: 'no such user' }, 1, settings)).toEqual({
      kind: 'dead',
      why: 'unknown_user',
    });
  });

  it('dead-letters once the budget is spent, but only on attempts that count', () => {
    expect(afterFailure(retry(), 3, settings)).toEqual({ kind: 'dead', why: 'attempts_exhausted' });
    expect(afterFailure(retry({ countAttempt: false }), 3, settings)).toMatchObject({ kind: 'retry' });
  });

  it('retries after jittered back-off, or when the server said, and pauses everything on a rate limit', () => {
    expect(afterFailure(retry(), 3 - 1, settings, () => 0.5)).toEqual({
      kind: 'retry',
      delayMs: 1000,
      pauseAll: false,
      countAttempt: true,
    });
    expect(afterFailure(retry({ afterMs: 1234 }), 1, settings, () => 0.5)).toMatchObject({ delayMs: 1234 });
    expect(afterFailure(retry({ reason: 'rate_limited', afterMs: -5, countAttempt: false }), 1, settings)).toEqual({
      kind: 'retry',
      delayMs: 0,
      pauseAll: true,
      countAttempt: false,
    });
  });
});

describe('WakeThrottle', () => {
  it('fires once per window however many wakes arrive in it, then again for the next burst', () => {
    const fire = vi.fn();
    const throttle = new WakeThrottle(10, fire);
    for (let i = 0; i < 100; i++) throttle.wake();
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(10);
    expect(fire).toHaveBeenCalledTimes(1);
    throttle.wake();
    throttle.wake();
    vi.advanceTimersByTime(9);
    expect(fire).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(2);
  });
});

describe('delivery settings, derived in config.ts', () => {
  const env = {
    GITLAB_WEBHOOK_SECRET: 'a-webhook-secret-of-16',
    ROCKETCHAT_URL: 'http://rocketchat.invalid',
    ROCKETCHAT_USER_ID: 'bot',
    ROCKETCHAT_AUTH_TOKEN: 'token',
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
  };

  it('maps the variables and bounds the lease by four Rocket.Chat calls plus slack', () => {
    const { delivery } = readConfig({
      ...env,
      ROCKETCHAT_TIMEOUT_MS: '2000',
      DELIVERY_BATCH_SIZE: '50',
      DELIVERY_CONCURRENCY: '4',
      DELIVERY_MAX_ATTEMPTS: '7',
      DELIVERY_POLL_MS: '250',
    });
    expect(delivery).toEqual({
      batchSize: 50,
      concurrency: 4,
      maxAttempts: 7,
      backoffBaseMs: 1000,
      backoffCapMs: 300_000,
      leaseMs: 2000 * 4 + 10_000,
      idlePollMs: 250,
      wakeWindowMs: 10,
    });
    // Plain data: it crosses to the delivery thread as workerData.
    expect(structuredClone(delivery)).toEqual(delivery);
  });
});

describe('the thread protocol', () => {
  it('batches metric events into one message per window, applied in order on the main side', () => {
    const sent: FromThread[] = [];
    const { metrics, flush } = metricsToMain((m) => sent.push(m));
    metrics.delivered(0.5);
    metrics.failed('timeout');
    metrics.deadLettered('attempts_exhausted');
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(sent).toHaveLength(1);
    metrics.delivered(1);
    flush();
    expect(sent).toHaveLength(2);

    const seen: string[] = [];
    const main: DeliveryMetrics = {
      delivered: (s) => seen.push(`delivered ${s}`),
      failed: (r) => seen.push(`failed ${r}`),
      deadLettered: (r) => seen.push(`dead ${r}`),
    };
    for (const m of sent) applyFromThread(main, m);
    expect(seen).toEqual(['delivered 0.5', 'failed timeout', 'dead attempts_exhausted', 'delivered 1']);
  });
});
