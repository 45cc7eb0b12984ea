import { describe, expect, it } from 'vitest';

import { GroupCommit } from '../src/group-commit.ts';

/** A flush the test completes by hand, recording every batch it was given. */
function manualFlush() {
  const batches: number[][] = [];
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const flush = (items: number[]) => {
    batches.push(items);
    return new Promise<number[]>((resolve, reject) => {
      pending.push({ resolve: () => resolve(items.map((n) => n * 10)), reject });
    });
  };
  return { batches, pending, flush };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('flushes an item at once when idle, and batches what arrives while flushes run', async () => {
    const { batches, pending, flush } = manualFlush();
    const gc = new GroupCommit(flush, { maxBatch: 100, maxInFlight: 1 });
    const first = gc.add(1);
    expect(batches).toEqual([[1]]); // no timer: written immediately
    const rest = [2, 3, 4].map((n) => gc.add(n));
    expect(batches).toHaveLength(1);
    expect(gc.waiting).toBe(3);
    pending[0]!.resolve();
    expect(await first).toBe(10);
    await tick();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    pending[1]!.resolve();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('bounds the batch size and the flushes in flight', async () => {
    const { batches, pending, flush } = manualFlush();
    const gc = new GroupCommit(flush, { maxBatch: 2, maxInFlight: 2 });
    const all = [1, 2, 3, 4, 5, 6, 7].map((n) => gc.add(n));
    expect(batches).toEqual([[1], [2]]);
    pending[0]!.resolve();
    await tick();
    expect(batches).toEqual([[1], [2], [3, 4]]);
    pending[1]!.resolve();
    await tick();
    expect(batches).toEqual([[1], [2], [3, 4], [5, 6]]);
    pending[2]!.resolve();
    pending[3]!.resolve();
    await tick();
    pending[4]!.resolve();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 60, 70]);
  });

  it('fails every item of a failed batch, and only those', async () => {
    const { pending, flush } = manualFlush();
    const gc = new GroupCommit(flush, { maxBatch: 10, maxInFlight: 1 });
    const a = gc.add(1);
    const b = [gc.add(2), gc.add(3)];
    pending[0]!.reject(new Error('connection lost'));
    await expect(a).rejects.toThrow('connection lost');
    await tick();
    pending[1]!.resolve();
    expect(await Promise.all(b)).toEqual([20, 30]);
  });

  it('rejects a flush that returns the wrong number of results', async () => {
    const gc = new GroupCommit<number, number>(() => Promise.resolve([]), { maxBatch: 10, maxInFlight: 1 });
    await expect(gc.add(1)).rejects.toThrow('returned 0 results for 1 items');
  });
});
