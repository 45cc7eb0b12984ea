// Where the delivery worker runs. With PostgreSQL it gets a worker thread and a connection pool of
// its own, so that Rocket.Chat calls and outbox updates never queue in front of accepts on the main
// event loop (measured: one accept took 2.8 ms with delivery on the same loop, 1.6 ms without).
// PGlite lives in one thread, so with it the worker runs in the main thread.
import { Worker } from 'node:worker_threads';

import type { Logger } from '@sre-platform/service-kit';

import type { Database } from '@sre-platform/database';
import { RocketChatClient } from './adapters/rocketchat.ts';
import type { Config } from './config.ts';
import { DeliveryWorker, type DeliveryMetrics, type DeliverySettings } from './delivery.ts';
import { Outbox } from './outbox.ts';

export interface DeliveryRunner {
  start(): void;
  wake(): void;
  stop(): Promise<void>;
}

export function deliverySettings(config: Config): DeliverySettings {
  return {
    batchSize: config.DELIVERY_BATCH_SIZE,
    concurrency: config.DELIVERY_CONCURRENCY,
    maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
    backoffBaseMs: config.DELIVERY_BACKOFF_BASE_MS,
    backoffCapMs: config.DELIVERY_BACKOFF_CAP_MS,
    // Each delivery makes at most four calls (login, dm.create, chat.sendMessage and, after a 400,
    // chat.getMessage), each phase of which is bounded by the timeout; the slack covers undici's 1 s
    // timer resolution. Should a lease still run out mid-send, the next worker's re-send of the same
    // message id creates nothing, and the client finds the message by that id.
    leaseMs: config.ROCKETCHAT_TIMEOUT_MS * 4 + 10_000,
    idlePollMs: config.DELIVERY_POLL_MS,
    wakeWindowMs: 10,
  };
}

export function inProcessRunner(config: Config, db: Database, metrics: DeliveryMetrics, log: Logger): DeliveryRunner {
  const rocketchat = new RocketChatClient(config.ROCKETCHAT_URL, config.rocketchatAuth, config.ROCKETCHAT_TIMEOUT_MS);
  const worker = new DeliveryWorker(new Outbox(db), rocketchat, deliverySettings(config), metrics, log);
  return {
    start: () => {
      worker.start();
    },
    wake: () => {
      worker.wake();
    },
    stop: async () => {
      await worker.stop();
      await rocketchat.close();
    },
  };
}

export type ToThread = { type: 'wake' } | { type: 'stop' };
export type MetricEvent = [name: keyof DeliveryMetrics, value: number | string];
export type FromThread = { type: 'metrics'; events: MetricEvent[] };

export function threadRunner(config: Config, metrics: DeliveryMetrics, log: Logger): DeliveryRunner {
  let worker: Worker | undefined;
  let stopped: Promise<void> | undefined;
  // At most one wake message per window: the thread gathers wakes over that window before it claims
  // anyway, so more messages would only cost the accept thread (its messaging with the thread was 6 %
  // of its JavaScript time under load, one message per setImmediate tick).
  const windowMs = deliverySettings(config).wakeWindowMs;
  let lastPostAt = -Infinity;
  let wakePending = false;
  const postWake = () => {
    wakePending = false;
    lastPostAt = performance.now();
    worker?.postMessage({ type: 'wake' } satisfies ToThread);
  };
  return {
    start() {
      // Beside this module: delivery-thread.ts in development, delivery-thread.js in the bundle (an entry of its
      // own in package.json's srePlatform.bundle, built by tools/build/bundle.ts).
      const thread = import.meta.url.endsWith('.ts') ? './delivery-thread.ts' : './delivery-thread.js';
      worker = new Worker(new URL(thread, import.meta.url), { workerData: { config } });
      worker.on('message', (msg: FromThread) => {
        if (msg.type === 'metrics')
          for (const [name, value] of msg.events) (metrics[name] as (v: number | string) => void)(value);
      });
      worker.on('error', (err) => {
        // Crash-only: accepted events are safe in the outbox; a restart resumes their delivery.
        log.fatal({ err }, 'the delivery thread failed; exiting so that the process is restarted');
        process.exit(1);
      });
    },
    wake() {
      if (wakePending) return;
      wakePending = true;
      const wait = lastPostAt + windowMs - performance.now();
      if (wait <= 0) setImmediate(postWake);
      else setTimeout(postWake, wait);
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (!worker) {
          resolve();
          return;
        }
        worker.once('exit', () => {
          resolve();
        });
        worker.postMessage({ type: 'stop' } satisfies ToThread);
      });
      return stopped;
    },
  };
}
