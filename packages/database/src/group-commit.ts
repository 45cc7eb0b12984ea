// Group commit: callers add one item each and wait for their own result, while items that arrive
// during a flush are written together by the next one. There is no timer: an item that arrives
// when no flush is running is written at once (no added latency at low load), and under load the
// batches grow by themselves to whatever arrived while the previous flush was committing.
//
// For webhook-app's outbox this turns N single-row INSERT + COMMIT round trips into one multi-row
// INSERT and one COMMIT; invoice-app records confirmed payments the same way. Each caller is
// answered only after the statement holding its item has committed, so durability is unchanged.

export interface GroupCommitOptions {
  /** Most items per flush (bounds statement size and the latency of one flush). */
  maxBatch: number;
  /** Flushes running at once: 1 makes the largest groups; more overlap one commit with the next send. */
  maxInFlight: number;
}

interface Waiter<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R> {
  readonly #flush: (items: T[]) => Promise<R[]>;
  readonly #options: GroupCommitOptions;
  #queue: Waiter<T, R>[] = [];
  #inFlight = 0;

  /** `flush` returns one result per item, in order; if it throws, every item of that batch fails. */
  constructor(flush: (items: T[]) => Promise<R[]>, options: GroupCommitOptions) {
    if (options.maxBatch < 1 || options.maxInFlight < 1) throw new RangeError('maxBatch and maxInFlight must be >= 1');
    this.#flush = flush;
    this.#options = options;
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  /** Items waiting for a flush (not counting those being flushed). */
  get waiting(): number {
    return this.#queue.length;
  }

  #pump(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      this.#inFlight++;
      void this.#run(batch);
    }
  }

  async #run(batch: Waiter<T, R>[]): Promise<void> {
    try {
      const results = await this.#flush(batch.map((w) => w.item));
      if (results.length !== batch.length)
        throw new Error(`group commit: flush returned ${results.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(results[i] as R));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.#inFlight--;
      this.#pump();
    }
  }
}
