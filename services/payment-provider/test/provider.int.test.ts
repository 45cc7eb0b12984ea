// payment-provider as real processes on real PostgreSQL: keys honoured across replicas and restarts.
import { fileURLToPath } from 'node:url';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { useDatabase } from '@sre-platform/test-platform';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const db = useDatabase('provider');
const processes: StartedProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
});

async function start(env: Record<string, string> = {}) {
  // A bound on start-up, not a speed target: the shared CI machine can be slow to start a process.
  const p = await startProcess(
    MAIN,
    { PORT: String(await freePort()), DATABASE_URL: db.url, ...env },
    { readyTimeoutMs: 60_000 },
  );
  processes.push(p);
  return p;
}

const pay = (p: StartedProcess, body: string, key?: string) =>
  fetch(`${p.url}/payments/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body,
  });
const count = async () =>
  ((await db.sql`select count(*)::int as n from provider_payments`) as unknown as [{ n: number }])[0].n;

describe('payment-provider on PostgreSQL', () => {
  it('honours one key across two replicas at the same moment: one payment, the same answer', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const body = '{"id":"I1","value":12.15,"currency":"EUR"}';
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pay(i % 2 ? a : b, body, 'one-key')));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(await Promise.all(answers.map((r) => r.text())))).toEqual(new Set(['{"id":"I1"}']));
    expect(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(19);
    expect(await count()).toBe(1);
  });

  it('remembers keys across a restart (durably), and refuses a key reused for another payment', async () => {
    const first = await start();
    expect((await pay(first, '{"id":"I2","value":10.25,"currency":"GBP"}', 'durable')).status).toBe(200);
    expect(await first.stop('SIGTERM')).toBe(0);
    const second = await start();
    const replay = await pay(second, '{"id":"I2","value":10.250,"currency":"GBP"}', 'durable');
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const reused = await pay(second, '{"id":"I3","value":66.13,"currency":"DKK"}', 'durable');
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await count()).toBe(1);
  });

  it('answers 400 for bad input as a process too, and logs no body', async () => {
    const p = await start();
    const res = await pay(p, '{"id":"I1","value":0,"currency":"EUR"}');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toBe('body /value must be > 0');
    expect(p.stdout()).not.toContain('"value":0');
  });
});
