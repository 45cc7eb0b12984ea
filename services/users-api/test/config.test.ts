// Configuration: the contract's defaults, and one clear line for what is wrong.
import { describe, expect, it } from 'vitest';

import { unavailableReason } from '../src/adapters/aws.ts';
import { readConfig } from '../src/config.ts';

describe('readConfig', () => {
  it("has the contract's defaults", () => {
    expect(readConfig({})).toMatchObject({
      PORT: 8084,
      USERS_TABLE: 'users',
      AVATAR_BUCKET: 'users-api-avatars',
      AWS_REGION: 'us-east-1',
      AVATAR_MAX_BYTES: 5_242_880,
      AVATAR_URL_TTL_SECONDS: 300,
      ORPHAN_SWEEP_AFTER_SECONDS: 300,
      ORPHAN_SWEEP_INTERVAL_SECONDS: 60,
      USERS_API_FAULT: 'none',
    });
    expect(readConfig({}).AWS_ENDPOINT_URL).toBeUndefined();
  });

  it('reads the emulator endpoint and numbers', () => {
    const c = readConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AVATAR_MAX_BYTES: '1024', PORT: '0' });
    expect(c).toMatchObject({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AVATAR_MAX_BYTES: 1024, PORT: 0 });
  });

  it.each([
    [{ AVATAR_BUCKET: 'Not_A_Bucket' }, /AVATAR_BUCKET/],
    [{ USERS_TABLE: 'a' }, /USERS_TABLE/],
    [{ AWS_REGION: 'moon' }, /AWS_REGION/],
    [{ AVATAR_MAX_BYTES: '0' }, /AVATAR_MAX_BYTES/],
    [{ AWS_ENDPOINT_URL: 'not a url' }, /AWS_ENDPOINT_URL/],
    [{ USERS_API_FAULT: 'explode' }, /USERS_API_FAULT/],
  ])('refuses %o with a line naming it', (env, name) => {
    expect(() => readConfig(env)).toThrow(name);
  });

  it("refuses a sweep age that a table write's worst case does not fit in twice", () => {
    expect(() => readConfig({ ORPHAN_SWEEP_AFTER_SECONDS: '30' })).toThrow(
      /ORPHAN_SWEEP_AFTER_SECONDS \(30\) must be more than twice .* \(15000 ms\)/,
    );
    expect(readConfig({ ORPHAN_SWEEP_AFTER_SECONDS: '31' }).ORPHAN_SWEEP_AFTER_SECONDS).toBe(31);
    expect(readConfig({ ORPHAN_SWEEP_AFTER_SECONDS: '2', AWS_TIMEOUT_MS: '999', AWS_MAX_ATTEMPTS: '1' })).toBeDefined();
  });

  it('refuses the test-only fault injection in production', () => {
    expect(() => readConfig({ USERS_API_FAULT: 'exit-after-upload', NODE_ENV: 'production' })).toThrow(/tests only/);
    expect(readConfig({ USERS_API_FAULT: 'exit-after-upload' }).USERS_API_FAULT).toBe('exit-after-upload');
  });
});

describe('unavailableReason: an outage, not a bug', () => {
  it.each([
    [{ name: 'ProvisionedThroughputExceededException' }, /throttled/],
    [{ name: 'ThrottlingException' }, /throttled/],
    [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, /throttled/],
    [{ name: 'ResourceNotFoundException' }, /not set up/],
    [{ name: 'NoSuchBucket' }, /not set up/],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), /unreachable/],
    [{ name: 'TimeoutError' }, /timed out/],
    [{ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }, /answered 500/],
  ])('%o is unavailable', (error, reason) => {
    expect(unavailableReason(error)).toMatch(reason);
  });

  it.each([
    [{ name: 'ValidationException', $metadata: { httpStatusCode: 400 } }],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }],
    [new TypeError('x is undefined')],
    ['a string'],
  ])('%o is not', (error) => {
    expect(unavailableReason(error)).toBeUndefined();
  });
});
