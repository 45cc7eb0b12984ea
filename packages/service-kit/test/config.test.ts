import { describe, expect, it } from 'vitest';

import {
  BaseConfigSchema,
  baseConfigProperties,
  ConfigError,
  loadConfig,
  OneOf,
  redactConfig,
  Secret,
  Type,
} from '../src/index.ts';

const Schema = Type.Object({
  ...baseConfigProperties,
  UPSTREAM_URL: Type.String({ format: 'uri' }),
  API_TOKEN: Secret(Type.String({ minLength: 12 })),
  MODE: OneOf(['fast', 'safe'], { default: 'safe' }),
  FEATURE_ON: Type.Boolean({ default: false }),
});
const valid = { UPSTREAM_URL: 'http://upstream:8082/pay', API_TOKEN: 'abcdefghijklmnop' };

function messageOf(env: Record<string, string>): string {
  try {
    loadConfig(Schema, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies defaults and converts strings to the schema types', () => {
    const config = loadConfig(Schema, { ...valid, PORT: '9000', FEATURE_ON: 'true', SHUTDOWN_DELAY_MS: '250' });
    expect(config).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 9000,
      LOG_LEVEL: 'info',
      MODE: 'safe',
      FEATURE_ON: true,
      SHUTDOWN_DELAY_MS: 250,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      BODY_LIMIT_BYTES: 1_048_576,
    });
  });

  it('ignores variables the schema does not name', () => {
    const config = loadConfig(Schema, { ...valid, UNRELATED: 'x' }) as Record<string, unknown>;
    expect(config['UNRELATED']).toBeUndefined();
  });

  it('names a missing required variable and what it expects, on one line', () => {
    const message = messageOf({ API_TOKEN: valid.API_TOKEN });
    expect(message).toBe('invalid configuration: UPSTREAM_URL is required: a valid uri');
    expect(message).not.toContain('\n');
  });

  it('treats an empty variable as unset', () => {
    expect(messageOf({ ...valid, UPSTREAM_URL: '' })).toContain('UPSTREAM_URL is required');
    expect(loadConfig(Schema, { ...valid, PORT: '' }).PORT).toBe(8080);
  });

  it('rejects an out-of-range or non-numeric integer with the value it got', () => {
    expect(messageOf({ ...valid, PORT: 'http' })).toBe(
      'invalid configuration: PORT must be an integer from 0 to 65535 (got "http")',
    );
    expect(messageOf({ ...valid, PORT: '70000' })).toContain('PORT must be an integer from 0 to 65535');
    expect(messageOf({ ...valid, SHUTDOWN_TIMEOUT_MS: '0' })).toContain(
      'SHUTDOWN_TIMEOUT_MS must be an integer of at least 1',
    );
  });

  it('lists the allowed values of an enumeration', () => {
    expect(messageOf({ ...valid, LOG_LEVEL: 'loud' })).toBe(
      'invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    );
  });

  it('never echoes the value of a secret', () => {
    const message = messageOf({ ...valid, API_TOKEN: 'short-s3cr' });
    expect(message).toBe('invalid configuration: API_TOKEN must be a string of at least 12 characters');
    expect(message).not.toContain('short-s3cr');
  });

  it('mentions every other invalid variable after the first', () => {
    expect(messageOf({ PORT: 'x', LOG_LEVEL: 'y', API_TOKEN: valid.API_TOKEN })).toMatch(
      /^invalid configuration: PORT .* \(also invalid: LOG_LEVEL, UPSTREAM_URL\)$/,
    );
  });

  it('redacts secrets for logging and keeps the rest', () => {
    const config = loadConfig(Schema, valid);
    const shown = redactConfig(Schema, config);
    expect(shown['API_TOKEN']).toBe('[REDACTED]');
    expect(shown['UPSTREAM_URL']).toBe(valid.UPSTREAM_URL);
  });

  it('gives a usable base config with no environment at all', () => {
    expect(loadConfig(BaseConfigSchema, {}).PORT).toBe(8080);
  });
});
