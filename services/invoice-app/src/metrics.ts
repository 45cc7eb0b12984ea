// invoice-app's own metrics, on the kit's registry (next to the HTTP RED metrics): what pay calls
// settled, the provider's latency by outcome, and the invoices by status.
import { Counter, Gauge, Histogram, type Registry } from '@sre-platform/service-kit';

import type { Invoices } from './adapters/invoices.ts';
import type { PayerEvents } from './pay/payer.ts';

export function createInvoiceMetrics(registry: Registry, invoices: Invoices): PayerEvents {
  const results = new Counter({
    name: 'invoice_payments_total',
    help: 'Invoices settled by pay calls, by result: paid, rejected (by the provider), unreachable (nothing was sent), or why the outcome is unknown (timeout, network, provider_error, protocol, key_conflict, unknown).',
    labelNames: ['result'],
    registers: [registry],
  });
  const calls = new Histogram({
    name: 'invoice_provider_request_duration_seconds',
    help: 'Calls to the payment provider, by outcome (paid, rejected, unknown).',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  let cached = { at: 0, counts: { unpaid: 0, paying: 0, paid: 0 } };
  new Gauge({
    name: 'invoices',
    help: 'Invoices in the database by status (unpaid, paying, paid); every replica reports the same shared numbers.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      if (Date.now() - cached.at > 1000) cached = { at: Date.now(), counts: await invoices.countByStatus() };
      for (const [status, n] of Object.entries(cached.counts)) this.set({ status }, n);
    },
  });
  return {
    attempt: (outcome, seconds) => {
      calls.observe({ outcome: outcome.kind }, seconds);
    },
    settled: (result) => {
      results.inc({ result });
    },
  };
}
