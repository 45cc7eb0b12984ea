// The orphan sweep's decisions, case by case: what it does with one object, which keys a run judges, and how far
// its checkpoint moves.
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';

import {
  decide,
  formatCheckpoint,
  parseCheckpoint,
  SweepRun,
  sweepWindow,
  triage,
  type SweepSettings,
} from '../src/domain/sweep.ts';
import { avatarKeysFrom, avatarKeyTime, avatarUrl, newAvatarKey } from '../src/domain/user.ts';

const settings: SweepSettings = { bucket: 'avatars-b', region: 'us-east-1', sweepAfterSeconds: 300 };
const png = { mime: 'image/png', ext: 'png' } as const;
const mine = newAvatarKey(png).key;
const other = newAvatarKey(png).key;
const user = (key: string) => ({
  name: 'A',
  email: 'a@b.cd',
  avatar_url: avatarUrl(settings.bucket, settings.region, key),
});
/** An avatar key made at `ms` (a UUIDv7 with that time). */
const keyAt = (ms: number) => newAvatarKey(png, uuidv7({ msecs: ms })).key;

describe('decide', () => {
  it('keeps an object its owner references', () => {
    expect(decide({ key: mine, email: 'a@b.cd', item: user(mine) }, settings)).toEqual({
      action: 'keep',
      reason: 'referenced',
    });
  });

  it('deletes an object no item references (the process died before the table write)', () => {
    expect(decide({ key: mine, email: 'a@b.cd', item: undefined }, settings)).toEqual({
      action: 'delete',
      reason: 'unreferenced',
    });
  });

  it("deletes an object whose owner's item references another avatar (a duplicate that died before cleaning up)", () => {
    expect(decide({ key: mine, email: 'a@b.cd', item: user(other) }, settings)).toMatchObject({ action: 'delete' });
  });

  it("does not count a reference to the same key in another bucket or region as this object's", () => {
    const elsewhere = { ...user(mine), avatar_url: avatarUrl('elsewhere', 'us-east-1', mine) };
    expect(decide({ key: mine, email: 'a@b.cd', item: elsewhere }, settings)).toMatchObject({ action: 'delete' });
    const region = { ...user(mine), avatar_url: avatarUrl(settings.bucket, 'eu-west-1', mine) };
    expect(decide({ key: mine, email: 'a@b.cd', item: region }, settings)).toMatchObject({ action: 'delete' });
  });

  it('never deletes an object without our email metadata (not written by POST /user)', () => {
    expect(decide({ key: mine, email: undefined, item: undefined }, settings)).toEqual({
      action: 'keep',
      reason: 'no-owner',
    });
  });
});

describe('avatar keys sort by time', () => {
  it('reads the time back from a new key, and lists it from its own millisecond on', () => {
    const before = Date.now();
    const { key } = newAvatarKey(png);
    const t = avatarKeyTime(key)!;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
    expect(avatarKeysFrom(t) < key).toBe(true);
    expect(avatarKeysFrom(t + 1) > key).toBe(true);
  });

  it('orders keys as their times, across a change in the number of significant hex digits', () => {
    const times = [0, 1, 255, 256, 0xffffffff, 0x100000000, Date.now(), 0xffffffffffff];
    const keys = times.map(keyAt);
    expect([...keys].sort()).toEqual(keys);
    for (const [i, t] of times.entries()) expect(avatarKeyTime(keys[i]!)).toBe(t);
  });

  it('gives no time for keys it did not make: random (v4) UUIDs, other names', () => {
    expect(avatarKeyTime('avatars/0b6c3f4e-1d2a-4c3b-9a8d-7e6f5a4b3c2d.png')).toBeUndefined();
    expect(avatarKeyTime('avatars/hand-made.png')).toBeUndefined();
    expect(avatarKeyTime(keyAt(5).replace('.png', '.svg'))).toBeUndefined();
  });
});

describe('a run: its window, triage and checkpoint', () => {
  const now = 1_800_000_000_000;

  it('judges keys from the checkpoint up to sweepAfterSeconds ago, and stops at the first younger key', () => {
    const w = sweepWindow(now - 3_600_000, now, 300);
    expect(w).toMatchObject({ from: now - 3_600_000, before: now - 300_000 });
    expect(triage(keyAt(now - 3_600_000), w)).toBe('judge');
    expect(triage(keyAt(now - 300_001), w)).toBe('judge');
    expect(triage(keyAt(now - 300_000), w)).toBe('stop');
    expect(triage(keyAt(now), w)).toBe('stop');
    // A random-UUID key inside the window is skipped, not judged; one past the window stops the listing.
    expect(triage(`${avatarKeysFrom(now - 1_000_000)}-4abc-8def-0123456789ab.png`, w)).toBe('foreign');
    expect(triage('avatars/f0b6c3f4-1d2a-4c3b-9a8d-7e6f5a4b3c2d.png', w)).toBe('stop');
  });

  it('starts from the beginning without a checkpoint, and never moves backwards', () => {
    expect(sweepWindow(undefined, now, 300)).toMatchObject({ from: 0, startAfter: avatarKeysFrom(0) });
    // A checkpoint newer than now - 300 s (another replica's clock runs ahead): nothing to judge.
    const w = sweepWindow(now - 100_000, now, 300);
    expect(w.before).toBe(w.from);
    expect(new SweepRun(now, now - 100_000, 300).nextCheckpoint()).toBeUndefined();
  });

  it('moves the checkpoint to the end of the window when every object was judged', () => {
    const run = new SweepRun(now, now - 3_600_000, 300);
    for (const o of ['keep', 'delete', 'delete', 'foreign', 'vanished'] as const) run.record(o, keyAt(now - 1_000_000));
    expect(run.nextCheckpoint()).toBe(now - 300_000);
    expect(run.result(now + 250)).toMatchObject({
      listed: 5,
      kept: 1,
      deleted: 2,
      foreign: 1,
      vanished: 1,
      failed: 0,
      durationMs: 250,
    });
  });

  it('stops the checkpoint at the first object it could not judge, so that the next run retries it', () => {
    const run = new SweepRun(now, now - 3_600_000, 300);
    run.record('keep', keyAt(now - 2_000_000));
    run.record('failed', keyAt(now - 1_500_000));
    run.record('failed', keyAt(now - 1_000_000));
    expect(run.nextCheckpoint()).toBe(now - 1_500_000);
    expect(run.result(now)).toMatchObject({ failed: 1, before: new Date(now - 1_500_000).toISOString() });
    // A failure on the checkpoint's own millisecond does not move it.
    const stuck = new SweepRun(now, now - 3_600_000, 300);
    stuck.record('failed', keyAt(now - 3_600_000));
    expect(stuck.nextCheckpoint()).toBeUndefined();
  });

  it('reads back what it writes, and treats anything else as no checkpoint', () => {
    expect(parseCheckpoint(formatCheckpoint(now))).toBe(now);
    for (const bad of [
      '',
      'null',
      '{}',
      '{"verifiedBefore":"1"}',
      '{"verifiedBefore":-1}',
      '{"verifiedBefore":1.5}',
      '{',
    ])
      expect(parseCheckpoint(bad)).toBeUndefined();
  });
});
