// Wiring only: config -> database -> ledger -> routes -> listen, then the database start-up run
// (retries until PostgreSQL answers, then migrates).
import { databaseOptions, databaseStartup, openDatabase } from '@sre-platform/database';
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { registerRoutes } from './app.ts';
import { createPaymentMetrics } from './metrics.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { Payments } from './adapters/payments.ts';

const NAME = 'payment-provider';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, VERSION, async () => {
  const config = readConfig();
  const dbOptions = databaseOptions(config);
  const db = await openDatabase(dbOptions);
  const payments = new Payments(db);
  const database = databaseStartup(db, dbOptions, () => payments.migrate());

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    ...database.serviceOptions,
  });
  service.logger.info({ config: redactConfig(ConfigSchema, config), database: db.kind }, 'configuration');
  if (config.FAULT_DELAY_MS > 0 || config.FAULT_STATUS !== undefined) {
    service.logger.warn({ ids: config.FAULT_IDS ?? 'all' }, 'fault injection is on');
  }
  registerRoutes(service.app, { payments, faults: config, metrics: createPaymentMetrics(service.metrics.registry) });
  service.app.addHook('onClose', () => {
    database.stop();
    return db.close();
  });
  await service.listen();
  void database.start(service.logger);
  return service;
});
