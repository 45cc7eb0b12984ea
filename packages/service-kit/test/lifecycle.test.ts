// The kit's example service as a real process: what Kubernetes (or Ctrl-C) does to it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { freePort, startProcess } from '../src/testing.ts';

const EXAMPLE = fileURLToPath(new URL('../example/main.ts', import.meta.url));

describe('start-up with a bad configuration', () => {
  it.each([
    [{ PORT: 'eighty' }, 'kit-example: invalid configuration: PORT must be an integer from 0 to 65535 (got "eighty")'],
    [{ LOG_LEVEL: 'chatty' }, 'kit-example: invalid configuration: LOG_LEVEL must be one of'],
    [
      { EXAMPLE_API_TOKEN: 'short' },
      'kit-example: invalid configuration: EXAMPLE_API_TOKEN must be a string of at least 8 characters',
    ],
  ])('exits 1 with one line naming the variable: %o', (env, line) => {
    const result = spawnSync(process.execPath, [EXAMPLE], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(line);
    expect(result.stderr).not.toContain('short');
  });
});

describe('--version', () => {
  it('prints the name and version and exits 0 without reading the configuration or listening', () => {
    // A configuration that would refuse to start: it is not read.
    const result = spawnSync(process.execPath, [EXAMPLE, '--version'], {
      env: { ...process.env, PORT: 'eighty' },
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('kit-example 0.1.0\n');
    expect(result.status).toBe(0);
  });
});

/** Waits until the service reports `n` requests to /delay/:ms in flight (its own gauge), however long that takes. */
async function untilInFlight(url: string, n: number): Promise<void> {
  const line = 'http_requests_in_flight{route="/delay/:ms"}';
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = text.split('\n').find((l) => l.startsWith(line));
    if (value !== undefined && Number(value.slice(line.length)) >= n) return;
    await sleep(20);
  }
}

interface Outcome {
  slow: boolean;
  startedAt: number;
  finishedAt?: number;
  status?: number;
  /** The network error's code (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, ...), when there was one. */
  error?: string;
}

const errorCode = (err: unknown): string => {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(err);
};

describe('graceful shutdown', () => {
  // What the load did across the signal, counted whatever the machine's speed: no request rate is
  // assumed, the signal waits for the load to be running, and only outcomes are asserted.
  it('drops zero requests when SIGTERM arrives during continuous load', async () => {
    const port = await freePort();
    const proc = await startProcess(EXAMPLE, { PORT: String(port), SHUTDOWN_DELAY_MS: '1500' });
    const outcomes: Outcome[] = [];
    let routing = true; // what a load balancer does: route here while /readyz says 200

    const watcher = (async () => {
      while (routing) {
        try {
          if ((await fetch(`${proc.url}/readyz`)).status !== 200) routing = false;
        } catch {
          routing = false;
        }
        await sleep(25);
      }
    })();
    const worker = async (i: number) => {
      while (routing) {
        // A mix of fast requests and slow ones that are still running when the listener closes.
        const outcome: Outcome = { slow: i % 2 === 0, startedAt: performance.now() };
        outcomes.push(outcome);
        try {
          const res = await fetch(outcome.slow ? `${proc.url}/delay/150` : `${proc.url}/`);
          await res.arrayBuffer();
          outcome.status = res.status;
        } catch (err) {
          outcome.error = errorCode(err);
        }
        outcome.finishedAt = performance.now();
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i));
    // Signal once every client has had answers and a slow request is in flight, however long that takes.
    const answered = () => outcomes.filter((o) => o.status === 200).length;
    const slowInFlight = () => outcomes.filter((o) => o.slow && o.finishedAt === undefined).length;
    while (answered() < 16 || slowInFlight() === 0) await sleep(10);
    const killedAt = performance.now();
    const inFlightAtSignal = outcomes.filter((o) => o.finishedAt === undefined);
    proc.child.kill('SIGTERM');
    await Promise.all([watcher, ...workers]);
    const code = await proc.exited;

    // The load ran before the signal, and what was in flight at the signal finished with its 200.
    expect(outcomes.filter((o) => o.finishedAt! < killedAt && o.status === 200).length).toBeGreaterThan(0);
    expect(inFlightAtSignal.filter((o) => o.slow).length).toBeGreaterThan(0);
    expect(inFlightAtSignal.filter((o) => o.status !== 200)).toEqual([]);
    // Every request was answered 200, or (sent after the signal, once the listener had closed) refused
    // at connect; none was reset mid-request or answered with an error.
    const refusedAtConnect = (o: Outcome) => o.error === 'ECONNREFUSED' && o.startedAt > killedAt;
    const dropped = outcomes.filter((o) => o.status !== 200 && !refusedAtConnect(o));
    expect(dropped, JSON.stringify(dropped.slice(0, 5))).toEqual([]);
    expect(code).toBe(0);
    expect(proc.stdout()).toContain('"drained":true');
  });

  it('finishes requests that are in flight when the listener closes', async () => {
    const port = await freePort();
    const proc = await startProcess(EXAMPLE, { PORT: String(port) });
    const slow = Array.from({ length: 5 }, () => fetch(`${proc.url}/delay/500`).then((r) => r.status));
    await untilInFlight(proc.url, 5);
    proc.child.kill('SIGTERM');
    expect(await Promise.all(slow)).toEqual([200, 200, 200, 200, 200]);
    expect(await proc.exited).toBe(0);
    // New connections are refused once the listener is closed.
    await expect(fetch(`${proc.url}/`)).rejects.toThrow();
  });

  it('cuts off a request that outlives SHUTDOWN_TIMEOUT_MS and exits non-zero', async () => {
    const port = await freePort();
    const proc = await startProcess(EXAMPLE, { PORT: String(port), SHUTDOWN_TIMEOUT_MS: '300' });
    const stuck = fetch(`${proc.url}/delay/30000`).then(
      (r) => r.status,
      () => 'cut',
    );
    await untilInFlight(proc.url, 1);
    const killedAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    // Well before the 30 s the request needed: the bound cut it, not its own end.
    expect(Date.now() - killedAt).toBeLessThan(25_000);
    expect(await stuck).toBe('cut');
    expect(proc.stdout()).toContain('drain bound reached');
  });
});
