// The provider adapter's classification, against a peer that misbehaves in ways the real provider
// never does on purpose (wrong ids, resets, silence), plus the payer's key rule built on it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { openDatabase, type Database } from '@sre-platform/database';
import { freePort } from '@sre-platform/service-kit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { httpProvider, type ProviderOutcome } from '../src/adapters/provider.ts';
import { jsonDecimal } from '@sre-platform/currency';
import { Invoices } from '../src/adapters/invoices.ts';
import { Payer } from '../src/pay/payer.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let server: Server;
let handler: Handler;
let baseUrl: URL;
const seen: { headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  baseUrl = new URL(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/payments/pay`);
});
afterAll(() => new Promise((r) => server.close(r)));
afterEach(() => {
  seen.length = 0;
});

const order = { invoiceId: 'I1', value: jsonDecimal(1215n, 2), currency: 'EUR' };
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  ((_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }) satisfies Handler;

async function call(h: Handler, timeoutMs = 2000): Promise<ProviderOutcome> {
  handler = h;
  const client = httpProvider({ payUrl: baseUrl, timeoutMs, maxSockets: 4 });
  try {
    return await client.pay(order, 'key-123');
  } finally {
    await client.close();
  }
}

describe('provider client', () => {
  it('sends the exact JSON body and the Idempotency-Key; 200 {"id"} is paid', async () => {
    expect(await call(json(200, { id: 'I1' }))).toEqual({ kind: 'paid' });
    expect(seen[0]!.body).toBe('{"id":"I1","value":12.15,"currency":"EUR"}');
    expect(seen[0]!.headers['idempotency-key']).toBe('key-123');
    expect(seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('a 2xx that does not confirm our id is not a payment', async () => {
    expect(await call(json(200, { id: 'I2' }))).toMatchObject({ kind: 'unknown', reason: 'protocol' });
    expect(await call((_q, _b, res) => res.writeHead(200).end('OK'))).toMatchObject({
      kind: 'unknown',
      reason: 'protocol',
    });
    expect(await call((_q, _b, res) => res.writeHead(204).end())).toMatchObject({
      kind: 'unknown',
      reason: 'protocol',
    });
  });

  it('4xx about the request is a refusal, with the provider words', async () => {
    expect(await call(json(400, { detail: 'body /value must be > 0' }))).toEqual({
      kind: 'rejected',
      status: 400,
      detail: '400: body /value must be > 0',
    });
    expect(await call(json(404, { title: 'Not Found' }))).toMatchObject({ kind: 'rejected', status: 404 });
    // The original Go provider answered plain text.
    expect(await call((_q, _b, res) => res.writeHead(400).end('Bad request\n'))).toMatchObject({
      kind: 'rejected',
      detail: '400: Bad request',
    });
  });

  it('5xx, 429 and 409 are unknown outcomes to retry with the same key; Retry-After is read', async () => {
    expect(await call(json(503, { detail: 'down' }))).toMatchObject({ kind: 'unknown', reason: 'provider_error' });
    expect(await call(json(429, {}, { 'retry-after': '2' }))).toMatchObject({
      kind: 'unknown',
      reason: 'provider_error',
      retryAfterMs: 2000,
    });
    expect(await call(json(409, {}))).toMatchObject({ kind: 'unknown', reason: 'provider_error' });
  });

  it('422 (key used for another request) keeps the key', async () => {
    expect(await call(json(422, { detail: 'reused' }))).toMatchObject({ kind: 'unknown', reason: 'key_conflict' });
  });

  it('silence is a timeout within the bound; a reset connection is a network error', async () => {
    const t0 = Date.now();
    expect(await call(() => undefined, 200)).toMatchObject({ kind: 'unknown', reason: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await call((req) => req.socket.destroy())).toMatchObject({ kind: 'unknown', reason: 'network' });
  });

  it('nobody listening is unreachable', async () => {
    const client = httpProvider({
      payUrl: new URL(`http://127.0.0.1:${await freePort()}/payments/pay`),
      timeoutMs: 2000,
      maxSockets: 1,
    });
    expect(await client.pay(order, 'k')).toMatchObject({ kind: 'unknown', reason: 'unreachable' });
    await client.close();
  });
});

describe('payer', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({});
  });
  afterAll(() => db.close());

  it('keeps the key when a refusal follows an unanswered attempt: that attempt may have paid', async () => {
    const invoices = new Invoices(db);
    await invoices.migrate();
    let calls = 0;
    handler = (_req, body, res) => {
      const id = (JSON.parse(body) as { id: string }).id;
      if (id !== 'I1') return json(200, { id })(_req, body, res);
      calls += 1;
      return calls === 1
        ? json(503, { detail: 'try later' })(_req, body, res)
        : json(400, { detail: 'no' })(_req, body, res);
    };
    const provider = httpProvider({ payUrl: baseUrl, timeoutMs: 2000, maxSockets: 4 });
    const payer = new Payer(invoices, provider, {
      stopAfterUnreachable: 5,
      concurrency: 2,
      batchSize: 2,
      leaseMs: 60_000,
      retries: 1,
      backoffMs: 1,
    });
    const report = await payer.payAll();
    await provider.close();
    expect(report.paid.map((i) => i.id)).toEqual(['I2', 'I3']);
    expect(report.failed).toMatchObject([{ invoice: { id: 'I1' }, reason: 'rejected', retryable: false }]);
    const keys = seen.filter((s) => s.body.includes('"I1"')).map((s) => s.headers['idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
    const [i1] = await db.query<{ status: string; k: string | null }>(
      "select status, attempt_key::text as k from invoices where id = 'I1'",
    );
    expect(i1).toEqual({ status: 'unpaid', k: keys[0] });
  });
});
