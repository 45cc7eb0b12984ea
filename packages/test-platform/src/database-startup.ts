// The start-up behaviour every service on @sre-platform/database must show, as one scenario each
// service's test runs with its own writes: the process starts before its PostgreSQL (the ordinary
// order in a cluster) and waits instead of exiting; later the database goes away and comes back under
// it; SIGTERM during the wait exits 0. Every assertion is about behaviour: the only time bound is
// the configured back-off bound (plus the successful attempt's own, logged, duration), never a fixed "fast".
import { setTimeout as sleep } from 'node:timers/promises';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';

import { eventually } from './eventually.ts';
import { startPostgres } from './postgres.ts';

export interface DatabaseStartupScenario {
  /** The service's src/main.ts. */
  entry: string;
  /** Its environment, without PORT and DATABASE_URL. */
  env: () => Promise<Record<string, string>> | Record<string, string>;
  /**
   * One write through the service's API (`n` numbers it). Resolves to what the service acknowledged
   * as stored (ids `stored` will list; [] when it was refused) and the answer's HTTP status. `sql`
   * reaches the same database, for writes that need a row first.
   */
  write: (url: string, n: number, sql: postgres.Sql) => Promise<{ ids: string[]; status: number }>;
  /** Every id the database holds, of the kind `write` acknowledges. */
  stored: (sql: postgres.Sql) => Promise<string[]>;
}

// A password the test server (trust authentication) ignores, so that the URL carries a secret that
// must never show in a probe or a log line.
const PASSWORD = 'startup-test-password-7f3a';
const OUTAGE_MS = 10_000;
const RETRY_MAX_MS = 1000;
// Ready must come within the back-off bound plus the successful attempt's own time (connecting and
// migrating, which the service logs as attemptMs and which a busy machine stretches), plus this
// allowance for timers and probes running late on a loaded machine.
const SCHEDULING_ALLOWANCE_MS = 5000;

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { detail?: string };
  return { status: res.status, detail: body.detail ?? '' };
};

const logLines = (p: StartedProcess) =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

