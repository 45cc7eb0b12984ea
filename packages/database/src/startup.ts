// Start-up against a database that may not answer yet. In a cluster a service and its database start
// in any order, and a database restarts under a running service: exiting on the first refused
// connection turns that ordinary moment into a CrashLoopBackOff whose delay grows to five minutes.
// Instead the service listens at once (/healthz 200, /readyz 503 saying why) and a background run
// retries with bounded, jittered exponential back-off until the database answers, then migrates.
//
// The shape of the project's background loops: a run object holds the run's state (attempt, last
// error, next attempt), pure functions decide (the delay after a failure, whether to log it, what
// the error may say), and a thin executor applies them.
import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger, ReadinessCheck, ServiceOptions } from '@sre-platform/service-kit';

import type { Database } from './index.ts';
import { databaseUnavailable } from './unavailable.ts';

export interface RetryPolicy {
  /** The delay's ceiling after the first failure; it doubles with every further failure. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

export interface LogPolicy {
  /** Attempts logged one by one from the start. */
  firstAttempts: number;
  /** After those, at most one warning per this many milliseconds (the skipped count rides along). */
  intervalMs: number;
}

export const DEFAULT_LOG_POLICY: LogPolicy = { firstAttempts: 5, intervalMs: 30_000 };
/** The defaults of DATABASE_RETRY_INITIAL_MS and DATABASE_RETRY_MAX_MS. */
export const DEFAULT_RETRY: RetryPolicy = { initialMs: 100, maxMs: 1000 };

/**
 * The delay before the next attempt after `attempt` failures in a row (attempt >= 1): a random point
 * in the upper half of min(maxMs, initialMs * 2^(attempt-1)) ("equal jitter"), so replicas that failed
 * together spread apart while no delay exceeds maxMs and none collapses to zero.
 */
export function nextDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 40));
  return Math.min(policy.maxMs, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}

/** Whether the failure of `attempt` is logged, given the time since the last logged one. */
export function shouldLogFailure(attempt: number, msSinceLastLog: number | undefined, policy: LogPolicy): boolean {
  return attempt <= policy.firstAttempts || msSinceLastLog === undefined || msSinceLastLog >= policy.intervalMs;
}

/**
 * What a database error may say in a probe or a log line: its code and message, with every secret
 * (the URL, its password) replaced, and bounded in length. Node reports a refused connection to a
 * name with several addresses as an AggregateError with an empty message: its parts are named instead.
 */
export function describeDatabaseError(err: unknown, secrets: readonly string[]): string {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; errors?: unknown };
  let message = typeof e.message === 'string' ? e.message : String(err);
  if (message === '' && Array.isArray(e.errors))
    message = e.errors.map((inner) => describeDatabaseError(inner, secrets)).join('; ');
  const code = typeof e.code === 'string' ? e.code : undefined;
  let text = code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
  // Longest first, so that the URL goes as a whole before its password is looked for.
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length))
    text = text.split(secret).join('[REDACTED]');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text || 'unknown error';
}

/** The strings of a postgres:// URL that must never be shown: the URL itself and its password. */
export function secretsOf(url: string | undefined): string[] {
  if (!url) return [];
  const secrets = [url];
  try {
    const password = new URL(url).password;
    if (password) secrets.push(password, decodeURIComponent(password));
  } catch {
    // not a URL: the whole string is already hidden
  }
  return secrets;
}

export interface DatabaseStartupOptions {
  db: Database;
  /** The service's idempotent schema (and seed): runs on every start, once the database answers. */
  prepare: (db: Database) => Promise<void>;
  retry: RetryPolicy;
  /** The database URL, only to keep it (and its password) out of probes and logs. */
  url?: string;
  logPolicy?: LogPolicy;
  /** For tests: the jitter's randomness. */
  random?: () => number;
}

type Phase = 'idle' | 'connecting' | 'preparing' | 'ready' | 'stopped';

/**
 * One start-up run: created by the service's main, started once it listens, stopped on shutdown.
 * `readiness` goes in the kit's readiness list: while the run waits it says why (and the kit answers
 * 503 to every route but the probes); once ready it pings the database on every probe.
 */
