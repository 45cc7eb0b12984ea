// payment-provider in process on a given database (embedded PGlite in the unit tests): the real
// routes, schemas and ledger, reached with Fastify's inject.
import type { Database } from '@sre-platform/database';
import { createLogger, createService, type Service } from '@sre-platform/service-kit';
import { captureLogs, testConfig } from '@sre-platform/service-kit/testing';

import { registerRoutes, type Faults } from '../src/app.ts';
import { createPaymentMetrics } from '../src/metrics.ts';
import { Payments } from '../src/adapters/payments.ts';

export const NO_FAULTS: Faults = { FAULT_DELAY_MS: 0, FAULT_STATUS: undefined, FAULT_RATE: 1, faultIds: undefined };

export function inProcessProvider(db: Database, faults: Faults = NO_FAULTS) {
  const payments = new Payments(db);
  const logs = captureLogs();
  const logger = createLogger({ name: 'payment-provider', level: 'info', destination: logs.destination });
  const service: Service = createService({ name: 'payment-provider', version: 'test', config: testConfig(), logger });
  registerRoutes(service.app, { payments, faults, metrics: createPaymentMetrics(service.metrics.registry) });
  const pay = (payload: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    service.app.inject({
      method: 'POST',
      url: '/payments/pay',
      headers,
      ...(payload === undefined ? {} : { payload }),
    });
  const count = async () =>
    Number((await db.query<{ n: string }>('select count(*)::text as n from provider_payments'))[0]!.n);
  return { service, db, pay, count, logs };
}
