// Routes: the original's wire contract. GET /invoices lists every invoice; POST /invoices/pay pays
// every unpaid one and says what happened to each: 200 when all are paid, else a 502 problem.
import { HttpProblem, type ServiceApp, type ServicePlugin } from '@sre-platform/service-kit';

import { jsonDecimal } from '@sre-platform/currency';
import type { Invoice, Invoices } from './adapters/invoices.ts';
import type { Failure, Payer, PayReport } from './pay/payer.ts';

export const PAYMENT_FAILED = 'urn:sre-platform:problem:invoice-payment-failed';
// The detail names this many failures; the `failed` list has them all.
const NAMED_IN_DETAIL = 10;

/** The original's JSON shape; Value is an exact decimal number (12.15). */
const wire = (i: Invoice) => ({
  InvoiceId: i.id,
  Value: jsonDecimal(i.amountMinor, i.exponent),
  Currency: i.currency,
  IsPaid: i.status === 'paid',
});
const brief = (i: Invoice) => ({
  InvoiceId: i.id,
  Value: jsonDecimal(i.amountMinor, i.exponent),
  Currency: i.currency,
});
const failure = (f: Failure) => ({ ...brief(f.invoice), reason: f.reason, retryable: f.retryable, detail: f.detail });

interface RouteDeps {
  invoices: Invoices;
  payer: Payer;
}

function routes(app: ServiceApp, deps: RouteDeps): void {
  const { invoices, payer } = deps;

  // The pay route takes no body: whatever a client sends (none, {}, a form) is read and ignored,
  // so that `curl -X POST`, `-d ''` and `-H 'content-type: application/json'` all work alike.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => {
    done(null, undefined);
  });

  app.get('/invoices', async () => (await invoices.list()).map(wire));

  app.post('/invoices/pay', async (request, reply) => {
    const report: PayReport = await payer.payAll();
    const summary = {
      paid: report.paid.map(brief),
      failed: report.failed.map(failure),
      inProgress: report.inProgress.map(brief),
    };
    request.log.info(
      { paid: report.paid.length, failed: report.failed.length, inProgress: report.inProgress.length },
      'pay run',
    );
    if (report.failed.length === 0) return reply.code(200).send(summary);
    for (const f of report.failed.slice(0, 100)) {
      request.log.warn({ invoiceId: f.invoice.id, reason: f.reason, detail: f.detail }, 'invoice not paid');
    }
    const n = report.failed.length;
    const total = n + report.paid.length;
    const named = report.failed
      .slice(0, NAMED_IN_DETAIL)
      .map((f) => `${f.invoice.id} ${f.reason}`)
      .join(', ');
    throw new HttpProblem(
      502,
      `${n} of ${total} invoices could not be paid: ${named}${n > NAMED_IN_DETAIL ? `, and ${n - NAMED_IN_DETAIL} more (see failed)` : ''}`,
      {
        type: PAYMENT_FAILED,
        title: 'Some invoices could not be paid',
        extensions: summary,
        ...(report.failed.some((f) => f.retryable) ? { headers: { 'retry-after': '5' } } : {}),
      },
    );
  });
}

/**
 * The routes as one encapsulated Fastify plugin: the catch-all body parser below reads and ignores
 * any body on these routes only; the kit's probes and anything else keep Fastify's parsers.
 */
export function registerRoutes(app: ServiceApp, deps: RouteDeps): void {
  const plugin: ServicePlugin = (scope, _options, done) => {
    routes(scope, deps);
    done();
  };
  void app.register(plugin);
}
