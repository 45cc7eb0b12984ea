// The service's own metrics, registered on the kit's registry next to the HTTP RED metrics.
import { Counter, Gauge, Histogram, type Registry } from '@sre-platform/service-kit';

export function createApiMetrics(registry: Registry, cacheCounts: () => Record<string, number>) {
  const registers = [registry];
  return {
    rpcDuration: new Histogram({
      name: 'deployment_api_rpc_duration_seconds',
      help: 'API calls by method and result code (gRPC, gRPC-Web and Connect alike)',
      labelNames: ['method', 'code'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    rejectedRequests: new Counter({
      name: 'deployment_api_requests_rejected_total',
      help: 'Requests refused before a handler saw them, by reason: malformed_protobuf, unknown_field, invalid_json, too_large, unknown_method',
      labelNames: ['reason'] as const,
      registers,
    }),
    refusedHandshakes: new Counter({
      name: 'deployment_api_tls_handshakes_refused_total',
      help: 'TLS connections refused on the API port, by reason: no_certificate, expired, not_yet_valid, untrusted_ca, protocol_version, ...',
      labelNames: ['reason'] as const,
      registers,
    }),
    driftRestored: new Counter({
      name: 'deployment_api_drift_restored_total',
      help: 'Replica counts changed by another actor and restored to the desired count',
      labelNames: ['namespace'] as const,
      registers,
    }),
    driftRestoreSeconds: new Histogram({
      name: 'deployment_api_drift_restore_seconds',
      help: 'From the drift reaching this server (watch event) to the scale write completing',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    reconciles: new Counter({
      name: 'deployment_api_reconcile_total',
      help: 'Reconcile runs by result: in_sync, scaled, drift_restored, conflict, deployment_missing, error',
      labelNames: ['result'] as const,
      registers,
    }),
    queueDepth: new Gauge({ name: 'deployment_api_workqueue_depth', help: 'Keys waiting to be reconciled', registers }),
    leader: new Gauge({
      name: 'deployment_api_leader',
      help: '1 while this replica holds the leader lease',
      registers,
    }),
    watchRestarts: new Counter({
      name: 'deployment_api_watch_restarts_total',
      help: 'Watches restarted, by informer and reason: expired (410 Gone, relisted), stalled (idle bound), error',
      labelNames: ['informer', 'reason'] as const,
      registers,
    }),
    cacheObjects: new Gauge({
      name: 'deployment_api_cache_objects',
      help: 'Objects in the watch-fed caches',
      labelNames: ['resource'] as const,
      registers,
      collect() {
        for (const [resource, n] of Object.entries(cacheCounts())) this.set({ resource }, n);
      },
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
