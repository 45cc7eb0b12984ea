// A property over POST /invoices/pay, invoice-app's one write endpoint, on the real app and PGlite:
// whatever the client sends (it takes no body: any body and content type is read and ignored) and
// whatever a provider answers (any status, any text in its body: NUL, other controls, unpaired
// surrogates), the answer is 200 or the designed 502 problem, never a 500; and every text that
// reaches the invoice table is plain text.
import { createServer, type Server } from 'node:http';

import { openDatabase, type Database } from '@sre-platform/database';
import { createLogger, createService, isPlainText, type Service } from '@sre-platform/service-kit';
import { captureLogs, testConfig } from '@sre-platform/service-kit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { httpProvider, type PaymentProvider } from '../src/adapters/provider.ts';
import { registerRoutes } from '../src/app.ts';
import { createInvoiceMetrics } from '../src/metrics.ts';
import { Invoices } from '../src/adapters/invoices.ts';
import { Payer } from '../src/pay/payer.ts';

interface Answer {
  status: number;
  contentType: string;
  body: string;
}
let answer: Answer;
let db: Database;
let peer: Server;
let provider: PaymentProvider;
let service: Service;

beforeAll(async () => {
  // The provider: answers whatever the current run says.
  peer = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': answer.contentType }).end(answer.body);
    });
  });
  await new Promise<void>((done) => peer.listen(0, '127.0.0.1', done));
  const address = peer.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  db = await openDatabase({});
  const invoices = new Invoices(db);
  await invoices.migrate();
  const logs = captureLogs();
  service = createService({
    name: 'invoice-app',
    version: 'test',
    config: testConfig(),
    logger: createLogger({ name: 'invoice-app', level: 'info', destination: logs.destination }),
  });
  provider = httpProvider({ payUrl: new URL(`http://127.0.0.1:${port}/payments/pay`), timeoutMs: 5000, maxSockets: 4 });
  const payer = new Payer(
    invoices,
    provider,
    { stopAfterUnreachable: 5, concurrency: 3, batchSize: 3, leaseMs: 60_000, retries: 0, backoffMs: 1 },
    createInvoiceMetrics(service.metrics.registry, invoices),
  );
  registerRoutes(service.app, { invoices, payer });
});
afterAll(async () => {
  await service.app.close();
  await provider.close();
  await new Promise((done) => peer.close(done));
  await db.close();
});

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const nasty = fc.constantFrom('\u0000', '\ud800', '\udfff', '\u0085', '\n', '😀', 'x');
const text = fc.oneof(fc.string({ unit: codeUnit, maxLength: 40 }), fc.string({ unit: nasty, maxLength: 10 }));
// JSON.stringify keeps NUL and unpaired surrogates as escapes, which the client's JSON.parse restores.
const providerBody = fc.oneof(
  text.map((detail) => JSON.stringify({ detail })),
  text.map((error) => JSON.stringify({ error })),
  text.map((title) => JSON.stringify({ title, status: 400 })),
  text.map((id) => JSON.stringify({ id })),
  fc.constant('{"id":"I1"}'),
  text,
);
const answers = fc.record({
  status: fc.oneof(
    fc.constantFrom(200, 201, 204, 400, 404, 409, 422, 429, 500, 503),
    fc.integer({ min: 200, max: 599 }),
  ),
  contentType: fc.constantFrom('application/json', 'application/problem+json', 'text/plain; charset=utf-8'),
  body: providerBody,
});
const requestBody = fc.option(
  fc.oneof(
    fc.string({ unit: codeUnit, maxLength: 64 }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.nat({ max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  ),
  { nil: undefined },
);
const requestType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/x-www-form-urlencoded',
    'text/plain',
    'multipart/form-data; boundary=x',
  ),
  { nil: undefined },
);

describe('POST /invoices/pay, any request and any provider answer', () => {
  it('answers 200 or the 502 problem, never a 500, and stores only plain text', async () => {
    await fc.assert(
      fc.asyncProperty(answers, requestBody, requestType, async (given, payload, type) => {
        answer = given;
        await db.query(
          `update invoices set status = 'unpaid', attempt_key = null, lease_until = null, paid_at = null, last_error = null`,
        );
        const res = await service.app.inject({
          method: 'POST',
          url: '/invoices/pay',
          headers: type === undefined ? {} : { 'content-type': type },
          ...(payload === undefined ? {} : { payload }),
        });
        expect([200, 502], res.body).toContain(res.statusCode);
        if (res.statusCode === 502) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        const stored = await db.query<{ last_error: string | null }>('select last_error from invoices');
        for (const { last_error } of stored) if (last_error !== null) expect(isPlainText(last_error)).toBe(true);
      }),
      { numRuns: 200 },
    );
  }, 300_000);

  it('a provider refusal quoting NUL is recorded, not a 500', async () => {
    answer = { status: 400, contentType: 'application/json', body: '{"detail":"bad\\u0000id \\ud800"}' };
    await db.query(`update invoices set status = 'unpaid', attempt_key = null, lease_until = null, paid_at = null`);
    const res = await service.app.inject({ method: 'POST', url: '/invoices/pay' });
    expect(res.statusCode).toBe(502);
    expect(res.json<{ failed: { reason: string }[] }>().failed.map((f) => f.reason)).toEqual([
      'rejected',
      'rejected',
      'rejected',
    ]);
    const [row] = await db.query<{ last_error: string }>("select last_error from invoices where id = 'I1'");
    expect(row!.last_error).toBe('rejected 400: bad\ufffdid \ufffd');
  });
});
