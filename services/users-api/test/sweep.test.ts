// The staging sweep's decision, case by case, and the run object's tally.
import { describe, expect, it } from 'vitest';

import { decide, SweepRun, type SweepSettings } from '../src/domain/sweep.ts';
import { avatarUrl, newAvatarKeys } from '../src/domain/user.ts';

const settings: SweepSettings = { bucket: 'avatars-b', region: 'us-east-1', sweepAfterSeconds: 300 };
const png = { mime: 'image/png', ext: 'png' } as const;
const keys = newAvatarKeys(png);
const other = newAvatarKeys(png);
const user = (key: string) => ({
  name: 'A',
  email: 'a@b.cd',
  avatar_url: avatarUrl(settings.bucket, settings.region, key),
});

describe('decide', () => {
  it('promotes an object its user references, at any age (the request died after the table write)', () => {
    for (const ageSeconds of [0, 299, 301, 86_000]) {
      expect(decide({ key: keys.staging, ageSeconds, email: 'a@b.cd', item: user(keys.final) }, settings)).toEqual({
        action: 'promote',
        from: keys.staging,
        to: keys.final,
        type: png,
      });
    }
  });

  it('keeps an unreferenced object while it may still be an upload in progress', () => {
    expect(decide({ key: keys.staging, ageSeconds: 299.9, email: 'a@b.cd', item: undefined }, settings)).toEqual({
      action: 'keep',
      reason: 'young',
    });
  });

  it('deletes an old object no user references (the request died before the table write)', () => {
    expect(decide({ key: keys.staging, ageSeconds: 300, email: 'a@b.cd', item: undefined }, settings)).toEqual({
      action: 'delete',
      reason: 'unreferenced',
    });
  });

  it("deletes an old object whose email belongs to a user with another avatar (a duplicate's leftover)", () => {
    expect(
      decide({ key: keys.staging, ageSeconds: 600, email: 'a@b.cd', item: user(other.final) }, settings),
    ).toMatchObject({
      action: 'delete',
    });
    expect(
      decide({ key: keys.staging, ageSeconds: 10, email: 'a@b.cd', item: user(other.final) }, settings),
    ).toMatchObject({
      action: 'keep',
    });
  });

  it('never promotes to a URL of another bucket, and deletes old objects it did not write', () => {
    const foreign = { ...user(keys.final), avatar_url: avatarUrl('elsewhere', 'us-east-1', keys.final) };
    expect(decide({ key: keys.staging, ageSeconds: 600, email: 'a@b.cd', item: foreign }, settings)).toMatchObject({
      action: 'delete',
      reason: 'unreferenced',
    });
    expect(
      decide({ key: 'staging/hand-made.txt', ageSeconds: 600, email: undefined, item: undefined }, settings),
    ).toEqual({
      action: 'delete',
      reason: 'foreign-key',
    });
    expect(
      decide({ key: 'staging/hand-made.txt', ageSeconds: 1, email: undefined, item: undefined }, settings),
    ).toMatchObject({
      action: 'keep',
    });
  });
});

describe('SweepRun', () => {
  it('tallies one run', () => {
    const run = new SweepRun(1000);
    run.listed = 5;
    for (const o of ['promote', 'delete', 'delete', 'keep', 'failed'] as const) run.record(o);
    run.record('vanished');
    expect(run.result(1250)).toEqual({
      listed: 5,
      promoted: 1,
      deleted: 2,
      kept: 1,
      failed: 1,
      vanished: 1,
      durationMs: 250,
    });
  });
});
