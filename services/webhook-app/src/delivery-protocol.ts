// The messages between the main thread and the delivery thread, in one module that both sides
// import (the runner starts the thread by URL and never imports it; the thread never imports the
// runner). Metric events travel in batches, one message per METRICS_WINDOW_MS at most instead of
// one per delivery (per-delivery messages were a visible share of the accept thread's time under load).
import type { Config } from './config.ts';
import type { DeliveryMetrics } from './delivery.ts';

/** What the thread is started with (`workerData`). */
export interface ThreadData {
  config: Config;
}

export type ToThread = { type: 'wake' } | { type: 'stop' };
export type MetricEvent = [name: keyof DeliveryMetrics, value: number | string];
export type FromThread = { type: 'metrics'; events: MetricEvent[] };

const METRICS_WINDOW_MS = 50;

/** Thread side: DeliveryMetrics that batch their events into `post`; `flush` sends what is pending now. */
export function metricsToMain(post: (message: FromThread) => void): { metrics: DeliveryMetrics; flush: () => void } {
  let pending: MetricEvent[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    post({ type: 'metrics', events: pending });
    pending = [];
  };
  const record = (event: MetricEvent) => {
    pending.push(event);
    if (pending.length === 1) setTimeout(flush, METRICS_WINDOW_MS);
  };
  return {
    metrics: {
      delivered: (value) => {
        record(['delivered', value]);
      },
      failed: (value) => {
        record(['failed', value]);
      },
      deadLettered: (value) => {
        record(['deadLettered', value]);
      },
    },
    flush,
  };
}

/** Main side: one message's events onto the process's metrics. */
export function applyFromThread(metrics: DeliveryMetrics, message: FromThread): void {
  if (message.type !== 'metrics') return;
  for (const [name, value] of message.events) (metrics[name] as (v: number | string) => void)(value);
}
