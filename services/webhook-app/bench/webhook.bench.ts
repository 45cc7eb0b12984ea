// webhook-app throughput against two ceilings measured in the same run on the same machine:
//  - a bare node:http server that only answers 200 (the HTTP ceiling), and
//  - a loop of single-row INSERT + COMMIT of the same payloads into the same PostgreSQL at the same
//    concurrency (the storage ceiling of a durable accept: fsync on, one commit per event).
// Then: sustained accepted webhooks/s with p99, p99 at half that rate, and delivered DMs/s to the
// Rocket.Chat peer on loopback. The same for the embedded PGlite default.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';
import postgres from 'postgres';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { measureCpu } from '../../../packages/test-platform/src/cpu.ts';
import { startPostgres } from '../../../packages/test-platform/src/postgres.ts';
import { contractsDir } from '../../../packages/rocketchat-peer/src/peer.ts';

const DURATION = Number(process.env['BENCH_DURATION_S'] ?? 6);
const CONNECTIONS = 16;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PEER = fileURLToPath(new URL('../../../packages/rocketchat-peer/src/main.ts', import.meta.url));
const BODY = readFileSync(join(contractsDir(), 'gitlab/push.json'), 'utf8');
const SECRET = 'benchmark-webhook-secret';

let seq = 0;
const headers = { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET };
async function load(url: string, rate?: number) {
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION,
    overallRate: rate,
    headers,
    body: BODY,
    // A new Idempotency-Key per request, or every request after the first would be a duplicate.
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
  // In this process, like autocannon: a second process would be fairer to it; we accept that bias
  // because it makes the ceiling lower, never higher.
  const r = await load(`http://127.0.0.1:${port}/`);
  server.close();
  return r;
}

async function insertCeiling(url: string) {
  const sql = postgres(url, { max: CONNECTIONS, onnotice: () => undefined });
  await sql`create table if not exists ceiling (id bigserial primary key, key text unique, payload text)`;
  let done = 0;
  const latencies: number[] = [];
  const until = Date.now() + DURATION * 1000;
  const { cpuSeconds } = await measureCpu(() =>
    Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, w) => {
        for (let i = 0; Date.now() < until; i++) {
          const t0 = performance.now();
          await sql`insert into ceiling (key, payload) values (${`${w}-${i}`}, ${BODY})`; // autocommit: INSERT + COMMIT
          latencies.push(performance.now() - t0);
          done++;
        }
      }),
    ),
  );
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
  const pending = async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return Number(/^webhook_outbox_pending (\S+)/m.exec(text)?.[1] ?? NaN);
  };
  // CPU of every process (load generator, app, PostgreSQL, peer) from the first request until the
  // last accepted event is delivered: the whole cost of a webhook, accept and delivery.
  let backlog = 0;
  let drainS = 0;
  const { result: sustained, cpuSeconds } = await measureCpu(async () => {
    const r = await load(url);
    // Delivery: drain what the sustained run left behind, and time it.
    backlog = await pending();
    const t0 = Date.now();
    while ((await pending()) > 0) await sleep(100);
    drainS = (Date.now() - t0) / 1000;
    return r;
  });
  const cpuMsPerItem = cpuSeconds === undefined ? undefined : (cpuSeconds * 1000) / sustained.total;
  const deliveredRps = (sustained.total - 0) / (DURATION + drainS);
  const half = await load(url, Math.round(sustained.rps / 2));
  const pendingAfterHalf = await pending();
  await app.stop();
  return { name, sustained, half, backlog, drainS, deliveredRps, pendingAfterHalf, cpuMsPerItem };
}

const pg = await startPostgres({ durable: true });
const peerPort = await freePort();
// The peer stands in for a Rocket.Chat on another host: its contract checks are its own cost, so they are off.
const peer = await startProcess(PEER, { PORT: String(peerPort), LOG_LEVEL: 'error', PEER_CHECK_CONTRACTS: 'false' });
const pgliteDir = mkdtempSync(join(tmpdir(), 'sre-platform-bench-pglite-'));
try {
  const bare = await bareCeiling();
  const storage = await insertCeiling(pg.info.adminUrl);
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
    `\nwebhook-app: POST a GitLab push (${BODY.length} bytes), ${CONNECTIONS} connections, ${DURATION}s per measurement, fsync on`,
    `ceiling, bare node:http 200:                 ${f(bare.rps)} req/s   p99 ${bare.p99} ms`,
    `ceiling, INSERT+COMMIT loop on PostgreSQL:   ${f(storage.rps)} rows/s  p99 ${storage.p99.toFixed(1)} ms   CPU ${cpu(storage.cpuMsPerItem)} per row`,
  ];
  for (const r of [onPostgres, onPostgresSingle, onPglite]) {
    out.push(
      `${r.name}:`,
      `  accepted (sustained)   ${f(r.sustained.rps)} /s   p99 ${r.sustained.p99} ms   ratio to storage ceiling ${(r.sustained.rps / storage.rps).toFixed(2)}, to bare HTTP ${(r.sustained.rps / bare.rps).toFixed(2)}`,
      `  at half that rate      ${f(r.half.rps)} /s   p50 ${r.half.p50} ms   p99 ${r.half.p99} ms   outbox pending after: ${r.pendingAfterHalf}`,
      `  delivered              ${f(r.deliveredRps)} DMs/s (backlog ${r.backlog} after the sustained run, drained in ${r.drainS.toFixed(1)} s)`,
      `  CPU, all processes     ${cpu(r.cpuMsPerItem)} per webhook accepted and delivered; CPU ratio to the storage ceiling ${cpuRatio(storage.cpuMsPerItem, r.cpuMsPerItem)}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  await peer.stop();
  await pg.stop();
  rmSync(pgliteDir, { recursive: true, force: true });
}
