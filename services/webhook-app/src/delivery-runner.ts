// Where the delivery worker runs. With PostgreSQL it gets a worker thread and a connection pool of
// its own, so that Rocket.Chat calls and outbox updates never queue in front of accepts on the main
// event loop (see the README's measured figures). PGlite lives in one thread, so with it the worker
// runs in the main thread, on the process's one Outbox. Either way wakes pass one WakeThrottle here.
import { Worker } from 'node:worker_threads';

import type { Logger } from '@sre-platform/service-kit';

import type { Config } from './config.ts';
import type { Delivery, DeliveryMetrics } from './delivery.ts';
import { applyFromThread, type FromThread, type ThreadData, type ToThread } from './delivery-protocol.ts';
import type { Outbox } from './adapters/outbox.ts';

export type DeliveryRunner = Delivery;

/**
 * Coalesces wakes: the first wake in a quiet period fires `fire` once the window has passed, and
 * every wake meanwhile joins it. So a burst of accepts becomes one claim of many rows instead of
 * many claims of one, and, with a thread, at most one message per window crosses to it (messaging
 * the thread once per accept was a visible share of the accept thread's time under load: README, "Throughput").
 */
export class WakeThrottle {
  readonly #windowMs: number;
  readonly #fire: () => void;
  #pending = false;

  constructor(windowMs: number, fire: () => void) {
    this.#windowMs = windowMs;
    this.#fire = fire;
  }

  wake(): void {
    if (this.#pending) return;
    this.#pending = true;
    setTimeout(() => {
      this.#pending = false;
      this.#fire();
    }, this.#windowMs).unref();
  }
}

/**
 * The worker in this thread (PGlite). Imports the delivery code (with undici, Rocket.Chat's client) only here: with
 * PostgreSQL it runs in the thread, and the main thread never loads it (about 9 MiB of resident memory in the bundle,
 * tools/build/bench/lean.bench.ts).
 */
export async function inProcessRunner(
  config: Config,
  outbox: Outbox,
  metrics: DeliveryMetrics,
  log: Logger,
): Promise<DeliveryRunner> {
  const { createDelivery } = await import('./delivery.ts');
  const delivery = createDelivery(config, outbox, metrics, log);
  const throttle = new WakeThrottle(config.delivery.wakeWindowMs, () => {
    delivery.wake();
  });
  return {
    start: () => {
      delivery.start();
    },
    wake: () => {
      throttle.wake();
    },
    stop: () => delivery.stop(),
  };
}

export function threadRunner(config: Config, metrics: DeliveryMetrics, log: Logger): DeliveryRunner {
  let worker: Worker | undefined;
  let stopped: Promise<void> | undefined;
  const throttle = new WakeThrottle(config.delivery.wakeWindowMs, () => {
    worker?.postMessage({ type: 'wake' } satisfies ToThread);
  });
  return {
    start() {
      // Beside this module: delivery-thread.ts in development, delivery-thread.js in the bundle (an entry of its
      // own in package.json's srePlatform.bundle, built by tools/build/bundle.ts).
      const thread = import.meta.url.endsWith('.ts') ? './delivery-thread.ts' : './delivery-thread.js';
      worker = new Worker(new URL(thread, import.meta.url), { workerData: { config } satisfies ThreadData });
      worker.on('message', (msg: FromThread) => {
        applyFromThread(metrics, msg);
      });
      worker.on('error', (err) => {
        // Crash-only: accepted events are safe in the outbox; a restart resumes their delivery.
        log.fatal({ err }, 'the delivery thread failed; exiting so that the process is restarted');
        process.exit(1);
      });
    },
    wake() {
      throttle.wake();
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
