// Wiring only: config -> database -> ledger -> routes -> listen.
import { openDatabase } from '@sre-platform/database';
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { createPaymentMetrics, registerRoutes } from './app.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { Payments } from './payments.ts';

const NAME = 'payment-provider';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, async () => {
  const config = readConfig();
  const db = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
  });
  const payments = new Payments(db);
  await payments.migrate();

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    readiness: [{ name: 'database', check: () => db.ping() }],
  });
  service.logger.info({ config: redactConfig(ConfigSchema, config), database: db.kind }, 'configuration');
  if (config.FAULT_DELAY_MS > 0 || config.FAULT_STATUS !== undefined) {
    service.logger.warn({ ids: config.FAULT_IDS ?? 'all' }, 'fault injection is on');
  }
  registerRoutes(service.app, { payments, faults: config, metrics: createPaymentMetrics(service.metrics.registry) });
  service.app.addHook('onClose', () => db.close());
  await service.listen();
  return service;
});
