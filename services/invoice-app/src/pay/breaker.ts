/**
 * A per-call circuit breaker for a provider that is down (connection refused, name not resolved:
 * nothing was sent). Once open, the rest of the call releases each invoice it claims without
 * sending it, so that a backlog is reported in seconds instead of waiting out every retry against
 * a dead address. Timeouts and 5xx do not count: a slow provider may still be paying. Each pay call
 * has its own (see PayRun), so the next call starts closed and probes the provider again.
 */
export class Breaker {
  readonly #threshold: number;
  #unreachableInARow = 0;
  #open = false;

  /** Opens after `threshold` invoices in a row end `unreachable`. */
  constructor(threshold: number) {
    if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError('threshold must be an integer >= 1');
    this.#threshold = threshold;
  }

  get open(): boolean {
    return this.#open;
  }

  /** One attempt reached the provider (any answer but `unreachable`): the run so far is broken. */
  reached(): void {
    this.#unreachableInARow = 0;
  }

  /** One invoice's final result: counted when nothing of it left this host, else the run is broken. */
  settled(unreachable: boolean): void {
    this.#unreachableInARow = unreachable ? this.#unreachableInARow + 1 : 0;
    if (this.#unreachableInARow >= this.#threshold) this.#open = true;
  }
}
