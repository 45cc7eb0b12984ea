// A de-duplicating, rate-limited work queue in the style of client-go's: a key queued several
// times before a worker takes it is processed once; a key is never processed by two workers at
// once (if it is re-added while in progress it is processed again afterwards); failures are
// retried with per-key exponential backoff; an overall token bucket bounds the processing rate.

export interface WorkQueueOptions {
  workers: number;
  /** Sustained keys per second and the bucket size. */
  qps: number;
  burst: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  process: (key: string) => Promise<void>;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  #o: WorkQueueOptions;
  #queue: string[] = [];
  #queued = new Set<string>();
  #processing = new Set<string>();
  #dirtyWhileProcessing = new Set<string>();
  #failures = new Map<string, number>();
  #retryTimers = new Map<string, NodeJS.Timeout>();
  #tokens: number;
  #lastRefill = performance.now();
  #running = 0;
  #wakeTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(o: WorkQueueOptions) {
    this.#o = o;
    this.#tokens = o.burst;
  }

  get depth(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirtyWhileProcessing.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Re-adds the key after its backoff (exponential in its consecutive failures). */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = Math.min(this.#o.backoffCapMs, this.#o.backoffBaseMs * 2 ** failures);
    this.#later(key, delay);
    return delay;
  }

  /** Adds the key after `ms` (a check that is due later, not a failure). */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    this.#later(key, ms);
  }

  /** One timer per key: a later request replaces an earlier one. */
  #later(key: string, ms: number): void {
    clearTimeout(this.#retryTimers.get(key));
    this.#retryTimers.set(
      key,
      setTimeout(() => {
        this.#retryTimers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Stops taking new work; resolves when in-flight keys are done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#wakeTimer);
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    this.#queue = [];
    this.#queued.clear();
    if (this.#running === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.#o.burst, this.#tokens + ((now - this.#lastRefill) / 1000) * this.#o.qps);
    this.#lastRefill = now;
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#o.workers && this.#queue.length > 0) {
      this.#refill();
      if (this.#tokens < 1) {
        if (this.#wakeTimer === undefined) {
          const wait = Math.ceil(((1 - this.#tokens) / this.#o.qps) * 1000);
          this.#wakeTimer = setTimeout(() => {
            this.#wakeTimer = undefined;
            this.#pump();
          }, wait);
        }
        return;
      }
      this.#tokens -= 1;
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#running += 1;
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#o.process(key);
      this.forget(key);
    } catch (err) {
      if (!this.#stopped) {
        const delay = this.addRateLimited(key);
        this.#o.onError?.(key, err, delay);
      }
    } finally {
      this.#processing.delete(key);
      this.#running -= 1;
      if (this.#dirtyWhileProcessing.delete(key)) this.add(key);
      if (this.#running === 0 && this.#stopped) for (const r of this.#idle.splice(0)) r();
      this.#pump();
    }
  }
}
