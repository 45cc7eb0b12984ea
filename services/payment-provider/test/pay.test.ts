// POST /payments/pay in process, on embedded PGlite: the original wire contract, every 400, and
// the Idempotency-Key semantics.
import { openDatabase, type Database } from '@sre-platform/database';
import { Type, type Service, type ServicePlugin } from '@sre-platform/service-kit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { IDEMPOTENCY_CONFLICT, type Faults } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { Payments } from '../src/adapters/payments.ts';
import { inProcessProvider, NO_FAULTS } from './harness.ts';

// One embedded database per file (starting PGlite takes a second or two), emptied before each test.
let db: Database;
const services: Service[] = [];
beforeAll(async () => {
  db = await openDatabase({});
  await new Payments(db).migrate();
});
afterAll(() => db.close());
beforeEach(async () => {
  await db.query('truncate provider_payments');
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.app.close()));
});

async function provider(faults: Faults = NO_FAULTS) {
  const p = inProcessProvider(db, faults);
  services.push(p.service);
  return p;
}

const body = (o: Record<string, unknown>) => JSON.stringify(o);
const I1 = { id: 'I1', value: 12.15, currency: 'EUR' };

describe('the wire contract', () => {
  it('pays {"id","value","currency"} and answers 200 {"id"}', async () => {
    const p = await provider();
    const res = await p.pay(body(I1));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ id: 'I1' });
    const [row] = await p.db.query('select invoice_id, amount_minor::text as m, currency from provider_payments');
    expect(row).toEqual({ invoice_id: 'I1', m: '1215', currency: 'EUR' });
  });

  it('accepts a charset parameter on the content type', async () => {
    const p = await provider();
    const res = await p.pay(body(I1), { 'content-type': 'application/json; charset=utf-8' });
    expect(res.statusCode).toBe(200);
  });

  it('ignores unknown properties, as the original did', async () => {
    const p = await provider();
    const res = await p.pay(body({ ...I1, note: 'extra' }));
    expect(res.statusCode).toBe(200);
  });

  it('without an Idempotency-Key every request is a new payment (the original behaviour)', async () => {
    const p = await provider();
    await p.pay(body(I1));
    await p.pay(body(I1));
    expect(await p.count()).toBe(2);
  });
});

