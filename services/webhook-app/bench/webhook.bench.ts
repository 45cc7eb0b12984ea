// webhook-app throughput against two ceilings measured in the same run on the same machine:
//  - a bare node:http server that only answers 200 (the HTTP ceiling), and
//  - a loop of single-row INSERT + COMMIT of the same payloads into the same PostgreSQL at the same
//    concurrency (the storage ceiling of a durable accept: fsync on, one commit per event).
// Then: sustained accepted webhooks/s with p99, p99 at half that rate, and delivered DMs/s to the
// Rocket.Chat peer on loopback. The same for the embedded PGlite default.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';
import postgres from 'postgres';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { measureCpu } from '../../../packages/test-platform/src/cpu.ts';
import { httpLoad } from '../../../packages/test-platform/src/load.ts';
import { startPostgres } from '../../../packages/test-platform/src/postgres.ts';
import { readContract } from '@sre-platform/contracts';
import { renderMessage, summarize, type PushEvent } from '../src/domain/push.ts';

const DURATION = Number(process.env['BENCH_DURATION_S'] ?? 6);
// Every measurement follows a warm-up at the same load, unmeasured: a just-started process spends
// its first seconds compiling (measured: the first 5 s ran at 4,226 webhooks/s, the next 5 s at
// 5,281), and GitLab talks to a process that has been up for days.
const WARMUP = Number(process.env['BENCH_WARMUP_S'] ?? 3);
const CONNECTIONS = 16;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PEER = fileURLToPath(new URL('../../../packages/rocketchat-peer/src/main.ts', import.meta.url));
const BODY = readContract('gitlab/push.json');
// What webhook-app itself stores per push: the rendered message (plus a key and three short columns).
const MESSAGE = renderMessage(summarize(JSON.parse(BODY) as PushEvent));
const SECRET = 'benchmark-webhook-secret';

const headers = { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET };

/**
 * As many requests as 16 connections carry, from httpload (Go, vegeta's library) on one OS thread, so that the
 * load generator takes one core's share at most of the two it shares with what it measures (about 0.04 ms of CPU
 * per request, like autocannon with a header of its own per request; wrk, gone with its Debian package, took 0.013).
 */
async function load(url: string, duration = DURATION) {
  const r = await httpLoad({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    durationS: duration,
    headers,
    body: BODY,
    // A new Idempotency-Key per request, or every request after the first would be a duplicate.
    uniqueHeader: 'Idempotency-Key',
  });
  if (r.non2xx3xx > 0 || r.socketErrors > 0 || r.timeouts > 0)
    throw new Error(`${url}: ${r.non2xx3xx} non-2xx, ${r.socketErrors} socket errors, ${r.timeouts} timeouts`);
  return { rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, total: r.total };
}

/** A fixed rate, from autocannon (the closed-loop httpload runs have no rate). */
let seq = 0;
async function loadAtRate(url: string, rate: number) {
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION,
    overallRate: rate,
    headers,
    body: BODY,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          headers: { ...req.headers, 'idempotency-key': `bench-${process.pid}-${seq++}` },
        }),
      },
    ],
  });
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0)
    throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total };
}

async function bareCeiling() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  // In the benchmark's process: one Node.js process answering, as webhook-app has one accept thread.
  await load(`http://127.0.0.1:${port}/`, WARMUP);
  const r = await load(`http://127.0.0.1:${port}/`);
  server.close();
  return r;
}

async function insertCeiling(url: string, table: string, payload: string) {
  const sql = postgres(url, { max: CONNECTIONS, onnotice: () => undefined });
  await sql`create table if not exists ${sql(table)} (id bigserial primary key, key text unique, payload text)`;
  let done = 0;
  const latencies: number[] = [];
  let keys = 0;
  const loop = (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    return Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < until) {
          const t0 = performance.now();
          await sql`insert into ${sql(table)} (key, payload) values (${`k-${keys++}`}, ${payload})`; // autocommit: INSERT + COMMIT
          latencies.push(performance.now() - t0);
          done++;
        }
      }),
    );
  };
  await loop(WARMUP);
  await checkpoint();
  done = 0;
  latencies.length = 0;
  const { cpuSeconds } = await measureCpu(() => loop(DURATION));
  await sql.end();
  latencies.sort((a, b) => a - b);
  return {
    rps: done / DURATION,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    cpuMsPerItem: cpuSeconds === undefined ? undefined : (cpuSeconds * 1000) / done,
  };
}

