// The delivery worker in its own thread: its own connection pool, Rocket.Chat client and logger;
// metrics go to the main thread, which serves /metrics.
import { parentPort, workerData } from 'node:worker_threads';

import { createLogger } from '@sre-platform/service-kit';

import { openDatabase } from '@sre-platform/database';
import type { Config } from './config.ts';
import type { DeliveryMetrics } from './delivery.ts';
import { inProcessRunner, type FromThread, type ToThread } from './delivery-runner.ts';

const port = parentPort!;
const { config } = workerData as { config: Config };
const log = createLogger({ name: 'webhook-app', level: config.LOG_LEVEL }).child({ component: 'delivery' });
const db = await openDatabase({
  url: config.DATABASE_URL,
  poolSize: Math.max(2, Math.ceil(config.DATABASE_POOL_SIZE / 2)),
});
const send = (msg: FromThread) => {
  port.postMessage(msg);
};
const metrics: DeliveryMetrics = {
  delivered: (value) => {
    send({ type: 'metric', name: 'delivered', value });
  },
  failed: (value) => {
    send({ type: 'metric', name: 'failed', value });
  },
  deadLettered: (value) => {
    send({ type: 'metric', name: 'deadLettered', value });
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
        port.close();
      });
  }
});
runner.start();
