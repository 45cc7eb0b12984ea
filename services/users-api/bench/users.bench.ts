// users-api against a ceiling measured in the same run on the same moto server:
//  1. sustained POST /user with 1 MiB avatars (uploads/s, p99) vs the ceiling: a raw S3 PutObject of the same
//     bytes plus a DynamoDB PutItem, from this process, at the same concurrency; with the CPU each process (this
//     one, the service, moto) spent per operation, since all three share the machine's two cores;
//  2. the service's RSS under 32 concurrent 5 MiB uploads, over its idle RSS (streaming proven by memory);
//  3. GET /users with 10,000 users: time to first byte, total, and the service's RSS while it streams.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';

import { startMoto } from '../../../packages/test-platform/src/moto.ts';
import { ensureResources, resourcesEnv } from '../scripts/ensure-resources.ts';

const DURATION = Number(process.env['BENCH_DURATION_S'] ?? 6);
const WARMUP = Number(process.env['BENCH_WARMUP_S'] ?? 2);
const CONCURRENCY = 8;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const MiB = 1024 * 1024;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };

function png(size: number): Buffer {
  const b = Buffer.alloc(size, 0x5a);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b);
  return b;
}

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const p = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** CPU time (user + system, ms) a process has used so far: /proc/<pid>/stat's utime and stime, in 1/100 s. */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** The processes whose CPU a measurement reports per operation (the benchmark itself is always one). */
const watched: Record<string, number> = {};

/**
 * `CONCURRENCY` loops calling `op` until `seconds` have passed: ops/s, p50 and p99 (ms), and the CPU each watched
 * process spent per operation (ms): on two shared cores, that is where the rate goes.
 */
async function closedLoop(seconds: number, op: () => Promise<void>) {
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  const pids = Object.entries(watched);
  const cpu0 = pids.map(([, pid]) => cpuMs(pid));
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const s = performance.now();
        await op();
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const n = latencies.length;
  const cpu = [
    `bench ${((self.user + self.system) / 1000 / n).toFixed(1)}`,
    ...pids.map(([name, pid], i) => `${name} ${((cpuMs(pid) - cpu0[i]!) / n).toFixed(1)}`),
  ].join(', ');
  latencies.sort((a, b) => a - b);
  return { rate: n / elapsed, p50: p(latencies, 0.5), p99: p(latencies, 0.99), n, cpu: `CPU ms per op: ${cpu}` };
}

/**
 * POST /user with a multipart body assembled from bytes, written in three pieces on a keep-alive connection. The
 * load generator shares the two cores with what it measures: undici's FormData encoding cost it about 20 ms of CPU
 * per 1 MiB request, and fetch with pre-built bytes (which copies the body twice) 10-13 ms; node:http with the
 * avatar written as it is costs under 1 ms, as the SDK's own requests do for the ceiling.
 */
const BOUNDARY = 'users-api-bench-boundary';
const keepAlive = new Agent({ keepAlive: true });
const TAIL = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
function postUser(url: string, avatar: Buffer): Promise<void> {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nBench User\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="email"\r\n\r\n${randomUUID()}@bench.example.com\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="avatar"; filename="avatar.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/user`,
      {
        method: 'POST',
        agent: keepAlive,
        headers: {
          'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
          'content-length': head.length + avatar.length + TAIL.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          res.statusCode === 201
            ? resolve()
            : reject(new Error(`POST /user answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`)),
        );
      },
    );
    req.on('error', reject);
    req.write(head);
    req.write(avatar);
    req.end(TAIL);
  });
}

