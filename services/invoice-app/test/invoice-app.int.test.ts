// invoice-app and payment-provider as real processes on real PostgreSQL: the wire contract, two
// replicas paying at once, and the provider down, slow, refusing and failing.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { toolBin, useDatabase } from '@sre-platform/test-platform';
import { afterEach, describe, expect, it } from 'vitest';

const APP = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PROVIDER = fileURLToPath(new URL('../../payment-provider/src/main.ts', import.meta.url));

const db = useDatabase('invoices');
const processes: StartedProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
});

// A bound on start-up, not a speed target: the shared CI machine can be slow to start a process.
const READY_MS = 60_000;

async function startProvider(env: Record<string, string> = {}, port?: number) {
  const p = await startProcess(
    PROVIDER,
    { PORT: String(port ?? (await freePort())), DATABASE_URL: db.url, ...env },
    { readyTimeoutMs: READY_MS },
  );
  processes.push(p);
  return p;
}

async function startApp(providerUrl: string, env: Record<string, string> = {}) {
  const p = await startProcess(
    APP,
    {
      PORT: String(await freePort()),
      DATABASE_URL: db.url,
      PAYMENT_PROVIDER_URL: providerUrl,
      PAYMENT_PROVIDER_TIMEOUT_MS: '2000',
      PAYMENT_PROVIDER_BACKOFF_MS: '20',
      ...env,
    },
    { readyTimeoutMs: READY_MS },
  );
  processes.push(p);
  return p;
}

interface Wire {
  InvoiceId: string;
  Value: number;
  Currency: string;
  IsPaid: boolean;
}
interface Failed {
  InvoiceId: string;
  reason: string;
  retryable: boolean;
  detail: string;
}
interface PayAnswer {
  status: number;
  type: string;
  retryAfter: string | null;
  body: {
    paid: { InvoiceId: string }[];
    failed: Failed[];
    inProgress: { InvoiceId: string }[];
    type?: string;
    detail?: string;
  };
  text: string;
}

async function pay(app: StartedProcess, init: RequestInit = {}): Promise<PayAnswer> {
  const res = await fetch(`${app.url}/invoices/pay`, { method: 'POST', ...init });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    retryAfter: res.headers.get('retry-after'),
    body: JSON.parse(text) as PayAnswer['body'],
    text,
  };
}

async function invoices(app: StartedProcess): Promise<Wire[]> {
  return (await (await fetch(`${app.url}/invoices`)).json()) as Wire[];
}
const paidIds = async (app: StartedProcess) => (await invoices(app)).filter((i) => i.IsPaid).map((i) => i.InvoiceId);

/** Payments the provider recorded, per invoice. */
async function providerPayments(): Promise<Record<string, number>> {
  const rows = await db.sql<{ invoice_id: string; n: number }[]>`
    select invoice_id, count(*)::int as n from provider_payments group by invoice_id order by invoice_id`;
  return Object.fromEntries(rows.map((r) => [r.invoice_id, r.n]));
}