export function describeDatabaseStartup(name: string, scenario: DatabaseStartupScenario): void {
  describe(`${name}: start-up before its database, and a database that goes away`, () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    });

    const start = async (databaseUrl: string, env: Record<string, string> = {}) => {
      const proc = await startProcess(
        scenario.entry,
        {
          ...(await scenario.env()),
          PORT: String(await freePort()),
          DATABASE_URL: databaseUrl,
          DATABASE_RETRY_MAX_MS: String(RETRY_MAX_MS),
          ...env,
        },
        { until: 'live', readyTimeoutMs: 60_000 },
      );
      cleanups.push(() => proc.stop('SIGKILL'));
      return proc;
    };

    it('waits for a database that starts 10 s later, then for one that goes away and comes back, losing no accepted write', async () => {
      const pg = await startPostgres();
      cleanups.push(pg.stop);
      const admin = postgres(pg.info.adminUrl, { max: 1, onnotice: () => undefined });
      await admin.unsafe('create database app');
      await admin.end();
      const dbUrl = `postgres://${pg.info.user}:${PASSWORD}@${pg.info.host}:${pg.info.port}/app`;
      await pg.pause();

      // 1. The service starts first: it lives, is not ready, and says why.
      const proc = await start(dbUrl);
      const waitUntil = Date.now() + OUTAGE_MS;
      let probes = 0;
      while (Date.now() < waitUntil) {
        expect(proc.child.exitCode).toBeNull();
        expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
        const ready = await readyz(proc.url);
        expect(ready.status).toBe(503);
        expect(ready.detail).toMatch(/^not ready: database: (connecting to the database|waiting for the database)/);
        probes += 1;
        await sleep(250);
      }
      expect(probes).toBeGreaterThan(0);
      const waiting = await readyz(proc.url);
      expect(waiting.detail).toMatch(/waiting for the database: attempt \d+ failed: .*ECONNREFUSED/);
      // Routes answer 503 while the database is not there, saying why; nothing is acknowledged.
      const gated = await fetch(`${proc.url}/`);
      expect(gated.status).toBe(503);
      expect(gated.headers.get('retry-after')).toBe('1');
      expect(((await gated.json()) as { detail: string }).detail).toMatch(
        /^starting: database: waiting for the database/,
      );
      const sql = postgres(`postgres://${pg.info.user}@${pg.info.host}:${pg.info.port}/app`, {
        max: 2,
        onnotice: () => undefined,
        connect_timeout: 2,
      });
      cleanups.push(() => sql.end({ timeout: 1 }));
      // A write while it waits is refused with 503 (retry later), and nothing is stored.
      expect(await scenario.write(proc.url, 0, sql)).toEqual({ ids: [], status: 503 });

      // 2. The database comes up: ready within the back-off bound (plus the successful attempt itself).
      await pg.resume();
      const upAt = performance.now();
      await eventually('ready after the database came up', async () =>
        (await readyz(proc.url)).status === 200 ? true : undefined,
      );
      const upToReadyMs = Math.round(performance.now() - upAt);
      expect(proc.child.exitCode).toBeNull();
      const lines = logLines(proc);
      const readyLine = lines.find((l) => l['msg'] === 'database ready: connected and migrated');
      const attemptMs = readyLine?.['attemptMs'] as number;
      expect(attemptMs).toEqual(expect.any(Number));
      process.stdout.write(
        `${name}: ready ${upToReadyMs} ms after its database answered (the successful attempt took ${attemptMs} ms)\n`,
      );
      expect(upToReadyMs - attemptMs).toBeLessThanOrEqual(RETRY_MAX_MS + SCHEDULING_ALLOWANCE_MS);

      // Each failed attempt was logged at warn with its number and next delay (never above the bound),
      // rate-limited: fewer lines than attempts over the ten seconds.
      const warnings = lines.filter((l) => l['msg'] === 'database not available; retrying');
      expect(warnings.length).toBeGreaterThan(0);
      for (const w of warnings) {
        expect(w['level']).toBe('warn');
        expect(w['attempt']).toEqual(expect.any(Number));
        expect(w['nextDelayMs']).toBeLessThanOrEqual(RETRY_MAX_MS);
      }
      expect(readyLine?.['attempts']).toEqual(expect.any(Number));
      expect(warnings.length).toBeLessThan(readyLine!['attempts'] as number);

      // 3. The database goes away under the running service and comes back: continuous writes meanwhile.
      const acknowledged: string[] = [];
      const refused: number[] = [];
      // The statuses of the writes refused while the database was away: 503, never another 5xx.
      const outageStatuses = new Set<number>();
      let phase = 'before' as 'before' | 'outage' | 'after';
      const seen = { before: 0, outage: 0, after: 0 };
      let writing = true;
      let n = 0;
      const writer = (async () => {
        while (writing) {
          n += 1;
          const { ids, status } = await scenario.write(proc.url, n, sql).catch(() => ({ ids: [], status: 0 }));
          if (ids.length > 0) {
            acknowledged.push(...ids);
            seen[phase] += 1;
          } else {
            refused.push(n);
            if (phase === 'outage') outageStatuses.add(status);
          }
          await sleep(20);
        }
      })();
      await eventually('writes before the outage', async () => (seen.before >= 3 ? true : undefined));
      await pg.pause();
      phase = 'outage';
      const down = await eventually('readiness 503 after the database went away', async () => {
        const r = await readyz(proc.url);
        return r.status === 503 ? r : undefined;
      });
      expect(down.detail).toMatch(/^not ready: database: /);
      const refusedBefore = refused.length;
      await eventually('writes refused during the outage', async () =>
        refused.length > refusedBefore ? true : undefined,
      );
      await pg.resume();
      await eventually('ready again', async () => ((await readyz(proc.url)).status === 200 ? true : undefined));
      phase = 'after';
      await eventually('writes after the outage', async () => (seen.after >= 3 ? true : undefined));
      writing = false;
      await writer;

      // The service said "unavailable, retry later", not "I failed".
      expect(outageStatuses.size).toBeGreaterThan(0);
      expect([...outageStatuses].filter((st) => st >= 500 && st !== 503)).toEqual([]);

      // No restart, and every write the service acknowledged is in the database.
      expect(proc.child.exitCode).toBeNull();
      const readyLines = logLines(proc).filter((l) => l['msg'] === 'database ready: connected and migrated');
      expect(readyLines).toHaveLength(1);
      const stored = new Set(await scenario.stored(sql));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      expect(acknowledged.length).toBeGreaterThanOrEqual(6);

      // Secrets never reached a probe or a log line.
      const everything = proc.stdout() + proc.stderr() + down.detail + waiting.detail;
      expect(everything).not.toContain(PASSWORD);
      expect(everything).not.toContain(dbUrl);

      expect(await proc.stop('SIGTERM')).toBe(0);
    });

    it('exits 0 on SIGTERM while it waits for its database', async () => {
      // Nothing listens on this port, and each back-off sleeps 30 to 60 s: only a wait that SIGTERM
      // interrupts ends within the 25 s below, however slow the machine.
      const proc = await start(`postgres://app:${PASSWORD}@127.0.0.1:${await freePort()}/app`, {
        DATABASE_RETRY_INITIAL_MS: '60000',
        DATABASE_RETRY_MAX_MS: '60000',
      });
      await eventually('the first failed attempt', async () =>
        logLines(proc).some((l) => l['msg'] === 'database not available; retrying') ? true : undefined,
      );
      proc.child.kill('SIGTERM');
      const code = await Promise.race([proc.exited, sleep(25_000, 'still running')]);
      expect(code).toBe(0);
      expect(proc.stdout() + proc.stderr()).not.toContain(PASSWORD);
    });
  });
}