async function webhookRun(name: string, env: Record<string, string>, peerUrl: string) {
  const app: StartedProcess = await startProcess(MAIN, {
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    GITLAB_WEBHOOK_SECRET: SECRET,
    ROCKETCHAT_URL: peerUrl,
    ROCKETCHAT_USERNAME: 'webhook-bot',
    ROCKETCHAT_PASSWORD: 'webhook-bot-password',
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
    DELIVERY_POLL_MS: '20',
    ...env,
  });
  const url = `${app.url}/webhooks/gitlab`;
  // Accepted and delivered so far, from the app's counters (the delivery thread reports every 50 ms;
  // webhook_outbox_pending is cached for 500 ms, too coarse to time a drain).
  const counts = async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    let accepted = 0;
    for (const m of text.matchAll(/^webhook_events_received_total\{[^}]*result="accepted"[^}]*\} (\S+)/gm))
      accepted += Number(m[1]);
    const delivered = Number(/^webhook_delivery_latency_seconds_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
    return { accepted, delivered };
  };
  const pending = async () => {
    const c = await counts();
    return c.accepted - c.delivered;
  };
  const drained = async () => {
    while ((await pending()) > 0) await sleep(20);
  };
  await load(url, WARMUP);
  await drained();
  await checkpoint();
  // CPU of every process (load generator, app, PostgreSQL, peer) from the first request until the
  // last accepted event is delivered: the whole cost of a webhook, accept and delivery.
  let backlog = 0;
  let drainS = 0;
  let deliveredRps = 0;
  const { result: sustained, cpuSeconds } = await measureCpu(async () => {
    const before = await counts();
    const t0 = performance.now();
    const r = await load(url);
    const after = await counts();
    // Delivery: what was delivered while the load ran, then how long the rest took to drain.
    deliveredRps = (after.delivered - before.delivered) / ((performance.now() - t0) / 1000);
    backlog = after.accepted - after.delivered;
    const t1 = performance.now();
    await drained();
    drainS = (performance.now() - t1) / 1000;
    return r;
  });
  const cpuMsPerItem = cpuSeconds === undefined ? undefined : (cpuSeconds * 1000) / sustained.total;
  await checkpoint();
  const half = await loadAtRate(url, Math.round(sustained.rps / 2));
  const pendingAfterHalf = await pending();
  await app.stop();
  return { name, sustained, half, backlog, drainS, deliveredRps, pendingAfterHalf, cpuMsPerItem };
}

