import { describe, expect, it } from 'vitest';

import { databaseUnavailable } from '../src/index.ts';

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('databaseUnavailable', () => {
  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECT_TIMEOUT',
    '08006', // connection_failure
    '57P01', // admin_shutdown
    '57P03', // cannot_connect_now
    '53300', // too_many_connections
  ])('names the database for %s', (code) => {
    expect(databaseUnavailable(withCode(code))).toBe('database');
  });

  it('looks through causes and aggregated errors (a refused connection to every address)', () => {
    expect(databaseUnavailable(new Error('commit failed', { cause: withCode('ECONNRESET') }))).toBe('database');
    expect(databaseUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(
      'database',
    );
  });

  it.each([
    ['a syntax error', withCode('42601')],
    ['a unique violation', withCode('23505')],
    ['a NUL in text', withCode('22021')],
    ['a plain bug', new TypeError('x is undefined')],
    ['no error at all', undefined],
  ])('leaves %s alone (a 500 stays a 500)', (_name, err) => {
    expect(databaseUnavailable(err)).toBeUndefined();
  });
});
