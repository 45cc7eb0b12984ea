import { describe, expect, it } from 'vitest';

import {
  createLogger,
  createService,
  loadConfig,
  redactConfig,
  scrub,
  Secret,
  Type,
  baseConfigProperties,
} from '../src/index.ts';
import { captureLogs } from '../src/testing.ts';

const SECRETS = {
  config: 'cfg-s3cret-value-0001',
  bearer: 'bearer-s3cret-0002',
  cookie: 'cookie-s3cret-0003',
  gitlab: 'gitlab-s3cret-0004',
  rocket: 'rocket-s3cret-0005',
  query: 'query-s3cret-0006',
  password: 'password-s3cret-0007',
  nested: 'nested-s3cret-0008',
  apikey: 'apikey-s3cret-0009',
};

describe('logs never contain secrets', () => {
  it('across config, request headers, query strings, logged objects and errors', async () => {
    const logs = captureLogs();
    const Schema = Type.Object({ ...baseConfigProperties, API_TOKEN: Secret(Type.String()) });
    const config = loadConfig(Schema, { PORT: '0', API_TOKEN: SECRETS.config });
    const logger = createLogger({ name: 'secrets', level: 'trace', destination: logs.destination });
    logger.info({ config: redactConfig(Schema, config) }, 'configuration');

    const service = createService({ name: 'secrets', version: '0', config, logger });
    service.app.post('/hook', (request) => {
      // Handlers log objects that hold credentials; redaction catches them by field name.
      request.log.info({ user: { name: 'ann', password: SECRETS.password }, token: SECRETS.nested }, 'handled');
      request.log.info({ headers: request.headers }, 'headers seen');
      request.log.warn({ client: { auth: { apiKey: SECRETS.apikey } } }, 'deep');
      return { ok: true };
    });
    service.app.get('/fail', () => {
      throw new Error('upstream refused');
    });

    const res = await service.app.inject({
      method: 'POST',
      url: `/hook?token=${SECRETS.query}`,
      headers: {
        authorization: `Bearer ${SECRETS.bearer}`,
        cookie: `session=${SECRETS.cookie}`,
        'x-gitlab-token': SECRETS.gitlab,
        'x-auth-token': SECRETS.rocket,
      },
      payload: { any: 'thing' },
    });
    expect(res.statusCode).toBe(200);
    await service.app.inject({ url: `/fail?password=${SECRETS.query}`, headers: { authorization: SECRETS.bearer } });
    await service.app.inject({ url: `/nowhere?token=${SECRETS.query}` });
    await service.app.close();

    const text = logs.text();
    for (const [where, secret] of Object.entries(SECRETS)) {
      expect(text, `the ${where} secret leaked into the logs`).not.toContain(secret);
    }
    // Prove the lines were written, with the secrets replaced rather than the lines dropped.
    const lines = logs.lines();
    expect(lines.find((l) => l['msg'] === 'configuration')?.['config']).toMatchObject({ API_TOKEN: '[REDACTED]' });
    const seen = lines.find((l) => l['msg'] === 'headers seen')?.['headers'] as Record<string, unknown>;
    expect(seen['authorization']).toBe('[REDACTED]');
    expect(seen['x-gitlab-token']).toBe('[REDACTED]');
    expect(lines.find((l) => l['msg'] === 'handled')).toMatchObject({
      token: '[REDACTED]',
      user: { password: '[REDACTED]' },
    });
    expect(lines.filter((l) => l['msg'] === 'request').map((l) => l['path'])).toEqual(['/hook', '/fail', '/nowhere']);
  });
});

describe('scrub', () => {
  const keys = new Set(['password', 'authorization']);

  it('replaces secret keys at any depth and in arrays, case-insensitively, without touching the input', () => {
    const input = { a: 1, Password: 'p', nested: { list: [{ authorization: 'Bearer x', ok: true }] } };
    const snapshot = structuredClone(input);
    expect(scrub(input, keys)).toEqual({
      a: 1,
      Password: '[REDACTED]',
      nested: { list: [{ authorization: '[REDACTED]', ok: true }] },
    });
    expect(input).toEqual(snapshot);
  });

  it('returns the same object when there is nothing to hide', () => {
    const clean = { a: { b: [1, 2] } };
    expect(scrub(clean, keys)).toBe(clean);
  });
});
