// What the kit costs: throughput and latency of the kit's example service against a bare
// node:http server answering the same body, plus idle memory, all measured in this run.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { freePort, startProcess, type StartedProcess } from '../src/testing.ts';

const EXAMPLE = fileURLToPath(new URL('../example/main.ts', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
const DURATION_S = Number(process.env['BENCH_DURATION_S'] ?? 8);
const CONNECTIONS = 32;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function load(url: string) {
  await autocannon({ url, connections: CONNECTIONS, duration: 2 }); // warm-up (JIT), discarded
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

async function started(entry: string, env: Record<string, string>): Promise<StartedProcess> {
  const port = await freePort();
  return startProcess(entry, { PORT: String(port), ...env });
}

const cases: { name: string; entry: string; env: Record<string, string> }[] = [
  { name: 'bare node:http (baseline)', entry: BARE, env: {} },
  { name: 'kit, access log on (info)', entry: EXAMPLE, env: { LOG_LEVEL: 'info' } },
  { name: 'kit, access log off (warn)', entry: EXAMPLE, env: { LOG_LEVEL: 'warn' } },
];

const results: { name: string; rps: number; p50: number; p99: number; idle: number }[] = [];
for (const c of cases) {
  // The bare server has no /readyz: wait for it by polling its root instead.
  const proc =
    c.entry === BARE ? await startBare(c.env) : await started(c.entry, { ...c.env, SHUTDOWN_TIMEOUT_MS: '2000' });
  await sleep(1500);
  const idle = rssMiB(proc.child.pid!);
  const r = await load(`${proc.url}/`);
  results.push({ name: c.name, ...r, idle });
  await proc.stop();
}

async function startBare(env: Record<string, string>): Promise<StartedProcess> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const child = spawn(process.execPath, [BARE], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: 'ignore',
  });
  const exited = new Promise<number | string>((done) => child.once('exit', (code, sig) => done(code ?? sig ?? '')));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
      break;
    } catch {
      await sleep(50);
    }
  }
  return { child, url, exited, stdout: () => '', stderr: () => '', stop: async () => (child.kill('SIGTERM'), exited) };
}

const base = results[0]!;
process.stdout.write(
  `\nservice-kit: GET / with ${CONNECTIONS} connections for ${DURATION_S}s each (autocannon in this process, server in another)\n`,
);
process.stdout.write(
  `${'case'.padEnd(30)} ${'req/s'.padStart(8)} ${'ratio'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'idle RSS MiB'.padStart(13)} ${'ratio'.padStart(6)}\n`,
);
for (const r of results) {
  process.stdout.write(
    `${r.name.padEnd(30)} ${r.rps.toFixed(0).padStart(8)} ${(r.rps / base.rps).toFixed(2).padStart(6)} ${r.p50.toFixed(1).padStart(7)} ${r.p99.toFixed(1).padStart(7)} ${r.idle.toFixed(1).padStart(13)} ${(r.idle / base.idle).toFixed(2).padStart(6)}\n`,
  );
}
