// Prometheus metrics (prom-client): process metrics, build info, and RED metrics per route.
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface HttpMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  requestsInFlight: Gauge<'route'>;
}

/** Label for requests that matched no route: keeps 404 scans from creating one series per URL. */
export const UNMATCHED_ROUTE = 'unmatched';

export function createMetrics(service: { name: string; version: string }): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges with a counter's _total suffix, which `promtool check metrics`
  // rejects; the same numbers remain as nodejs_active_handles, _requests and _resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: 'build_info',
    help: 'Always 1; labels carry the service name, version and Node.js version.',
    labelNames: ['service', 'version', 'nodejs_version'],
    registers: [registry],
  }).set({ service: service.name, version: service.version, nodejs_version: process.version }, 1);

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration from first byte received to response sent.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const requestsInFlight = new Gauge({
    name: 'http_requests_in_flight',
    help: 'HTTP requests currently being served.',
    labelNames: ['route'],
    registers: [registry],
  });
  return { registry, requestDuration, requestsInFlight };
}
