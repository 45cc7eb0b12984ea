// Wiring only: config -> database -> outbox -> delivery (a thread, or in process) -> routes -> listen,
// then the database start-up run (retries until PostgreSQL answers, migrates) -> delivery starts.
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { databaseOptions, databaseStartup, openDatabase } from '@sre-platform/database';
import { registerRoutes } from './app.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { inProcessRunner, threadRunner } from './delivery-runner.ts';
import { createAppMetrics, deliveryMetrics } from './metrics.ts';
import { Outbox } from './adapters/outbox.ts';

const NAME = 'webhook-app';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, VERSION, async () => {
  const config = readConfig();
  const dbOptions = databaseOptions(config);
  const db = await openDatabase(dbOptions);
  const outbox = new Outbox(db, {
    acceptBatchMax: config.ACCEPT_BATCH_MAX,
    acceptCommitsInFlight: config.ACCEPT_COMMITS_IN_FLIGHT,
  });
  const database = databaseStartup(db, dbOptions, () => outbox.migrate());

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    // Only the database: Rocket.Chat being down does not make us unready (accepting durably is our job, delivery waits).
    ...database.serviceOptions,
  });
  service.logger.info({ config: redactConfig(ConfigSchema, config), database: db.kind }, 'configuration');
  const metrics = createAppMetrics(service.metrics.registry, outbox);
  const log = service.logger.child({ component: 'delivery' });
  const worker =
    db.kind === 'postgres'
      ? threadRunner(config, deliveryMetrics(metrics), log)
      : await inProcessRunner(config, outbox, deliveryMetrics(metrics), log);
  registerRoutes(service.app, {
    outbox,
    metrics,
    recipients: config.recipients,
    webhookSecret: config.GITLAB_WEBHOOK_SECRET,
    adminToken: config.ADMIN_TOKEN,
    onAccepted: () => {
      worker.wake();
    },
  });
  // Shutdown order: stop accepting (the kit drains HTTP), then stop the worker, then the database.
  service.app.addHook('onClose', async () => {
    database.stop();
    await worker.stop();
    await db.close();
  });
  await service.listen();
  void database.start(service.logger).then((ready) => {
    if (ready && !service.draining) worker.start();
  });
  return service;
});
