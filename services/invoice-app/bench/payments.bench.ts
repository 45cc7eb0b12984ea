// invoice-app: invoices paid per second through the payment provider on loopback, on PostgreSQL
// with fsync on, against two baselines measured in the same run at the same concurrency:
//  - a bare node:http pair: a client loop against a server that only answers {"id"} (the HTTP
//    round-trip ceiling on this machine), and
//  - the provider's raw rate: the same client loop POSTing /payments/pay with a new
//    Idempotency-Key each time (one INSERT + COMMIT per payment: the provider's own ceiling).
// A pay run adds, per invoice, its share of a batched claim (UPDATE ... SKIP LOCKED) and one
// UPDATE + COMMIT to record it paid, so its ceiling is below the provider's raw rate.
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

import postgres from 'postgres';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { startPostgres } from '../../../packages/test-platform/src/postgres.ts';

const DURATION = Number(process.env['BENCH_DURATION_S'] ?? 6);
const CONCURRENCY = 16;
const APP = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PROVIDER = fileURLToPath(new URL('../../payment-provider/src/main.ts', import.meta.url));
const BARE = fileURLToPath(new URL('../../../packages/service-kit/bench/bare-server.ts', import.meta.url));

/** CONCURRENCY sequential POST loops over keep-alive connections for DURATION seconds. */
async function loop(url: string, body: (i: number) => string, headers: (i: number) => Record<string, string>) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let seq = 0;
  const until = Date.now() + DURATION * 1000;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const payload = body(i);
      const t0 = performance.now();
      const req = request(url, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers(i) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
          latencies.push(performance.now() - t0);
          resolve();
        });
      });
      req.end(payload);
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await one(seq++);
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / DURATION,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
}

/** Inserts `count` invoices, then one pay call per app at once; times until all have answered. */
async function payRun(apps: StartedProcess[], sql: postgres.Sql, count: number, round: number) {
  await sql`insert into invoices (id, amount_minor, currency, currency_exponent)
            select ${`B${round}-`} || g, 100 + g, 'EUR', 2 from generate_series(1, ${count}) as g`;
  const t0 = performance.now();
  const answers = await Promise.all(apps.map((app) => fetch(`${app.url}/invoices/pay`, { method: 'POST' })));
  const seconds = (performance.now() - t0) / 1000;
  let paid = 0;
  for (const res of answers) {
    const body = (await res.json()) as { paid: unknown[] };
    if (res.status !== 200) throw new Error(`pay run: ${res.status}`);
    paid += body.paid.length;
  }
  if (paid !== count) throw new Error(`pay run: ${paid} of ${count} paid`);
  return { count, seconds, rate: count / seconds, replicas: apps.length };
}

const pg = await startPostgres({ durable: true });
const processes: StartedProcess[] = [];
try {
  const sql = postgres(pg.info.adminUrl, { max: 2, onnotice: () => undefined });
  const bare = await startProcess(BARE, { PORT: String(await freePort()) });
  processes.push(bare);
  const provider = await startProcess(PROVIDER, {
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    DATABASE_URL: pg.info.adminUrl,
    DATABASE_POOL_SIZE: String(CONCURRENCY),
  });
  processes.push(provider);
  const appEnv = async () => ({
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    DATABASE_URL: pg.info.adminUrl,
    DATABASE_POOL_SIZE: String(CONCURRENCY),
    PAYMENT_PROVIDER_URL: provider.url,
    PAY_CONCURRENCY: String(CONCURRENCY),
  });
  const app = await startProcess(APP, await appEnv());
  processes.push(app);
  // A second replica with half the concurrency each, so that the provider sees the same 16 calls in flight.
  const half = String(CONCURRENCY / 2);
  const pair = [
    await startProcess(APP, { ...(await appEnv()), PAY_CONCURRENCY: half }),
    await startProcess(APP, { ...(await appEnv()), PAY_CONCURRENCY: half }),
  ];
  processes.push(...pair);
  await fetch(`${app.url}/invoices/pay`, { method: 'POST' }); // the seed invoices

  const payment = (i: number) => `{"id":"R${i}","value":12.15,"currency":"EUR"}`;
  const bareRate = await loop(`${bare.url}/`, payment, () => ({}));
  const providerRate = await loop(`${provider.url}/payments/pay`, payment, (i) => ({
    'idempotency-key': `bench-${process.pid}-${i}`,
  }));
  // Size each pay run to last about DURATION seconds at the provider's raw rate x 0.5.
  const count = Math.max(1000, Math.round((providerRate.rps * DURATION) / 2));
  // Warm-up, not counted: the first few thousand payments of a fresh process run before the JIT has
  // compiled the hot path (the baselines warm up within their own 6 s).
  for (const [i, a] of [app, ...pair].entries()) await payRun([a], sql, 3000, 100 + i);
  const runs = [
    await payRun([app], sql, count, 1),
    await payRun([app], sql, count, 2),
    await payRun(pair, sql, count, 3),
  ];
  const [{ n }] = (await sql`select count(*)::int as n from (select invoice_id from provider_payments
                             group by invoice_id having count(*) > 1) as twice`) as unknown as [{ n: number }];
  await sql.end();

  const f = (x: number) => x.toFixed(0).padStart(6);
  const best = Math.max(...runs.filter((r) => r.replicas === 1).map((r) => r.rate));
  const out = [
    `\ninvoice-app: invoices paid per second through the provider, ${CONCURRENCY} in flight, ${DURATION}s per baseline, PostgreSQL fsync on`,
    `baseline, bare node:http pair (POST -> 200):         ${f(bareRate.rps)} req/s        p50 ${bareRate.p50.toFixed(1)} ms  p99 ${bareRate.p99.toFixed(1)} ms`,
    `baseline, provider raw (POST /payments/pay + key):   ${f(providerRate.rps)} payments/s   p50 ${providerRate.p50.toFixed(1)} ms  p99 ${providerRate.p99.toFixed(1)} ms   ratio to bare ${(providerRate.rps / bareRate.rps).toFixed(2)}`,
    ...runs.map(
      (r, i) =>
        `invoice-app pay run ${i + 1}, ${r.replicas === 1 ? 'one replica ' : 'two replicas'} (${r.count}):   ${f(r.rate)} invoices/s   ${r.seconds.toFixed(2)} s   ratio to provider raw ${(r.rate / providerRate.rps).toFixed(2)}, to bare ${(r.rate / bareRate.rps).toFixed(2)}`,
    ),
    `best one-replica run: ${best.toFixed(0)} invoices/s = ${(best / providerRate.rps).toFixed(2)} x the provider's raw rate; invoices paid more than once: ${n}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  for (const p of processes.reverse()) await p.stop();
  await pg.stop();
}
