// Start-up retries: the pure decisions (delay, logging, what an error may say) and the run object
// over a database that refuses a given number of times. Real PostgreSQL coming up late is proved by
// each service's startup.int.test.ts.
import { createLogger } from '@sre-platform/service-kit';
import { captureLogs } from '@sre-platform/service-kit/testing';
import { describe, expect, it } from 'vitest';

import {
  DatabaseStartup,
  describeDatabaseError,
  nextDelayMs,
  secretsOf,
  shouldLogFailure,
  type Database,
} from '../src/index.ts';

describe('nextDelayMs', () => {
  const policy = { initialMs: 100, maxMs: 1000 };

  it('doubles the ceiling with each failure and never exceeds maxMs', () => {
    const top = (attempt: number) => nextDelayMs(attempt, policy, () => 0.999_999);
    const bottom = (attempt: number) => nextDelayMs(attempt, policy, () => 0);
    expect([1, 2, 3, 4, 5, 6, 50, 5000].map(top)).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    // Equal jitter: never below half the ceiling, so a refusing database is not hammered.
    expect([1, 2, 3, 4, 5, 6, 50].map(bottom)).toEqual([50, 100, 200, 400, 500, 500, 500]);
  });

  it('spreads replicas that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => nextDelayMs(8, policy)));
    expect(delays.size).toBeGreaterThan(1);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(1000);
    }
  });

  it('treats attempt 0 or less as the first', () => {
    expect(nextDelayMs(0, policy, () => 0.999_999)).toBe(100);
  });
});

describe('shouldLogFailure', () => {
  const policy = { firstAttempts: 3, intervalMs: 30_000 };
  it('logs the first attempts one by one, then one per interval', () => {
    expect([1, 2, 3].map((a) => shouldLogFailure(a, 10, policy))).toEqual([true, true, true]);
    expect(shouldLogFailure(4, 10, policy)).toBe(false);
    expect(shouldLogFailure(40, 29_999, policy)).toBe(false);
    expect(shouldLogFailure(41, 30_000, policy)).toBe(true);
    expect(shouldLogFailure(42, undefined, policy)).toBe(true);
  });
});

describe('describeDatabaseError', () => {
  const url = 'postgres://app:p%40ss-w0rd@db.internal:5432/app';

  it('names the code and the message, never the URL or its password', () => {
    const secrets = secretsOf(url);
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:5432'), { code: 'ECONNREFUSED' });
    expect(describeDatabaseError(refused, secrets)).toBe('connect ECONNREFUSED 10.0.0.7:5432');
    const auth = Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' });
    expect(describeDatabaseError(auth, secrets)).toBe('28P01: password authentication failed for user "app"');
    const leaky = new Error(`cannot reach ${url} (password p@ss-w0rd, raw p%40ss-w0rd)`);
    const said = describeDatabaseError(leaky, secrets);
    expect(said).toBe('cannot reach [REDACTED] (password [REDACTED], raw [REDACTED])');
  });

  it("names each part of Node's AggregateError, whose own message is empty", () => {
    const both = new AggregateError(
      [
        Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }),
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      ],
      '',
    );
    Object.assign(both, { code: 'ECONNREFUSED' });
    expect(describeDatabaseError(both, [])).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  });

  it('bounds the length', () => {
    expect(describeDatabaseError(new Error('x'.repeat(1000)), []).length).toBe(300);
  });
});

/** A database that refuses the first `refusals` pings, then answers. */
function flakyDatabase(refusals: number) {
  let pings = 0;
  const db = {
    kind: 'postgres',
    ping: () => {
      pings += 1;
      if (pings <= refusals)
        return Promise.reject(
          Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999 for postgres://u:hunter2@h/d'), {
            code: 'ECONNREFUSED',
          }),
        );
      return Promise.resolve();
    },
    query: () => Promise.resolve([]),
    transaction: () => Promise.reject(new Error('unused')),
    close: () => Promise.resolve(),
  } as Database;
  return { db, pings: () => pings };
}