describe('the wire contract', () => {
  it('lists the seed invoices, pays them all once, and lists them paid', async () => {
    const provider = await startProvider();
    const app = await startApp(provider.url);
    const before = await fetch(`${app.url}/invoices`);
    expect(before.status).toBe(200);
    expect(before.headers.get('content-type')).toMatch(/^application\/json/);
    // The exact text matters: Value is a JSON number written from integer minor units.
    expect(await before.text()).toBe(
      '[{"InvoiceId":"I1","Value":12.15,"Currency":"EUR","IsPaid":false},' +
        '{"InvoiceId":"I2","Value":10.25,"Currency":"GBP","IsPaid":false},' +
        '{"InvoiceId":"I3","Value":66.13,"Currency":"DKK","IsPaid":false}]',
    );

    const first = await pay(app);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      paid: [
        { InvoiceId: 'I1', Value: 12.15, Currency: 'EUR' },
        { InvoiceId: 'I2', Value: 10.25, Currency: 'GBP' },
        { InvoiceId: 'I3', Value: 66.13, Currency: 'DKK' },
      ],
      failed: [],
      inProgress: [],
    });
    expect((await invoices(app)).every((i) => i.IsPaid)).toBe(true);

    // Nothing left to pay: 200 with empty lists, and the provider is not called again.
    const second = await pay(app, { headers: { 'content-type': 'application/json' } });
    expect(second.status).toBe(200);
    expect(second.body.paid).toEqual([]);
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
    // The provider received exact amounts: minor units, never a float.
    const amounts =
      await db.sql`select invoice_id, amount_minor::text as m, currency from provider_payments order by invoice_id`;
    expect(amounts).toEqual([
      { invoice_id: 'I1', m: '1215', currency: 'EUR' },
      { invoice_id: 'I2', m: '1025', currency: 'GBP' },
      { invoice_id: 'I3', m: '6613', currency: 'DKK' },
    ]);
    // Stored as bigint minor units with the currency's exponent.
    const [column] = await db.sql`select data_type from information_schema.columns
                                   where table_name = 'invoices' and column_name = 'amount_minor'`;
    expect(column).toEqual({ data_type: 'bigint' });

    expect(await app.stop('SIGTERM')).toBe(0);
    expect(await provider.stop('SIGTERM')).toBe(0);
  });

  it('seeds once: two replicas starting on one database insert I1..I3 once, and a deleted invoice stays deleted', async () => {
    const provider = await startProvider();
    const [a, b] = await Promise.all([startApp(provider.url), startApp(provider.url)]);
    expect((await invoices(a)).map((i) => i.InvoiceId)).toEqual(['I1', 'I2', 'I3']);
    await db.sql`delete from invoices where id = 'I3'`;
    await a.stop();
    const again = await startApp(provider.url);
    expect((await invoices(again)).map((i) => i.InvoiceId)).toEqual(['I1', 'I2']);
    expect((await invoices(b)).map((i) => i.InvoiceId)).toEqual(['I1', 'I2']);
  });

  it('refuses to start without PAYMENT_PROVIDER_URL, naming it on one line', async () => {
    await expect(
      startProcess(APP, { PORT: String(await freePort()), DATABASE_URL: db.url, PAYMENT_PROVIDER_URL: '' }),
    ).rejects.toThrow(/invalid configuration: PAYMENT_PROVIDER_URL is required/);
    await expect(
      startProcess(APP, {
        PORT: String(await freePort()),
        DATABASE_URL: db.url,
        PAYMENT_PROVIDER_URL: 'http://payment-provider:8082/payments/pay',
      }),
    ).rejects.toThrow(/PAYMENT_PROVIDER_URL is the base URL/);
  });

  it('exposes metrics that pass promtool check metrics', async () => {
    const provider = await startProvider();
    const app = await startApp(provider.url);
    await pay(app);
    for (const [service, names] of [
      [
        app,
        [
          'invoice_payments_total{result="paid"} 3',
          'invoices{status="paid"} 3',
          'invoice_provider_request_duration_seconds_bucket',
        ],
      ],
      [provider, ['payment_provider_payments_total{result="paid"} 3']],
    ] as const) {
      const text = await (await fetch(`${service.url}/metrics`)).text();
      for (const name of names) expect(text).toContain(name);
      const check = spawnSync(join(toolBin('prometheus'), 'promtool'), ['check', 'metrics'], {
        input: text,
        encoding: 'utf8',
      });
      expect(check.stdout + check.stderr).toBe('');
      expect(check.status).toBe(0);
    }
  });
});

