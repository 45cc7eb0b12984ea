// The routes are one encapsulated Fastify plugin: the any-content-type JSON parser (json.ts) applies
// to POST /payments/pay only; a sibling plugin on the same app keeps Fastify's parsers. The
// original's {"error": ...} member is a shared (not encapsulated) plugin: every problem carries it.
import { openDatabase, type Database } from '@sre-platform/database';
import { Type, type ServicePlugin } from '@sre-platform/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Payments } from '../src/adapters/payments.ts';
import { inProcessProvider } from './harness.ts';

let db: Database;
let p: ReturnType<typeof inProcessProvider>;

beforeAll(async () => {
  db = await openDatabase({});
  await new Payments(db).migrate();
  p = inProcessProvider(db);
  const sibling: ServicePlugin = (app, _options, done) => {
    app.post('/sibling', { schema: { body: Type.Object({ a: Type.String() }) } }, (request) => request.body);
    done();
  };
  await p.service.app.register(sibling);
  await p.service.app.ready();
});
afterAll(async () => {
  await p.service.app.close();
  await db.close();
});

const post = (url: string, contentType: string, payload: string) =>
  p.service.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });

describe("payment-provider's parser is encapsulated in its routes plugin", () => {
  it('the pay route reads a JSON body sent as text/plain', async () => {
    const res = await post('/payments/pay', 'text/plain', '{"id":"I1","value":12.15,"currency":"EUR"}');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'I1' });
  });

  it("another plugin's route refuses a form with 415, and still gets the shared error member", async () => {
    expect((await post('/sibling', 'application/json', '{"a":"x"}')).json()).toEqual({ a: 'x' });
    const form = await post('/sibling', 'application/x-www-form-urlencoded', '{"a":"x"}');
    expect(form.statusCode).toBe(415);
    const problem = form.json<{ detail: string; error: string }>();
    expect(problem.error).toBe(problem.detail);
  });
});
