import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { WorkQueue } from '../src/workqueue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const base = { workers: 4, qps: 1000, burst: 1000, backoffBaseMs: 5, backoffCapMs: 40 };

describe('WorkQueue', () => {
  it('processes a key added many times while queued once', async () => {
    const gate = deferred();
    const seen: string[] = [];
    const q = new WorkQueue({
      ...base,
      workers: 1,
      process: async (key) => {
        seen.push(key);
        if (key === 'first') await gate.promise;
      },
    });
    q.add('first'); // occupies the only worker
    for (let i = 0; i < 5; i++) q.add('k');
    expect(q.depth).toBe(1);
    gate.resolve();
    await q.stop();
    await sleep(0);
    expect(seen.filter((k) => k === 'k').length).toBeLessThanOrEqual(1);
  });

  it('never runs one key twice at once, and reruns it when it changed meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gate = deferred();
    const done = deferred();
    const q = new WorkQueue({
      ...base,
      process: async () => {
        running += 1;
        runs += 1;
        maxRunning = Math.max(maxRunning, running);
        if (runs === 1) await gate.promise;
        running -= 1;
        if (runs === 2) done.resolve();
      },
    });
    q.add('k');
    await sleep(5);
    q.add('k'); // while in progress: marked dirty, not run concurrently
    q.add('k');
    gate.resolve();
    await done.promise;
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
    await q.stop();
  });

  it('retries failures with growing backoff, capped, and forgets after a success', async () => {
    const times: number[] = [];
    const done = deferred();
    const errors: number[] = [];
    const q = new WorkQueue({
      ...base,
      process: async () => {
        times.push(performance.now());
        if (times.length < 5) throw new Error('apiserver said no');
        done.resolve();
      },
      onError: (_k, _e, retryInMs) => errors.push(retryInMs),
    });
    q.add('k');
    await done.promise;
    await sleep(0); // the success is recorded after process() resolves
    expect(errors).toEqual([5, 10, 20, 40]);
    expect(q.addRateLimited('k')).toBe(5); // the success reset the count
    await q.stop();
  });

  it('bounds the overall rate with its token bucket', async () => {
    let count = 0;
    const q = new WorkQueue({ ...base, qps: 0.5, burst: 2, process: async () => void (count += 1) });
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await sleep(20);
    // The burst goes at once; the next token comes 2 s later (3 only if this machine stalled that long).
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(3);
    expect(q.depth).toBeGreaterThanOrEqual(7);
    await q.stop();
  });
});