describe('400 for every bad request, as problem+json, with nothing paid', () => {
  const cases: [string, string | undefined, Record<string, string>, RegExp][] = [
    ['no body at all', undefined, {}, /request body is required/],
    ['an empty JSON body', '', { 'content-type': 'application/json' }, /request body is required/],
    ['malformed JSON', '{"id": "I1",', { 'content-type': 'application/json' }, /not valid JSON/],
    ['a JSON array', '[1]', { 'content-type': 'application/json' }, /must be object/],
    ['a JSON string', '"I1"', { 'content-type': 'application/json' }, /must be object/],
    ['JSON null', 'null', { 'content-type': 'application/json' }, /request body is required/],
    ['a missing id', body({ value: 1, currency: 'EUR' }), {}, /required properties id/],
    ['an empty id', body({ ...I1, id: '' }), {}, /\/id/],
    ['a numeric id', body({ ...I1, id: 1 }), {}, /\/id must be string/],
    ['a missing value', body({ id: 'I1', currency: 'EUR' }), {}, /required properties value/],
    ['a zero value', body({ ...I1, value: 0 }), {}, /\/value must be > 0/],
    ['a negative value', body({ ...I1, value: -1 }), {}, /\/value must be > 0/],
    ['a string value', body({ ...I1, value: '12.15' }), {}, /\/value must be number/],
    ['more decimals than the currency has', body({ ...I1, value: 12.151 }), {}, /more decimal places than EUR/],
    ['a value that rounds to zero minor units', '{"id":"I1","value":0.001,"currency":"EUR"}', {}, /more decimal/],
    ['a value beyond what the ledger can hold', '{"id":"I1","value":1e20,"currency":"EUR"}', {}, /out of range/],
    ['a missing currency', body({ id: 'I1', value: 1 }), {}, /required properties currency/],
    ['an empty currency', body({ ...I1, currency: '' }), {}, /\/currency/],
    ['an unknown currency', body({ ...I1, currency: 'XYZ' }), {}, /ISO 4217/],
    [
      'a prototype-poisoning key',
      '{"id":"I1","value":1,"currency":"EUR","__proto__":{"x":1}}',
      {},
      /forbidden property/,
    ],
    ['a malformed Idempotency-Key', body(I1), { 'idempotency-key': 'has spaces in it' }, /idempotency-key/],
  ];
  for (const [name, payload, headers, detail] of cases) {
    it(name, async () => {
      const p = await provider();
      const h = payload === undefined ? headers : { 'content-type': 'application/json', ...headers };
      const res = await p.pay(payload, h);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json<{ status: number; detail: string }>();
      expect(problem.status).toBe(400);
      expect(problem.detail).toMatch(detail);
      expect(res.json<{ error: string }>().error).toBe(problem.detail);
      expect(await p.count()).toBe(0);
    });
  }

  it('a form body gets a 400 that says what to send', async () => {
    const p = await provider();
    const res = await p.pay('id=I1&value=12.15&currency=EUR', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json<{ detail: string }>().detail).toMatch(/not valid JSON.*send a JSON object such as \{"id":"I1"/);
    expect(await p.count()).toBe(0);
  });
});

describe('text fields that reach the ledger', () => {
  // PostgreSQL refuses U+0000 in text: this body used to reach the INSERT and answer 500.
  const cases: [string, string, string][] = [
    ['NUL in the id', '{"id":"a\\u0000b","value":1,"currency":"EUR"}', '/id'],
    ['a newline in the id', '{"id":"I1\\n","value":1,"currency":"EUR"}', '/id'],
    ['a C1 control in the id', '{"id":"I\\u00851","value":1,"currency":"EUR"}', '/id'],
    ['an unpaired surrogate in the id', '{"id":"I\\ud8001","value":1,"currency":"EUR"}', '/id'],
    ['NUL in the currency', '{"id":"I1","value":1,"currency":"EU\\u0000"}', '/currency'],
  ];
  for (const [name, payload, field] of cases) {
    it(`${name}: 400 naming the field, nothing recorded`, async () => {
      const p = await provider();
      const res = await p.pay(payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        detail: `body ${field} must not contain control characters (U+0000-U+001F, U+007F-U+009F) or unpaired surrogates`,
        errors: [{ location: 'body', path: field }],
      });
      expect(await p.count()).toBe(0);
    });
  }

  it('any other Unicode is paid and stored exactly as sent', async () => {
    const p = await provider();
    const id = 'Zoë-日本-😀';
    const res = await p.pay(body({ ...I1, id }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id });
    const [row] = await p.db.query<{ invoice_id: string }>('select invoice_id from provider_payments');
    expect(row!.invoice_id).toBe(id);
  });
});

