// Which Deployment changes are the reconciler's own scale writes, by the resourceVersion each write
// returned (client-go's "expectations"): until the watch delivers that version, the cache is
// behind, not drifted. One instance per leadership term, dropped with it.

/** How long a scale write may take to show in the Deployment cache before it is not trusted. */
export const PENDING_MS = 5_000;

export class OwnWrites {
  /** Scale writes whose watch event has not arrived yet. Cleared by that event, or after pendingMs. */
  #pending = new Map<string, { resourceVersion: string; until: number }>();
  /** The last few resourceVersions the Deployment watch delivered per key (our write may arrive first). */
  #recent = new Map<string, string[]>();
  #pendingMs: number;
  #now: () => number;

  constructor(pendingMs = PENDING_MS, now: () => number = () => performance.now()) {
    this.#pendingMs = pendingMs;
    this.#now = now;
  }

  /** A Deployment watch event for the key. */
  observed(key: string, resourceVersion: string, deleted = false): void {
    if (this.#pending.get(key)?.resourceVersion === resourceVersion) {
      this.#pending.delete(key); // our own write, seen: later events are someone else's
    }
    if (deleted) {
      this.#recent.delete(key);
      return;
    }
    const recent = this.#recent.get(key) ?? [];
    recent.push(resourceVersion);
    if (recent.length > 8) recent.shift();
    this.#recent.set(key, recent);
  }

  /** This term wrote the key's scale and got `resourceVersion` back. */
  wrote(key: string, resourceVersion: string): void {
    if (this.#recent.get(key)?.includes(resourceVersion)) return; // the watch was first
    this.#pending.set(key, { resourceVersion, until: this.#now() + this.#pendingMs });
  }

  /** Milliseconds until an own write still on its way is no longer waited for; undefined: none awaited. */
  awaitingMs(key: string): number | undefined {
    const pending = this.#pending.get(key);
    if (pending && this.#now() < pending.until) return pending.until - this.#now();
    this.#pending.delete(key);
    return undefined;
  }

  forget(key: string): void {
    this.#pending.delete(key);
  }
}
