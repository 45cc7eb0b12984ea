// PlainText: the shared rule for text that reaches a database, and the 400 it gives.
import { afterEach, describe, expect, it } from 'vitest';

import {
  createLogger,
  createService,
  isPlainText,
  PLAIN_TEXT_MESSAGE,
  PLAIN_TEXT_PATTERN,
  PlainText,
  toPlainText,
  Type,
  type Service,
} from '../src/index.ts';
import { captureLogs, testConfig } from '../src/testing.ts';

const services: Service[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.app.close()));
});

const REFUSED = [
  'a\u0000b',
  'tab\there',
  'line\nfeed',
  'del\u007f',
  'c1\u0085',
  'lone \ud800 high',
  'lone \udc00 low',
  '\udc00\ud800',
];
const ACCEPTED = ['', 'I1', 'Zoë & Ågot', '日本語', 'emoji 😀 pair', 'quotes "\' and \\ backslash', '\u00a0nbsp'];

describe('PlainText', () => {
  it('refuses control characters and unpaired surrogates, accepts the rest of Unicode', () => {
    for (const s of REFUSED) expect(isPlainText(s), JSON.stringify(s)).toBe(false);
    for (const s of ACCEPTED) expect(isPlainText(s), JSON.stringify(s)).toBe(true);
    // The same verdict with the u flag, which JSON Schema validators and OpenAPI tools may use.
    const unicode = new RegExp(PLAIN_TEXT_PATTERN, 'u');
    for (const s of REFUSED) expect(unicode.test(s), JSON.stringify(s)).toBe(false);
    for (const s of ACCEPTED) expect(unicode.test(s), JSON.stringify(s)).toBe(true);
  });

  it('toPlainText replaces exactly what the pattern refuses', () => {
    expect(toPlainText('a\u0000b\ud800c😀')).toBe('a\ufffdb\ufffdc😀');
    for (const s of [...REFUSED, ...ACCEPTED]) expect(isPlainText(toPlainText(s))).toBe(true);
    for (const s of ACCEPTED) expect(toPlainText(s)).toBe(s);
  });

  it('a request that breaks it gets a 400 naming the field, in words', async () => {
    const logs = captureLogs();
    const service = createService({
      name: 'test',
      version: '1',
      config: testConfig(),
      logger: createLogger({ name: 'test', level: 'info', destination: logs.destination }),
    });
    services.push(service);
    service.app.post('/notes', { schema: { body: Type.Object({ title: PlainText({ maxLength: 20 }) }) } }, (r) => ({
      title: r.body.title,
    }));
    const res = await service.app.inject({
      method: 'POST',
      url: '/notes',
      headers: { 'content-type': 'application/json' },
      payload: '{"title":"a\\u0000b"}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({
      detail: `body /title ${PLAIN_TEXT_MESSAGE}`,
      errors: [{ location: 'body', path: '/title', message: PLAIN_TEXT_MESSAGE }],
    });
    const ok = await service.app.inject({ method: 'POST', url: '/notes', payload: { title: 'Zoë 😀' } });
    expect(ok.json()).toEqual({ title: 'Zoë 😀' });
  });
});
