// The delivery worker in its own thread: its own connection pool, Outbox, Rocket.Chat client and
// logger; metrics go to the main thread, which serves /metrics. It speaks only the protocol in
// delivery-protocol.ts. The main thread throttles wakes before posting them (delivery-runner.ts),
// so a wake here claims at once.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

import { databaseOptions, openDatabase } from '@sre-platform/database';
import { createLogger } from '@sre-platform/service-kit/logger';

import { createDelivery } from './delivery.ts';
import { metricsToMain, type FromThread, type ThreadData, type ToThread } from './delivery-protocol.ts';
import { Outbox } from './adapters/outbox.ts';

// Started on its own with --version (the image's build does, to fill the bundle's compile cache): every module this
// thread imports has been evaluated by now, and without a main thread there is nothing more to do.
if (isMainThread && process.argv[2] === '--version') {
  process.stdout.write('webhook-app delivery thread\n');
  process.exit(0);
}

const port = parentPort!;
const { config } = workerData as ThreadData;
const log = createLogger({ name: 'webhook-app', level: config.LOG_LEVEL }).child({ component: 'delivery' });
const db = await openDatabase({
  ...databaseOptions(config),
  dataDir: undefined,
  poolSize: Math.max(2, Math.ceil(config.DATABASE_POOL_SIZE / 2)),
});
// This thread's one Outbox (an isolate of its own cannot share the main thread's): it only claims and
// records, so it needs no accept settings.
const { metrics, flush } = metricsToMain((message: FromThread) => {
  port.postMessage(message);
});
const delivery = createDelivery(config, new Outbox(db), metrics, log);
port.on('message', (msg: ToThread) => {
  if (msg.type === 'wake') delivery.wake();
  else {
    void delivery
      .stop()
      .then(() => db.close())
      .finally(() => {
        flush();
        port.close();
      });
  }
});
delivery.start();