describe('DatabaseStartup', () => {
  const url = 'postgres://u:hunter2@h/d';

  it('retries until the database answers, then migrates once and turns ready', async () => {
    const { db, pings } = flakyDatabase(4);
    let prepared = 0;
    const logs = captureLogs();
    const startup = new DatabaseStartup({
      db,
      url,
      prepare: () => {
        prepared += 1;
        return Promise.resolve();
      },
      retry: { initialMs: 1, maxMs: 4 },
      logPolicy: { firstAttempts: 2, intervalMs: 60_000 },
    });
    expect(startup.waiting()).toBe('connecting to the database');
    expect(startup.readiness.starting?.()).toBe('connecting to the database');
    const log = createLogger({ name: 't', level: 'info', destination: logs.destination });
    expect(await startup.start(log)).toBe(true);
    expect(pings()).toBe(5);
    expect(prepared).toBe(1);
    expect(startup.ready).toBe(true);
    expect(startup.waiting()).toBeUndefined();

    const warnings = logs.lines().filter((l) => l['msg'] === 'database not available; retrying');
    // Four failures, two logged one by one, the rest inside the interval: rate-limited.
    expect(warnings.map((w) => w['attempt'])).toEqual([1, 2]);
    expect(warnings[0]).toMatchObject({ level: 'warn', error: 'connect ECONNREFUSED 127.0.0.1:5999 for [REDACTED]' });
    for (const w of warnings) expect(w['nextDelayMs']).toBeLessThanOrEqual(4);
    expect(logs.text()).not.toContain('hunter2');
    expect(logs.lines().at(-1)).toMatchObject({
      msg: 'database ready: connected and migrated',
      attempts: 5,
      attemptMs: expect.any(Number),
    });
  });

  it('says why it waits, and keeps retrying when the migration fails', async () => {
    const { db } = flakyDatabase(0);
    let failMigrations = 2;
    const startup = new DatabaseStartup({
      db,
      prepare: () => (failMigrations-- > 0 ? Promise.reject(new Error('relation is locked')) : Promise.resolve()),
      retry: { initialMs: 1, maxMs: 2 },
    });
    const logs = captureLogs();
    expect(await startup.start(createLogger({ name: 't', level: 'info', destination: logs.destination }))).toBe(true);
    const errors = logs
      .lines()
      .filter((l) => l['level'] === 'warn')
      .map((l) => l['error']);
    expect(errors).toEqual(['relation is locked', 'relation is locked']);
  });

  it('reports the last failure while waiting, and stops promptly when asked', async () => {
    const { db } = flakyDatabase(Infinity);
    const startup = new DatabaseStartup({
      db,
      url,
      prepare: () => Promise.resolve(),
      retry: { initialMs: 60_000, maxMs: 60_000 },
    });
    const run = startup.start(createLogger({ name: 't', level: 'info', destination: captureLogs().destination }));
    while (startup.waiting() === 'connecting to the database') await new Promise((r) => setImmediate(r));
    expect(startup.waiting()).toMatch(
      /^waiting for the database: attempt 1 failed: connect ECONNREFUSED 127\.0\.0\.1:5999 for \[REDACTED\]; next attempt in \d+ ms$/,
    );
    // It sleeps 30 to 60 s now, longer than the test's timeout: only an interrupted sleep passes.
    startup.stop();
    expect(await run).toBe(false);
    expect(startup.waiting()).toBe('stopped before the database was ready');
  });

  it('pings on every probe once ready, and says why without secrets when the database goes away', async () => {
    let up = true;
    const db = {
      ...flakyDatabase(0).db,
      ping: () =>
        up ? Promise.resolve() : Promise.reject(new Error('write CONNECTION_CLOSED postgres://u:hunter2@h/d')),
    };
    const startup = new DatabaseStartup({
      db,
      url,
      prepare: () => Promise.resolve(),
      retry: { initialMs: 1, maxMs: 1 },
    });
    await startup.start(createLogger({ name: 't', level: 'info', destination: captureLogs().destination }));
    await expect(startup.readiness.check(AbortSignal.timeout(1000))).resolves.toBeUndefined();
    up = false;
    await expect(startup.readiness.check(AbortSignal.timeout(1000))).rejects.toThrow(
      'write CONNECTION_CLOSED [REDACTED]',
    );
    expect(startup.readiness.starting?.()).toBeUndefined();
  });
});