/** While `work` runs, the highest RSS of `pid` sampled every 20 ms. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssMiB(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  try {
    const result = await work();
    return { peak: Math.max(peak, rssMiB(pid)), result };
  } finally {
    clearInterval(timer);
  }
}

/** GET a URL: time to the first body byte, total, and bytes. */
function timedGet(url: string): Promise<{ ttfbMs: number; totalMs: number; bytes: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    request(url, (res) => {
      let ttfb = 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) ttfb = performance.now() - t0;
        bytes += chunk.length;
      });
      res.on('end', () =>
        resolve({ ttfbMs: ttfb, totalMs: performance.now() - t0, bytes, status: res.statusCode ?? 0 }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const moto = await startMoto();
const { endpoint, region } = moto.info;
const sdk = { endpoint, region, credentials, forcePathStyle: true };
const dynamodb = new DynamoDBClient(sdk);
const s3 = new S3Client(sdk);
let app: StartedProcess | undefined;
try {
  const table = `bench-users-${process.pid}`;
  const bucket = `bench-avatars-${process.pid}`;
  const resources = { endpoint, region, table, bucket, credentials };
  await ensureResources(resources);
  const port = await freePort();
  app = await startProcess(MAIN, {
    PORT: String(port),
    LOG_LEVEL: 'error',
    ...resourcesEnv(resources),
    ORPHAN_SWEEP_INTERVAL_SECONDS: '3600',
  });
  const pid = app.child.pid!;
  watched['service'] = pid;
  watched['moto'] = moto.pid!;
  const oneMiB = png(MiB);

  // 1. the ceiling, then the service, each after a warm-up at the same load
  const ceilingOp = async () => {
    const id = randomUUID();
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `ceiling/${id}`, Body: oneMiB, ContentType: 'image/png' }),
    );
    await dynamodb.send(
      new PutItemCommand({
        TableName: `${table}`,
        Item: {
          email: { S: `${id}@ceiling.example.com` },
          name: { S: 'Ceiling' },
          avatar_url: { S: `https://x/${id}` },
        },
        ConditionExpression: 'attribute_not_exists(email)',
      }),
    );
  };
  // moto slows down as its bucket and table fill (its CPU per call grew by half over one run here, the ceiling's
  // rate fell from 129 to 76 /s), so every measurement starts on an emptied emulator (moto's reset API, then the
  // same table and bucket again), and the two sides alternate in ABBA order (ceiling, service, service, ceiling,
  // ...). The ratio is the services' total over the ceilings' total.
  const serviceOp = () => postUser(app!.url, oneMiB);
  const measure = async (op: () => Promise<void>) => {
    const reset = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    if (!reset.ok) throw new Error(`moto's reset answered ${reset.status}`);
    await ensureResources(resources);
    await closedLoop(WARMUP, op);
    return closedLoop(DURATION, op);
  };
  const ceilings: Awaited<ReturnType<typeof closedLoop>>[] = [];
  const services: Awaited<ReturnType<typeof closedLoop>>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      ceilings.push(await measure(ceilingOp));
      services.push(await measure(serviceOp));
    } else {
      services.push(await measure(serviceOp));
      ceilings.push(await measure(ceilingOp));
    }
  }
  const total = (runs: { rate: number }[]) => runs.reduce((sum, r) => sum + r.rate, 0);
  const ratio = total(services) / total(ceilings);

  // 2. RSS: idle (after the runs above, a GC's worth of settling), then 32 concurrent 5 MiB uploads
  await new Promise((r) => setTimeout(r, 2000));
  const idle = rssMiB(pid);
  const fiveMiB = png(5 * MiB);
  const burst = await peakRss(pid, async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 32 }, () => postUser(app!.url, fiveMiB)));
    return performance.now() - t0;
  });

  // 3. GET /users over 10,000 users (written straight to the table, 25 per batch)
  const USERS = 10_000;
  for (let i = 0; i < USERS; i += 25) {
    await dynamodb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: Array.from({ length: 25 }, (_, j) => ({
            PutRequest: {
              Item: {
                email: { S: `list-${i + j}@bench.example.com` },
                name: { S: `List User ${i + j}` },
                avatar_url: { S: `https://${bucket}.s3.${region}.amazonaws.com/avatars/${randomUUID()}.png` },
              },
            },
          })),
        },
      }),
    );
  }
  await timedGet(`${app.url}/users?limit=10`); // warm the route
  const listIdle = rssMiB(pid);
  const list = await peakRss(pid, () => timedGet(`${app!.url}/users`));
  const count = (JSON.parse(await (await fetch(`${app.url}/users`)).text()) as unknown[]).length;

  const f = (n: number, d = 1) => n.toFixed(d);
  process.stdout.write(
    [
      `\nusers-api on moto, ${CONCURRENCY} concurrent clients, ${DURATION}s per measurement after a ${WARMUP}s warm-up`,
      ...ceilings.flatMap((ceiling, i) => {
        const service = services[i]!;
        return [
          `round ${i + 1}: ceiling, S3 PutObject 1 MiB + DynamoDB PutItem: ${f(ceiling.rate)} /s   p50 ${f(ceiling.p50)} ms   p99 ${f(ceiling.p99)} ms   ${ceiling.cpu}`,
          `round ${i + 1}: POST /user, 1 MiB avatar (multipart, streamed):  ${f(service.rate)} /s   p50 ${f(service.p50)} ms   p99 ${f(service.p99)} ms   ${service.cpu}`,
        ];
      }),
      `POST /user against the ceiling over ${ROUNDS} interleaved rounds: ${ratio.toFixed(2)} (rounds: ${services.map((s, i) => (s.rate / ceilings[i]!.rate).toFixed(2)).join(', ')})`,
      `RSS: idle ${f(idle)} MiB; peak under 32 concurrent 5 MiB uploads ${f(burst.peak)} MiB (+${f(burst.peak - idle)} MiB over idle; all 32 answered 201 in ${f(burst.result / 1000, 2)} s)`,
      `GET /users, ${count} users (${USERS} written for it + ${count - USERS} created above): TTFB ${f(list.result.ttfbMs)} ms, total ${f(list.result.totalMs)} ms, ${f(list.result.bytes / MiB, 2)} MiB; RSS ${f(listIdle)} -> peak ${f(list.peak)} MiB (+${f(list.peak - listIdle)})`,
    ].join('\n') + '\n',
  );
} finally {
  await app?.stop();
  dynamodb.destroy();
  s3.destroy();
  await moto.stop();
}
