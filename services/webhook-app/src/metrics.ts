// webhook-app's own metrics, on the kit's registry (next to the HTTP RED metrics and the
// http_requests_in_flight gauge that the HPA scales on).
import { Counter, Gauge, Histogram, type Registry } from '@sre-platform/service-kit';

import type { DeliveryMetrics } from './delivery.ts';
import type { Outbox } from './adapters/outbox.ts';

export function createAppMetrics(registry: Registry, outbox: Outbox) {
  let cached = { at: 0, stats: { pending: 0, oldestAgeSeconds: 0, dead: 0 } };
  // One query per scrape at most, shared by the three gauges below.
  const stats = async () => {
    if (Date.now() - cached.at > 500) cached = { at: Date.now(), stats: await outbox.stats() };
    return cached.stats;
  };
  return {
    received: new Counter({
      name: 'webhook_events_received_total',
      help: 'GitLab webhook requests received, by event type and result (accepted, duplicate, ignored, unauthorized, invalid).',
      labelNames: ['event', 'result'],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'webhook_delivery_latency_seconds',
      help: 'Time from accepting an event to its direct message being delivered to Rocket.Chat.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    deliveryFailures: new Counter({
      name: 'webhook_delivery_failures_total',
      help: 'Failed delivery attempts, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'webhook_dead_letters_total',
      help: 'Events moved to the dead-letter state (retry budget spent or a permanent failure).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    outboxPending: new Gauge({
      name: 'webhook_outbox_pending',
      help: 'Accepted events not delivered yet.',
      registers: [registry],
      async collect() {
        this.set((await stats()).pending);
      },
    }),
    outboxOldestAge: new Gauge({
      name: 'webhook_outbox_oldest_age_seconds',
      help: 'Age of the oldest undelivered event (0 when none).',
      registers: [registry],
      async collect() {
        this.set((await stats()).oldestAgeSeconds);
      },
    }),
    outboxDead: new Gauge({
      name: 'webhook_outbox_dead',
      help: 'Events in the dead-letter state, waiting for a replay.',
      registers: [registry],
      async collect() {
        this.set((await stats()).dead);
      },
    }),
  };
}
export type AppMetrics = ReturnType<typeof createAppMetrics>;

/** The delivery worker's reports, onto the prom-client metrics. */
export function deliveryMetrics(m: AppMetrics): DeliveryMetrics {
  return {
    delivered: (seconds) => {
      m.deliveryLatency.observe(seconds);
    },
    failed: (reason) => {
      m.deliveryFailures.inc({ reason });
    },
    deadLettered: (reason) => {
      m.deadLetters.inc({ reason });
    },
  };
}
