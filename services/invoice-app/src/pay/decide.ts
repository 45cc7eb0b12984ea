// The pure half of paying one invoice: given the provider's answers so far, what happens next
// (send, stop paid, stop refused, re-send with the same key after a wait, or give up and say why). No I/O,
// no clock, no randomness of its own: payOne executes the step, the unit tests drive this directly.
import type { ProviderOutcome, UnknownReason } from '../adapters/provider.ts';

/**
 * `unknown`: an earlier attempt may have reached the provider, and the last one did not even
 * connect; `unreachable` is kept for invoices of which nothing left this host at all.
 */
export type FailureReason = 'rejected' | UnknownReason | 'unknown';

export interface RetryPolicy {
  retries: number;
  backoffMs: number;
}

export type Step =
  | { kind: 'send' }
  /** Re-send with the same key after this long. */
  | { kind: 'retry'; afterMs: number }
  | { kind: 'paid' }
  /** Refused; `forgetKey` when no attempt under the key can have paid (so the key may be dropped). */
  | { kind: 'rejected'; detail: string; forgetKey: boolean }
  /** Out of attempts (or a reason no retry can fix); the invoice stays unpaid with its key. */
  | { kind: 'gave-up'; reason: Exclude<FailureReason, 'rejected'>; said: string };

type Unknown = Extract<ProviderOutcome, { kind: 'unknown' }>;

/**
 * The next step after `attempts` (the provider's answers, oldest first). `freshKey`: the key was
 * minted for this claim (no earlier pay call used it). `jitter` is a number in [0, 1), Math.random's
 * in production. A retry waits with full jitter, or the provider's Retry-After when it gave one,
 * bounded by the exponential ceiling (the lease's budget).
 */
export function nextStep(
  attempts: readonly ProviderOutcome[],
  policy: RetryPolicy,
  freshKey: boolean,
  jitter: number,
): Step {
  const last = attempts.at(-1);
  if (last === undefined) return { kind: 'send' };
  // The last attempt that may have reached the provider (anything but `unreachable`), if any.
  const reached = attempts.findLast((a): a is Unknown => a.kind === 'unknown' && a.reason !== 'unreachable');
  if (last.kind === 'paid') return { kind: 'paid' };
  // The key goes only if no earlier attempt under it can have paid.
  if (last.kind === 'rejected') return { kind: 'rejected', detail: last.detail, forgetKey: freshKey && !reached };
  // A key reused for another request is not something a retry can fix.
  if (last.reason !== 'key_conflict' && attempts.length <= policy.retries) {
    const ceiling = policy.backoffMs * 2 ** attempts.length;
    return { kind: 'retry', afterMs: Math.min(last.retryAfterMs ?? jitter * ceiling, ceiling) };
  }
  // `unreachable` only when no attempt left this host; after one that may have, the outcome is unknown.
  const earlier = last.reason === 'unreachable' ? reached : undefined;
  return earlier
    ? {
        kind: 'gave-up',
        reason: 'unknown',
        said: `an earlier attempt may have reached the provider (${earlier.reason} ${earlier.detail}); the last was ${last.detail}`,
      }
    : { kind: 'gave-up', reason: last.reason, said: last.detail };
}
