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

interface Outcome {
  startedAt: number;
  finishedAt?: number;
  status?: number;
  error?: string;
}

describe('graceful shutdown', () => {
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
        const outcome: Outcome = { startedAt: Date.now() };
        outcomes.push(outcome);
        try {
          // A mix of fast requests and slow ones that are still running when the listener closes.
          const res = await fetch(i % 2 === 0 ? `${proc.url}/delay/150` : `${proc.url}/`);
          outcome.status = res.status;
          await res.arrayBuffer();
        } catch (err) {
          outcome.error = String((err as Error).cause ?? err);
        }
        outcome.finishedAt = Date.now();
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i));
    await sleep(600);
    const killedAt = Date.now();
    proc.child.kill('SIGTERM');
    await Promise.all([watcher, ...workers]);
    const code = await proc.exited;

    const failed = outcomes.filter((o) => o.error !== undefined || o.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(100);
    // The load really was running across the signal: the slow requests in flight when SIGTERM
    // arrived (four clients send 150 ms requests back to back) finished, with their 200s.
    const acrossTheSignal = outcomes.filter((o) => o.startedAt <= killedAt && (o.finishedAt ?? 0) > killedAt);
    expect(acrossTheSignal.length).toBeGreaterThanOrEqual(2);
    expect(code).toBe(0);
    expect(proc.stdout()).toContain('"drained":true');
  });

  it('finishes requests that are in flight when the listener closes', async () => {
    const port = await freePort();
    const proc = await startProcess(EXAMPLE, { PORT: String(port) });
    const slow = Array.from({ length: 5 }, () => fetch(`${proc.url}/delay/500`).then((r) => r.status));
    await sleep(150);
    proc.child.kill('SIGTERM');
    expect(await Promise.all(slow)).toEqual([200, 200, 200, 200, 200]);
    expect(await proc.exited).toBe(0);
    // New connections are refused once the listener is closed.
    await expect(fetch(`${proc.url}/`)).rejects.toThrow();
  });

  it('cuts off a request that outlives SHUTDOWN_TIMEOUT_MS and exits non-zero', async () => {
    const port = await freePort();
    const proc = await startProcess(EXAMPLE, { PORT: String(port), SHUTDOWN_TIMEOUT_MS: '300' });
    const stuck = fetch(`${proc.url}/delay/5000`).then(
      (r) => r.status,
      () => 'cut',
    );
    await sleep(100);
    const killedAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    expect(Date.now() - killedAt).toBeLessThan(3000);
    expect(await stuck).toBe('cut');
    expect(proc.stdout()).toContain('drain bound reached');
  });
});
