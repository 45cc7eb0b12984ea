// payment-provider's own metrics, on the kit's registry (next to the HTTP RED metrics).
import { Counter, type Registry } from '@sre-platform/service-kit';

export function createPaymentMetrics(registry: Registry) {
  return {
    payments: new Counter({
      name: 'payment_provider_payments_total',
      help: 'Payment requests that passed validation, by result (paid, replayed, conflict, fault).',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

export type PaymentMetrics = ReturnType<typeof createPaymentMetrics>;
