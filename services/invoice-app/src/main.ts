// Wiring only: config -> database -> invoices -> provider client -> payer -> routes -> listen, then the
// database start-up run (retries until PostgreSQL answers, then migrates and seeds).
import { databaseOptions, databaseStartup, openDatabase } from '@sre-platform/database';
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { httpProvider } from './adapters/provider.ts';
import { registerRoutes } from './app.ts';
import { createInvoiceMetrics } from './metrics.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { Invoices } from './adapters/invoices.ts';
import { Payer } from './pay/payer.ts';

const NAME = 'invoice-app';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, VERSION, async () => {
  const config = readConfig();
  const dbOptions = databaseOptions(config);
  const db = await openDatabase(dbOptions);
  const invoices = new Invoices(db);
  const database = databaseStartup(db, dbOptions, () => invoices.migrate());

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    // Only the database: the provider being down does not make us unready (listing works, paying says what failed).
    ...database.serviceOptions,
  });
  service.logger.info(
    {
      config: redactConfig(ConfigSchema, config),
      database: db.kind,
      payUrl: config.payUrl.href,
      leaseMs: config.leaseMs,
    },
    'configuration',
  );
  const provider = httpProvider({
    payUrl: config.payUrl,
    timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS,
    maxSockets: config.PAY_CONCURRENCY * 4,
  });
  const payer = new Payer(
    invoices,
    provider,
    {
      stopAfterUnreachable: config.PAY_STOP_AFTER_UNREACHABLE,
      concurrency: config.PAY_CONCURRENCY,
      batchSize: config.PAY_BATCH_SIZE,
      leaseMs: config.leaseMs,
      retries: config.PAYMENT_PROVIDER_RETRIES,
      backoffMs: config.PAYMENT_PROVIDER_BACKOFF_MS,
    },
    createInvoiceMetrics(service.metrics.registry, invoices),
  );
  registerRoutes(service.app, { invoices, payer });
  // Shutdown order: the kit drains HTTP (pay calls finish), then the provider's sockets, then the database.
  service.app.addHook('onClose', async () => {
    database.stop();
    await provider.close();
    await db.close();
  });
  await service.listen();
  void database.start(service.logger);
  return service;
});