describe('two replicas paying at once', () => {
  it('never pays an invoice twice: parallel pay calls on two processes, one database', async () => {
    const N = 300;
    await db.sql`create table if not exists invoices_placeholder (x int)`; // the database exists before the apps start
    // A provider that takes a little while to answer widens every race window.
    const provider = await startProvider({ FAULT_DELAY_MS: '5' });
    const a = await startApp(provider.url, { PAY_BATCH_SIZE: '10', PAY_CONCURRENCY: '8' });
    const b = await startApp(provider.url, { PAY_BATCH_SIZE: '10', PAY_CONCURRENCY: '8' });
    await db.sql`insert into invoices (id, amount_minor, currency, currency_exponent)
                 select 'X' || lpad(g::text, 4, '0'), 100 + g, 'EUR', 2 from generate_series(1, ${N}) as g`;
    const answers = await Promise.all([a, b, a, b, a, b].map((app) => pay(app)));
    for (const answer of answers) expect(answer.status, answer.text).toBe(200);
    const reported = answers.flatMap((r) => r.body.paid.map((p) => p.InvoiceId));
    // Each invoice reported paid by exactly one call, and paid exactly once at the provider.
    expect(reported).toHaveLength(N + 3);
    expect(new Set(reported).size).toBe(N + 3);
    const perInvoice = await providerPayments();
    expect(Object.keys(perInvoice)).toHaveLength(N + 3);
    expect(Object.values(perInvoice).every((n) => n === 1)).toBe(true);
    expect(await paidIds(b)).toHaveLength(N + 3);
    // Both replicas did some of the work (the claim is shared, not one replica's lock on everything).
    const byA = answers.filter((_, i) => i % 2 === 0).reduce((n, r) => n + r.body.paid.length, 0);
    expect(byA).toBeGreaterThan(0);
    expect(byA).toBeLessThan(N + 3);
  });
});