export class DatabaseStartup {
  readonly #options: DatabaseStartupOptions;
  readonly #secrets: string[];
  readonly #abort = new AbortController();
  #phase: Phase = 'idle';
  #attempt = 0;
  #lastError: string | undefined;
  #failedAttempt = 0;
  #nextAttemptAt: number | undefined;
  #running: Promise<boolean> | undefined;

  constructor(options: DatabaseStartupOptions) {
    this.#options = options;
    this.#secrets = secretsOf(options.url);
  }

  get ready(): boolean {
    return this.#phase === 'ready';
  }

  /** Why the service cannot use its database yet; undefined once it can. */
  waiting(): string | undefined {
    switch (this.#phase) {
      case 'ready':
        return undefined;
      case 'stopped':
        return 'stopped before the database was ready';
      case 'preparing':
        return `connected; running migrations (attempt ${this.#attempt})`;
      default: {
        if (this.#lastError === undefined) return 'connecting to the database';
        const inMs = Math.max(0, (this.#nextAttemptAt ?? Date.now()) - Date.now());
        const next = inMs > 0 ? `next attempt in ${inMs} ms` : `attempt ${this.#attempt} under way`;
        return `waiting for the database: attempt ${this.#failedAttempt} failed: ${this.#lastError}; ${next}`;
      }
    }
  }

  /**
   * What createService takes from a service whose dependency to wait for is its database: readiness
   * from this run, and a database outage after start-up answered 503 with Retry-After, not 500. The
   * three database-backed services spread it into their options.
   */
  get serviceOptions(): Required<Pick<ServiceOptions, 'readiness' | 'unavailable'>> {
    return { readiness: [this.readiness], unavailable: databaseUnavailable };
  }

  readonly readiness: ReadinessCheck = {
    name: 'database',
    starting: () => this.waiting(),
    check: async () => {
      try {
        await this.#options.db.ping();
      } catch (err) {
        throw new Error(describeDatabaseError(err, this.#secrets), { cause: err });
      }
    },
  };

  /** Starts the run (once); resolves true when the database is ready, false when stopped first. */
  start(log: Logger): Promise<boolean> {
    this.#running ??= this.#run(log);
    return this.#running;
  }

  /** Ends the wait at once (an attempt in flight is abandoned); the service closes the database itself. */
  stop(): void {
    if (this.#phase !== 'ready') this.#phase = 'stopped';
    this.#abort.abort();
  }

  async #run(log: Logger): Promise<boolean> {
    const { db, prepare, retry } = this.#options;
    const logPolicy = this.#options.logPolicy ?? DEFAULT_LOG_POLICY;
    const random = this.#options.random ?? Math.random;
    const { signal } = this.#abort;
    let lastLogAt: number | undefined;
    let skipped = 0;
    while (!signal.aborted) {
      this.#attempt += 1;
      this.#phase = 'connecting';
      const attemptStart = performance.now();
      try {
        await db.ping();
        if (signal.aborted) break;
        this.#phase = 'preparing';
        await prepare(db);
        if (signal.aborted) break;
        this.#phase = 'ready';
        const attemptMs = Math.round(performance.now() - attemptStart);
        log.info({ attempts: this.#attempt, attemptMs }, 'database ready: connected and migrated');
        return true;
      } catch (err) {
        if (signal.aborted) break;
        this.#phase = 'connecting';
        this.#lastError = describeDatabaseError(err, this.#secrets);
        this.#failedAttempt = this.#attempt;
        const delay = nextDelayMs(this.#attempt, retry, random);
        const now = Date.now();
        this.#nextAttemptAt = now + delay;
        if (shouldLogFailure(this.#attempt, lastLogAt === undefined ? undefined : now - lastLogAt, logPolicy)) {
          log.warn(
            { attempt: this.#attempt, nextDelayMs: delay, error: this.#lastError, skippedSinceLastLog: skipped },
            'database not available; retrying',
          );
          lastLogAt = now;
          skipped = 0;
        } else skipped += 1;
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
    this.#phase = 'stopped';
    return false;
  }
}

/** The run for a service, from the options it opened its database with (databaseOptions(config)). */
export function databaseStartup(
  db: Database,
  options: { url?: string | undefined; retry?: RetryPolicy },
  prepare: (db: Database) => Promise<void>,
): DatabaseStartup {
  return new DatabaseStartup({ db, prepare, url: options.url, retry: options.retry ?? DEFAULT_RETRY });
}
