// The pure decisions of paying one invoice and the per-call breaker, without a provider or a database.
import { describe, expect, it } from 'vitest';

import type { ProviderOutcome } from '../src/adapters/provider.ts';
import { Breaker } from '../src/pay/breaker.ts';
import { nextStep } from '../src/pay/decide.ts';

const policy = { retries: 2, backoffMs: 100 };
const paid: ProviderOutcome = { kind: 'paid' };
const refused: ProviderOutcome = { kind: 'rejected', status: 422, detail: 'bad currency' };
const unknown = (reason: 'timeout' | 'unreachable' | 'key_conflict', retryAfterMs?: number): ProviderOutcome => ({
  kind: 'unknown',
  reason,
  detail: `${reason} detail`,
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});

describe('nextStep', () => {
  it('sends first, and stops on the first paid answer', () => {
    expect(nextStep([], policy, true, 0.5)).toEqual({ kind: 'send' });
    expect(nextStep([unknown('timeout'), paid], policy, true, 0.5)).toEqual({ kind: 'paid' });
  });

  it('forgets a fresh key on refusal only when no earlier attempt can have reached the provider', () => {
    expect(nextStep([refused], policy, true, 0)).toEqual({ kind: 'rejected', detail: 'bad currency', forgetKey: true });
    expect(nextStep([unknown('unreachable'), refused], policy, true, 0)).toMatchObject({ forgetKey: true });
    expect(nextStep([unknown('timeout'), refused], policy, true, 0)).toMatchObject({ forgetKey: false });
    // A key an earlier pay call used may have paid then.
    expect(nextStep([refused], policy, false, 0)).toMatchObject({ forgetKey: false });
  });

  it('retries with full jitter under the exponential ceiling, or after Retry-After bounded by it', () => {
    expect(nextStep([unknown('timeout')], policy, true, 0.5)).toEqual({ kind: 'retry', afterMs: 100 });
    expect(nextStep([unknown('timeout'), unknown('timeout')], policy, true, 0.25)).toEqual({
      kind: 'retry',
      afterMs: 100,
    });
    expect(nextStep([unknown('timeout', 30)], policy, true, 0.99)).toEqual({ kind: 'retry', afterMs: 30 });
    expect(nextStep([unknown('timeout', 60_000)], policy, true, 0)).toEqual({ kind: 'retry', afterMs: 200 });
  });

  it('gives up after retries + 1 attempts, and at once on a key conflict', () => {
    const three = [unknown('timeout'), unknown('timeout'), unknown('timeout')];
    expect(nextStep(three, policy, true, 0)).toEqual({ kind: 'gave-up', reason: 'timeout', said: 'timeout detail' });
    expect(nextStep([unknown('key_conflict')], policy, true, 0)).toMatchObject({
      kind: 'gave-up',
      reason: 'key_conflict',
    });
    expect(nextStep([unknown('timeout')], { retries: 0, backoffMs: 100 }, true, 0)).toMatchObject({ kind: 'gave-up' });
  });

  it('says unreachable only when no attempt left this host, else unknown naming the one that may have', () => {
    const never = [unknown('unreachable'), unknown('unreachable'), unknown('unreachable')];
    expect(nextStep(never, policy, true, 0)).toMatchObject({ kind: 'gave-up', reason: 'unreachable' });
    const step = nextStep([unknown('timeout'), unknown('unreachable'), unknown('unreachable')], policy, true, 0);
    expect(step).toMatchObject({ kind: 'gave-up', reason: 'unknown' });
    expect(step.kind === 'gave-up' && step.said).toMatch(/may have reached the provider \(timeout timeout detail\)/);
    // The last attempt reached it: its own reason.
    expect(
      nextStep([unknown('unreachable'), unknown('unreachable'), unknown('timeout')], policy, true, 0),
    ).toMatchObject({ reason: 'timeout' });
  });
});

describe('Breaker', () => {
  it('opens after the threshold of unreachable invoices in a row, and stays open', () => {
    const breaker = new Breaker(3);
    breaker.settled(true);
    breaker.settled(true);
    expect(breaker.open).toBe(false);
    breaker.settled(true);
    expect(breaker.open).toBe(true);
    breaker.settled(false);
    expect(breaker.open).toBe(true);
  });

  it('starts the count again when an invoice or one attempt reached the provider', () => {
    const breaker = new Breaker(2);
    breaker.settled(true);
    breaker.settled(false);
    breaker.settled(true);
    expect(breaker.open).toBe(false);
    breaker.reached();
    breaker.settled(true);
    expect(breaker.open).toBe(false);
    breaker.settled(true);
    expect(breaker.open).toBe(true);
  });

  it('refuses a threshold below one', () => {
    expect(() => new Breaker(0)).toThrow(RangeError);
  });
});
