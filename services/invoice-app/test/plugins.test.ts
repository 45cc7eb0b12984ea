// The routes are one encapsulated Fastify plugin: the pay route's catch-all body parser (any body,
// any content type, read and ignored) applies to invoice-app's routes only. A sibling plugin on the
// same app keeps Fastify's parsers: JSON is parsed, a form is a 415.
import { createLogger, createService, Type, type Service, type ServicePlugin } from '@sre-platform/service-kit';
import { testConfig } from '@sre-platform/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { registerRoutes } from '../src/app.ts';
import type { Invoices } from '../src/adapters/invoices.ts';
import type { Payer, PayReport } from '../src/pay/payer.ts';

let service: Service;

beforeAll(async () => {
  service = createService({
    name: 'invoice-app',
    version: 'test',
    config: testConfig(),
    logger: createLogger({ name: 'invoice-app', level: 'silent' }),
  });
  const nothingToPay: PayReport = { paid: [], failed: [], inProgress: [] };
  const payer = { payAll: () => Promise.resolve(nothingToPay) } as unknown as Payer;
  registerRoutes(service.app, { invoices: {} as Invoices, payer });
  const sibling: ServicePlugin = (app, _options, done) => {
    app.post('/sibling', { schema: { body: Type.Object({ a: Type.String() }) } }, (request) => request.body);
    done();
  };
  await service.app.register(sibling);
  await service.app.ready();
});
afterAll(() => service.app.close());

const post = (url: string, contentType: string, payload: string) =>
  service.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });

describe('the pay route body parser is encapsulated in invoice-app routes plugin', () => {
  it('the pay route reads and ignores any body under any content type', async () => {
    for (const [type, body] of [
      ['text/plain', 'hello'],
      ['application/json', '{"not": "read"'],
      ['application/x-www-form-urlencoded', 'a=1'],
    ] as const) {
      expect((await post('/invoices/pay', type, body)).statusCode).toBe(200);
    }
  });

  it("another plugin's route keeps Fastify's parsers: JSON parsed, a form refused with 415", async () => {
    const json = await post('/sibling', 'application/json', '{"a":"x"}');
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual({ a: 'x' });
    const form = await post('/sibling', 'application/x-www-form-urlencoded', '{"a":"x"}');
    expect(form.statusCode).toBe(415);
    expect(form.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
