// The one readiness poll (tests' processes and `make up` use it): what it waits for, and when it gives up.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { waitForProbe } from '../src/testing.ts';

let server: Server | undefined;
afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

// A probe that answers 503 with a reason `notReadyFor` times, then 200.
async function probe(notReadyFor: number): Promise<{ url: string; calls: () => number }> {
  let calls = 0;
  server = createServer((_req, res) => {
    calls += 1;
    res.statusCode = calls > notReadyFor ? 200 : 503;
    res.end(calls > notReadyFor ? 'ok' : 'database: not reachable');
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`, calls: () => calls };
}

describe('waitForProbe', () => {
  it('polls until the probe answers 200', async () => {
    const p = await probe(3);
    expect(await waitForProbe(p.url, { timeoutMs: 60_000, intervalMs: 1 })).toEqual({ ok: true });
    expect(p.calls()).toBe(4);
  });

  it('gives up after its deadline with the last answer, for the message', async () => {
    const p = await probe(Number.POSITIVE_INFINITY);
    const wait = await waitForProbe(p.url, { timeoutMs: 0, intervalMs: 1 });
    expect(wait).toEqual({ ok: false, last: `${p.url} answered 503: database: not reachable` });
  });

  it('stops at once when the process behind it has exited, with its exit code', async () => {
    const p = await probe(Number.POSITIVE_INFINITY);
    let polls = 0;
    const wait = await waitForProbe(p.url, {
      timeoutMs: 60_000,
      intervalMs: 1,
      exited: () => (++polls > 2 ? 3 : null),
    });
    expect(wait).toMatchObject({ ok: false, exitCode: 3 });
    expect(p.calls()).toBe(2);
  });

  it('reports a refused connection as the last answer', async () => {
    const p = await probe(0);
    await new Promise<void>((done) => server!.close(() => done()));
    server = undefined;
    const wait = await waitForProbe(p.url, { timeoutMs: 0 });
    expect(wait.ok).toBe(false);
    expect(!wait.ok && wait.last).toMatch(/fetch failed|ECONNREFUSED/);
  });
});
