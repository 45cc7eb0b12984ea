// The delivery worker in its own thread: its own connection pool, Rocket.Chat client and logger;
// metrics go to the main thread, which serves /metrics.
import { parentPort, workerData } from 'node:worker_threads';

import { createLogger } from '@sre-platform/service-kit';

import { databaseOptions, openDatabase } from '@sre-platform/database';
import type { Config } from './config.ts';
import type { DeliveryMetrics } from './delivery.ts';
import { inProcessRunner, type FromThread, type MetricEvent, type ToThread } from './delivery-runner.ts';

const port = parentPort!;
const { config } = workerData as { config: Config };
const log = createLogger({ name: 'webhook-app', level: config.LOG_LEVEL }).child({ component: 'delivery' });
const db = await openDatabase({
  ...databaseOptions(config),
  dataDir: undefined,
  poolSize: Math.max(2, Math.ceil(config.DATABASE_POOL_SIZE / 2)),
});
// Metric events go to the main thread in batches, one message per 50 ms at most instead of one per
// delivery (per-delivery messages were a visible share of the accept thread's time under load).
let pending: MetricEvent[] = [];
const flush = () => {
  if (pending.length === 0) return;
  port.postMessage({ type: 'metrics', events: pending } satisfies FromThread);
  pending = [];
};
const record = (event: MetricEvent) => {
  pending.push(event);
  if (pending.length === 1) setTimeout(flush, 50);
};
const metrics: DeliveryMetrics = {
  delivered: (value) => {
    record(['delivered', value]);
  },
  failed: (value) => {
    record(['failed', value]);
  },
  deadLettered: (value) => {
    record(['deadLettered', value]);
  },
};
const runner = inProcessRunner(config, db, metrics, log);
port.on('message', (msg: ToThread) => {
  if (msg.type === 'wake') runner.wake();
  else {
    void runner
      .stop()
      .then(() => db.close())
      .finally(() => {
        flush();
        port.close();
      });
  }
});
runner.start();