describe("the original's error member and content types", () => {
  it('every error body carries {"error": message}, as the Go original answered, beside the problem members', async () => {
    const p = await provider({ ...NO_FAULTS, FAULT_STATUS: 503, faultIds: new Set(['I9']) });
    await p.pay(body(I1), { 'content-type': 'application/json', 'idempotency-key': 'k-e' });
    const answers = [
      await p.pay(body({ id: 'I1', currency: 'EUR' })),
      await p.pay('{"id":', { 'content-type': 'application/json' }),
      await p.pay(undefined, {}),
      await p.pay(body({ ...I1, value: 1 }), { 'content-type': 'application/json', 'idempotency-key': 'k-e' }),
      await p.pay(body({ ...I1, id: 'I9' })),
      await p.service.app.inject({ method: 'GET', url: '/payments/pay' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([400, 400, 400, 422, 503, 404]);
    for (const a of answers) {
      const problem = a.json<{ detail: string; error: unknown }>();
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(typeof problem.error).toBe('string');
      expect(problem.error).toBe(problem.detail);
    }
  });

  it('a JSON body without a JSON content type is paid, as the original did (what curl -d sends)', async () => {
    const p = await provider();
    for (const headers of [
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'text/plain' },
      {} as Record<string, string>,
    ]) {
      const res = await p.pay(body(I1), headers);
      expect(res.statusCode, JSON.stringify(headers)).toBe(200);
      expect(res.json()).toEqual({ id: 'I1' });
    }
    // The amount is still read from the digits sent.
    const [row] = await p.db.query<{ m: string }>('select amount_minor::text as m from provider_payments limit 1');
    expect(row!.m).toBe('1215');
    expect(await p.count()).toBe(3);
  });

  it('deep nesting and an out-of-range number are 400s with their reason', async () => {
    const p = await provider();
    const deep = `{"id":"I1","value":1,"currency":"EUR","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const nested = await p.pay(deep);
    expect(nested.statusCode).toBe(400);
    expect(nested.json<{ detail: string }>().detail).toMatch(/nests arrays or objects more than 64 deep/);
    const huge = await p.pay('{"id":"I1","value":1e400,"currency":"EUR"}');
    expect(huge.statusCode).toBe(400);
    expect(huge.json<{ detail: string }>().detail).toBe('value 1e400 is out of range');
    // Only the top-level value is the amount: an ignored extra may hold any number.
    expect((await p.pay(body({ ...I1, note: { value: 'x' } }).replace('"x"', '1e400'))).statusCode).toBe(200);
    // Brackets inside strings are not nesting.
    expect((await p.pay(body({ ...I1, note: '['.repeat(1000) }))).statusCode).toBe(200);
    expect(await p.count()).toBe(2);
  });
});

describe('the routes plugin is encapsulated', () => {
  it("its any-content-type JSON parser does not reach another plugin's routes, the shared error member does", async () => {
    const p = await provider();
    const sibling: ServicePlugin = (app, _options, done) => {
      app.post('/sibling', { schema: { body: Type.Object({ a: Type.String() }) } }, (request) => request.body);
      done();
    };
    await p.service.app.register(sibling);
    const post = (url: string, contentType: string, payload: string) =>
      p.service.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
    // The pay route reads JSON under any content type; the sibling keeps Fastify's parsers.
    expect((await post('/payments/pay', 'text/plain', JSON.stringify(I1))).json()).toEqual({ id: 'I1' });
    expect((await post('/sibling', 'application/json', '{"a":"x"}')).json()).toEqual({ a: 'x' });
    const form = await post('/sibling', 'application/x-www-form-urlencoded', '{"a":"x"}');
    expect(form.statusCode).toBe(415);
    const problem = form.json<{ detail: string; error: string }>();
    expect(problem.error).toBe(problem.detail);
  });
});

describe('Idempotency-Key', () => {
  it('same key and same request: the first answer again, marked as a replay, paid once', async () => {
    const p = await provider();
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'key-1' };
    const first = await p.pay(body(I1), headers);
    // The same amount spelled differently is the same request.
    const again = await p.pay('{"currency":"EUR","id":"I1","value":12.150}', headers);
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id: 'I1' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await p.count()).toBe(1);
  });

  it('same key and a different request: 422, and the first payment stands alone', async () => {
    const p = await provider();
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'key-2' };
    await p.pay(body(I1), headers);
    for (const changed of [
      { ...I1, value: 12.16 },
      { ...I1, currency: 'DKK' },
      { ...I1, id: 'I2' },
    ]) {
      const res = await p.pay(body(changed), headers);
      expect(res.statusCode).toBe(422);
      expect(res.json<{ type: string }>().type).toBe(IDEMPOTENCY_CONFLICT);
    }
    expect(await p.count()).toBe(1);
  });

  it('many requests with one key at the same moment pay once', async () => {
    const p = await provider();
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'key-3' };
    const answers = await Promise.all(Array.from({ length: 10 }, () => p.pay(body(I1), headers)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(9);
    expect(await p.count()).toBe(1);
  });
});

describe('fault injection', () => {
  it('FAULT_STATUS answers that status for the FAULT_IDS only, and pays nothing for them', async () => {
    const p = await provider({ ...NO_FAULTS, FAULT_STATUS: 503, faultIds: new Set(['I2']) });
    expect((await p.pay(body({ ...I1, id: 'I2' }))).statusCode).toBe(503);
    expect((await p.pay(body(I1))).statusCode).toBe(200);
    expect(await p.count()).toBe(1);
    const metrics = await p.service.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/payment_provider_payments_total\{result="fault"\} 1/);
    expect(metrics.body).toMatch(/payment_provider_payments_total\{result="paid"\} 1/);
  });

  it('FAULT_DELAY_MS answers late, after the payment is recorded', async () => {
    const p = await provider({ ...NO_FAULTS, FAULT_DELAY_MS: 300 });
    const pending = p.pay(body(I1));
    const t0 = Date.now();
    while ((await p.count()) === 0) await new Promise((r) => setTimeout(r, 10));
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});

describe('configuration', () => {
  it('reads the fault knobs and refuses an empty FAULT_IDS list', () => {
    const c = readConfig({ FAULT_IDS: 'I1, I3', FAULT_STATUS: '400', FAULT_RATE: '0.5' });
    expect([...c.faultIds!]).toEqual(['I1', 'I3']);
    expect(c.PORT).toBe(8082);
    expect(() => readConfig({ FAULT_IDS: ' , ' })).toThrow(/FAULT_IDS/);
    expect(() => readConfig({ FAULT_STATUS: '200' })).toThrow(/FAULT_STATUS/);
    expect(() => readConfig({ FAULT_RATE: '2' })).toThrow(/FAULT_RATE/);
  });
});