describe('when the provider fails', () => {
  it('is down: nothing is marked paid, the answer names each invoice, and a later call pays them once', async () => {
    const port = await freePort();
    const app = await startApp(`http://127.0.0.1:${port}`, { PAYMENT_PROVIDER_RETRIES: '1' });
    const down = await pay(app);
    expect(down.status).toBe(502);
    expect(down.type).toMatch(/^application\/problem\+json/);
    expect(down.body.type).toBe('urn:sre-platform:problem:invoice-payment-failed');
    expect(down.retryAfter).toBe('5');
    expect(down.body.paid).toEqual([]);
    expect(down.body.failed.map((f) => [f.InvoiceId, f.reason, f.retryable])).toEqual([
      ['I1', 'unreachable', true],
      ['I2', 'unreachable', true],
      ['I3', 'unreachable', true],
    ]);
    expect(down.body.detail).toMatch(/3 of 3 invoices could not be paid/);
    expect(await paidIds(app)).toEqual([]);

    await startProvider({}, port);
    const back = await pay(app);
    expect(back.status).toBe(200);
    expect(back.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I2', 'I3']);
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
  });

  it('names at most ten failures in the detail; the failed list has every one', async () => {
    const app = await startApp(`http://127.0.0.1:${await freePort()}`, { PAYMENT_PROVIDER_RETRIES: '0' });
    await db.sql`insert into invoices (id, amount_minor, currency, currency_exponent)
                 select 'Z' || lpad(g::text, 2, '0'), 100, 'EUR', 2 from generate_series(1, 12) as g`;
    const down = await pay(app);
    expect(down.status).toBe(502);
    expect(down.body.failed).toHaveLength(15);
    expect(down.body.detail).toMatch(
      /^15 of 15 invoices could not be paid: I1 unreachable, .*, and 5 more \(see failed\)$/,
    );
  });

  it('is down with a backlog: the call stops sending after a few refusals and reports every invoice in seconds', async () => {
    const port = await freePort();
    const app = await startApp(`http://127.0.0.1:${port}`, {
      PAY_STOP_AFTER_UNREACHABLE: '3',
      PAY_CONCURRENCY: '2',
      PAYMENT_PROVIDER_RETRIES: '3',
      PAYMENT_PROVIDER_BACKOFF_MS: '200',
    });
    await db.sql`insert into invoices (id, amount_minor, currency, currency_exponent)
                 select 'Y' || lpad(g::text, 3, '0'), 100, 'EUR', 2 from generate_series(1, 200) as g`;
    const down = await pay(app);
    expect(down.status).toBe(502);
    expect(down.body.failed).toHaveLength(203);
    expect(down.body.failed.every((f) => f.reason === 'unreachable' && f.retryable)).toBe(true);
    // Every unreachable detail starts "not sent"; these were not even tried once the breaker opened.
    const notSent = down.body.failed.filter((f) =>
      f.detail.startsWith('not sent: the payment provider was unreachable'),
    );
    // At most the invoices in flight when the breaker opened were tried (2 workers, 3 in a row).
    expect(notSent.length).toBeGreaterThanOrEqual(203 - 5);
    expect(await paidIds(app)).toEqual([]);

    await startProvider({}, port);
    const back = await pay(app);
    expect(back.status).toBe(200);
    expect(back.body.paid).toHaveLength(203);
  });

  it('is slow: the invoice it does not answer for in time stays unpaid, the rest are paid, and the re-send does not pay twice', async () => {
    // I3 is recorded at once but answered 5 s later; the app waits 500 ms.
    const slow = await startProvider({ FAULT_IDS: 'I3', FAULT_DELAY_MS: '5000' });
    const app = await startApp(slow.url, { PAYMENT_PROVIDER_TIMEOUT_MS: '500', PAYMENT_PROVIDER_RETRIES: '0' });
    const answer = await pay(app);
    expect(answer.status).toBe(502);
    expect(answer.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I2']);
    expect(answer.body.failed).toMatchObject([{ InvoiceId: 'I3', reason: 'timeout', retryable: true }]);
    expect(await paidIds(app)).toEqual(['I1', 'I2']);
    // The provider did pay I3: only the answer was lost. The invoice keeps its attempt key.
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
    const [i3] = await db.sql`select status, attempt_key is not null as keyed from invoices where id = 'I3'`;
    expect(i3).toEqual({ status: 'paying', keyed: true });

    await slow.stop('SIGKILL');
    const healthy = await startProvider();
    const app2 = await startApp(healthy.url);
    const retry = await pay(app2);
    expect(retry.status).toBe(200);
    expect(retry.body.paid.map((p) => p.InvoiceId)).toEqual(['I3']);
    // Same key, so the provider answered its first outcome: still one payment for I3.
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
    expect(await (await fetch(`${healthy.url}/metrics`)).text()).toContain(
      'payment_provider_payments_total{result="replayed"} 1',
    );
  });

  it('answers 400 for one invoice: that one stays unpaid with the reason, the rest are paid', async () => {
    const refusing = await startProvider({ FAULT_IDS: 'I2', FAULT_STATUS: '400' });
    const app = await startApp(refusing.url);
    const answer = await pay(app);
    expect(answer.status).toBe(502);
    expect(answer.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I3']);
    expect(answer.body.failed).toHaveLength(1);
    expect(answer.body.failed[0]).toMatchObject({ InvoiceId: 'I2', reason: 'rejected', retryable: false });
    // Nothing here gets better by waiting: no Retry-After.
    expect(answer.retryAfter).toBeNull();
    expect(answer.body.failed[0]!.detail).toMatch(/refused it: 400: injected fault/);
    expect(await paidIds(app)).toEqual(['I1', 'I3']);
    expect(await providerPayments()).toEqual({ I1: 1, I3: 1 });
    // A refusal proves nothing was paid under that key: the key is dropped, the reason kept.
    const [i2] = await db.sql`select status, attempt_key, last_error from invoices where id = 'I2'`;
    expect(i2).toMatchObject({ status: 'unpaid', attempt_key: null });
    expect(String(i2!['last_error'])).toMatch(/rejected 400/);
  });

  it('answers 503: retried with the same key up to the budget, then reported retryable', async () => {
    const failing = await startProvider({ FAULT_IDS: 'I1', FAULT_STATUS: '503' });
    const app = await startApp(failing.url, { PAYMENT_PROVIDER_RETRIES: '2' });
    const answer = await pay(app);
    expect(answer.status).toBe(502);
    expect(answer.body.failed).toMatchObject([{ InvoiceId: 'I1', reason: 'provider_error', retryable: true }]);
    expect(answer.body.failed[0]!.detail).toMatch(/after 3 attempts/);
    expect(await (await fetch(`${failing.url}/metrics`)).text()).toContain(
      'payment_provider_payments_total{result="fault"} 3',
    );
    expect(await paidIds(app)).toEqual(['I2', 'I3']);
  });
});

describe('recovering from a crash mid-payment', () => {
  it('SIGKILLed while the provider is answering: the next replica re-sends with the same keys, nothing is paid twice', async () => {
    // Every payment is recorded at once and answered 3 s later: the window in which the app dies.
    const slow = await startProvider({ FAULT_DELAY_MS: '3000' });
    const app = await startApp(slow.url, { PAYMENT_PROVIDER_TIMEOUT_MS: '10000' });
    const inFlight = fetch(`${app.url}/invoices/pay`, { method: 'POST' }).catch(() => 'cut off');
    for (let i = 0; Object.keys(await providerPayments()).length < 3; i++) {
      if (i > 400) throw new Error('the provider never recorded the three payments');
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await app.stop('SIGKILL')).toBe('SIGKILL');
    expect(await inFlight).toBe('cut off');
    const stuck = await db.sql`select id from invoices where status = 'paying' and attempt_key is not null order by id`;
    expect(stuck.map((r) => String(r['id']))).toEqual(['I1', 'I2', 'I3']);
    // Time passes: the dead replica's leases run out (here by moving them into the past).
    await db.sql`update invoices set lease_until = now() - interval '1 second' where status = 'paying'`;

    await slow.stop('SIGKILL');
    const healthy = await startProvider();
    const next = await startApp(healthy.url);
    const answer = await pay(next);
    expect(answer.status).toBe(200);
    expect(answer.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I2', 'I3']);
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
    expect(await (await fetch(`${healthy.url}/metrics`)).text()).toContain(
      'payment_provider_payments_total{result="replayed"} 3',
    );
  });

  it('loses the database mid-run: answers 500, stops claiming, and the next call settles what the provider paid', async () => {
    const slow = await startProvider({ FAULT_DELAY_MS: '1500' });
    const app = await startApp(slow.url);
    const inFlight = pay(app);
    for (let i = 0; Object.keys(await providerPayments()).length < 3; i++) {
      if (i > 400) throw new Error('the provider never recorded the three payments');
      await new Promise((r) => setTimeout(r, 25));
    }
    // The table vanishes under the app (a real database error, not a mock), then comes back.
    await db.sql`alter table invoices rename to invoices_away`;
    const answer = await inFlight;
    expect(answer.status).toBe(500);
    expect(answer.type).toMatch(/^application\/problem\+json/);
    await db.sql`alter table invoices_away rename to invoices`;
    const stuck = await db.sql`select id from invoices where status = 'paying' order by id`;
    expect(stuck.map((r) => String(r['id']))).toEqual(['I1', 'I2', 'I3']);
    await db.sql`update invoices set lease_until = now() - interval '1 second' where status = 'paying'`;

    await slow.stop('SIGKILL');
    const healthy = await startProvider();
    const next = await startApp(healthy.url);
    const retry = await pay(next);
    expect(retry.status).toBe(200);
    expect(retry.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I2', 'I3']);
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
  });

  it('re-sends an invoice left in paying (expired lease) with its key; the provider replays, nothing is paid twice', async () => {
    const provider = await startProvider();
    const app = await startApp(provider.url);
    // As if a replica claimed I1, the provider paid it, and the replica died before recording it.
    const key = '6c0f3b9e-8a59-4e0e-9f7c-0d8d2f3b1a11';
    const paid = await fetch(`${provider.url}/payments/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: '{"id":"I1","value":12.15,"currency":"EUR"}',
    });
    expect(paid.status).toBe(200);
    await db.sql`update invoices set status = 'paying', attempt_key = ${key}, lease_until = now() - interval '1 second'
                  where id = 'I1'`;
    const answer = await pay(app);
    expect(answer.status).toBe(200);
    expect(answer.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I2', 'I3']);
    expect(await providerPayments()).toEqual({ I1: 1, I2: 1, I3: 1 });
  });

  it('leaves an invoice another replica is paying (live lease) alone, and says so', async () => {
    const provider = await startProvider();
    const app = await startApp(provider.url);
    await db.sql`update invoices set status = 'paying', attempt_key = gen_random_uuid(), lease_until = now() + interval '1 hour'
                  where id = 'I2'`;
    const answer = await pay(app);
    expect(answer.status).toBe(200);
    expect(answer.body.paid.map((p) => p.InvoiceId)).toEqual(['I1', 'I3']);
    expect(answer.body.inProgress.map((p) => p.InvoiceId)).toEqual(['I2']);
    expect(await providerPayments()).toEqual({ I1: 1, I3: 1 });
  });
});
