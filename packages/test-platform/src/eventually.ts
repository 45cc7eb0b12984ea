// The one polling helper of the tests: wait for a condition by its outcome, never by a fixed sleep, with a
// deadline that only bounds a wait that will never succeed (generous: CI machines are shared and slow at times).
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it returns a value other than undefined and resolves to it; a probe that throws counts as
 * "not yet". Past `timeoutMs`, fails naming `what` and the last error seen.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}
