// Wiring only: config -> database -> outbox -> Rocket.Chat client -> worker -> routes -> listen.
import { createService, redactConfig, runMain } from '@sre-platform/service-kit';

import { openDatabase } from './adapters/database.ts';
import { RocketChatClient } from './adapters/rocketchat.ts';
import { registerRoutes } from './app.ts';
import { ConfigSchema, readConfig } from './config.ts';
import { DeliveryWorker } from './delivery.ts';
import { createAppMetrics } from './metrics.ts';
import { Outbox } from './outbox.ts';

const NAME = 'webhook-app';
const VERSION = process.env['APP_VERSION'] ?? '0.1.0';

runMain(NAME, async () => {
  const config = readConfig();
  const db = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
  });
  const outbox = new Outbox(db);
  await outbox.migrate();
  const rocketchat = new RocketChatClient(config.ROCKETCHAT_URL, config.rocketchatAuth, config.ROCKETCHAT_TIMEOUT_MS);

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    // Rocket.Chat being down does not make us unready: accepting (durably) is our job, delivery waits.
    readiness: [{ name: 'database', check: () => db.ping() }],
  });
  service.logger.info({ config: redactConfig(ConfigSchema, config), database: db.kind }, 'configuration');
  const metrics = createAppMetrics(service.metrics.registry, outbox);
  const worker = new DeliveryWorker(
    outbox,
    rocketchat,
    {
      batchSize: config.DELIVERY_BATCH_SIZE,
      concurrency: config.DELIVERY_CONCURRENCY,
      maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
      backoffBaseMs: config.DELIVERY_BACKOFF_BASE_MS,
      backoffCapMs: config.DELIVERY_BACKOFF_CAP_MS,
      // Each delivery makes at most three calls (login, dm.create, chat.sendMessage).
      leaseMs: config.ROCKETCHAT_TIMEOUT_MS * 4 + 10_000,
      idlePollMs: config.DELIVERY_POLL_MS,
      wakeWindowMs: 10,
    },
    metrics,
    service.logger.child({ component: 'delivery' }),
  );
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
    await worker.stop();
    await db.close();
  });
  await service.listen();
  worker.start();
  return service;
});