// Sized as a production server would be: shared_buffers holds the runs' working set, and max_wal_size
// is large enough that checkpoints come from the CHECKPOINT before each measurement, never from WAL
// volume in the middle of one. A checkpoint that starts inside a 6 s window (at the default 1 GB,
// about 50 s into this benchmark) took the half-rate p99 from 9-14 ms to 36-49 ms: production
// servers spread theirs over minutes (checkpoint_completion_target), and this one measures the time
// between them.
const pg = await startPostgres({ durable: true, settings: { shared_buffers: '1GB', max_wal_size: '8GB' } });
const admin = postgres(pg.info.adminUrl, { max: 1, onnotice: () => undefined });
const checkpoint = async () => {
  await admin`checkpoint`;
};
const peerPort = await freePort();
// The peer stands in for a Rocket.Chat on another host: its contract checks are its own cost, so they are off.
const peer = await startProcess(PEER, { PORT: String(peerPort), LOG_LEVEL: 'error', PEER_CHECK_CONTRACTS: 'false' });
const pgliteDir = mkdtempSync(join(tmpdir(), 'sre-platform-bench-pglite-'));
try {
  const bare = await bareCeiling();
  const storage = await insertCeiling(pg.info.adminUrl, 'ceiling_payload', BODY);
  const storageSmall = await insertCeiling(pg.info.adminUrl, 'ceiling_message', MESSAGE);
  // Pool sized for the load's 16 connections plus the delivery worker, as production should be.
  const onPostgres = await webhookRun(
    'webhook-app on PostgreSQL',
    { DATABASE_URL: pg.info.adminUrl, DATABASE_POOL_SIZE: '24' },
    peer.url,
  );
  // The same with group commit off: one INSERT + COMMIT per accepted webhook, as many at once as
  // there are connections, to show what group commit buys.
  const onPostgresSingle = await webhookRun(
    'webhook-app on PostgreSQL, group commit off (ACCEPT_BATCH_MAX=1, ACCEPT_COMMITS_IN_FLIGHT=16)',
    {
      DATABASE_URL: pg.info.adminUrl,
      DATABASE_POOL_SIZE: '24',
      ACCEPT_BATCH_MAX: '1',
      ACCEPT_COMMITS_IN_FLIGHT: String(CONNECTIONS),
    },
    peer.url,
  );
  const onPglite = await webhookRun('webhook-app on PGlite (DATA_DIR)', { DATA_DIR: pgliteDir }, peer.url);

  const f = (n: number) => n.toFixed(0).padStart(7);
  const cpu = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${ms.toFixed(3)} ms`);
  // Rows per CPU-second of the ceiling against webhooks per CPU-second: what the wall-clock ratio would be
  // if both had the machine to themselves (on a shared machine, wall-clock rates also measure the neighbours).
  const cpuRatio = (ceiling: number | undefined, ms: number | undefined) =>
    ceiling === undefined || ms === undefined ? 'n/a' : (ceiling / ms).toFixed(2);
  const out = [
    `\nwebhook-app: POST a GitLab push (${BODY.length} bytes), ${CONNECTIONS} connections, ${DURATION}s per measurement after a ${WARMUP}s warm-up at the same load, fsync on, a CHECKPOINT before each measurement`,
    `load: httpload (${DURATION}s runs, as fast as answers come) for the ceilings and sustained runs; autocannon for the half-rate runs`,
    `ceiling, bare node:http 200:                 ${f(bare.rps)} req/s   p99 ${bare.p99.toFixed(1)} ms`,
    `ceiling, INSERT+COMMIT loop on PostgreSQL:   ${f(storage.rps)} rows/s  p99 ${storage.p99.toFixed(1)} ms   CPU ${cpu(storage.cpuMsPerItem)} per row (the ${BODY.length}-byte payload per row)`,
    `  the same with the row webhook-app stores: ${f(storageSmall.rps)} rows/s  p99 ${storageSmall.p99.toFixed(1)} ms   CPU ${cpu(storageSmall.cpuMsPerItem)} per row (its ${Buffer.byteLength(MESSAGE)}-byte message)`,
  ];
  for (const r of [onPostgres, onPostgresSingle, onPglite]) {
    out.push(
      `${r.name}:`,
      `  accepted (sustained)   ${f(r.sustained.rps)} /s   p99 ${r.sustained.p99.toFixed(1)} ms   ratio to storage ceiling ${(r.sustained.rps / storage.rps).toFixed(2)} (${(r.sustained.rps / storageSmall.rps).toFixed(2)} to the small-row one), to bare HTTP ${(r.sustained.rps / bare.rps).toFixed(2)}`,
      `  at half that rate      ${f(r.half.rps)} /s   p50 ${r.half.p50} ms   p99 ${r.half.p99} ms   outbox pending after: ${r.pendingAfterHalf}`,
      `  delivered              ${f(r.deliveredRps)} DMs/s while the load ran (${(r.deliveredRps / r.sustained.rps).toFixed(2)} of the accepted rate); backlog ${r.backlog} at its end, drained in ${r.drainS.toFixed(2)} s`,
      `  CPU, all processes     ${cpu(r.cpuMsPerItem)} per webhook accepted and delivered; CPU ratio to the storage ceiling ${cpuRatio(storage.cpuMsPerItem, r.cpuMsPerItem)}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  await admin.end();
  await peer.stop();
  await pg.stop();
  rmSync(pgliteDir, { recursive: true, force: true });
}
