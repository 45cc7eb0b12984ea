import { describe, expect, it } from 'vitest';

import { OwnWrites } from '../src/own-writes.ts';

function clocked() {
  const clock = { now: 0 };
  return { clock, own: new OwnWrites(5_000, () => clock.now) };
}

describe('OwnWrites', () => {
  it('waits for its own write until the watch delivers that resourceVersion', () => {
    const { own } = clocked();
    expect(own.awaitingMs('ns/a')).toBeUndefined();
    own.wrote('ns/a', '7');
    expect(own.awaitingMs('ns/a')).toBe(5_000);
    own.observed('ns/a', '6'); // an older event: still behind
    expect(own.awaitingMs('ns/a')).toBe(5_000);
    own.observed('ns/a', '7');
    expect(own.awaitingMs('ns/a')).toBeUndefined();
  });

  it('does not wait when the watch delivered the write before the write returned', () => {
    const { own } = clocked();
    own.observed('ns/a', '7');
    own.wrote('ns/a', '7');
    expect(own.awaitingMs('ns/a')).toBeUndefined();
  });

  it('stops trusting a write whose event never came after the wait', () => {
    const { clock, own } = clocked();
    own.wrote('ns/a', '7');
    clock.now = 4_000;
    expect(own.awaitingMs('ns/a')).toBe(1_000);
    clock.now = 5_000;
    expect(own.awaitingMs('ns/a')).toBeUndefined();
    clock.now = 0;
    expect(own.awaitingMs('ns/a')).toBeUndefined(); // dropped, not merely expired
  });

  it('forgets a deleted Deployment’s versions and a forgotten key’s write', () => {
    const { own } = clocked();
    own.observed('ns/a', '7');
    own.observed('ns/a', '8', true);
    own.wrote('ns/a', '7'); // 7 was forgotten with the deletion: a new write to wait for
    expect(own.awaitingMs('ns/a')).toBe(5_000);
    own.forget('ns/a');
    expect(own.awaitingMs('ns/a')).toBeUndefined();
  });

  it('remembers only the last eight versions per key', () => {
    const { own } = clocked();
    for (let v = 1; v <= 9; v++) own.observed('ns/a', String(v));
    own.wrote('ns/a', '1');
    expect(own.awaitingMs('ns/a')).toBe(5_000); // 1 was pushed out
    own.forget('ns/a');
    own.wrote('ns/a', '2');
    expect(own.awaitingMs('ns/a')).toBeUndefined();
  });
});
