// deployment-api configuration: environment variables, validated at start-up.
import { hostname } from 'node:os';

import { baseConfigProperties, ConfigError, loadConfig, Type, type Static } from '@sre-platform/service-kit';

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  // The plain port: /healthz, /readyz, /metrics for the kubelet and Prometheus.
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  // The mTLS port: gRPC, gRPC-Web and Connect JSON.
  API_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8443 }),
  TLS_CERT_FILE: Type.String({ minLength: 1 }),
  TLS_KEY_FILE: Type.String({ minLength: 1 }),
  // CA bundle that client certificates must chain to.
  TLS_CLIENT_CA_FILE: Type.String({ minLength: 1 }),
  // How often the certificate files are re-read (rotation without restart).
  TLS_RELOAD_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  // Subject Organization (O) values that grant each role.
  OPERATOR_GROUPS: Type.String({ default: 'deployment-api:operators' }),
  READER_GROUPS: Type.String({ default: 'deployment-api:readers' }),

  // Unset: in-cluster service account, else ~/.kube/config (the client's defaults).
  KUBECONFIG: Type.Optional(Type.String({ minLength: 1 })),
  // Unset: every namespace (a ClusterRole). Set: only this namespace (a Role is enough).
  WATCH_NAMESPACE: Type.Optional(
    Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
  ),
  KUBE_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  // A watch that delivers nothing for this long is treated as stalled and reconnected.
  KUBE_WATCH_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 60_000 }),
  // How often apiserver connectivity is probed (feeds /readyz and the API's 503s).
  KUBE_PROBE_INTERVAL_MS: Type.Integer({ minimum: 100, default: 2000 }),

  MAX_REPLICAS: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),

  // Leader election: a coordination.k8s.io Lease in LEASE_NAMESPACE.
  LEASE_NAMESPACE: Type.String({ minLength: 1, default: 'default' }),
  LEASE_NAME: Type.String({ minLength: 1, default: 'deployment-api-leader' }),
  // This replica's identity in the Lease; the pod name in Kubernetes.
  POD_NAME: Type.Optional(Type.String({ minLength: 1 })),
  LEASE_DURATION_MS: Type.Integer({ minimum: 1000, default: 15_000 }),
  LEASE_RENEW_DEADLINE_MS: Type.Integer({ minimum: 500, default: 10_000 }),
  LEASE_RETRY_PERIOD_MS: Type.Integer({ minimum: 100, default: 2000 }),

  RECONCILE_WORKERS: Type.Integer({ minimum: 1, maximum: 32, default: 4 }),
  // Overall reconcile rate (token bucket) and per-key backoff bounds.
  RECONCILE_QPS: Type.Number({ exclusiveMinimum: 0, default: 20 }),
  RECONCILE_BURST: Type.Integer({ minimum: 1, default: 100 }),
  RECONCILE_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 50 }),
  RECONCILE_BACKOFF_CAP_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  // Every managed object is re-checked this often even without events (belt and braces).
  RESYNC_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 300_000 }),
});

export type Config = Static<typeof ConfigSchema> & {
  identity: string;
  operatorGroups: Set<string>;
  readerGroups: Set<string>;
};

function groups(name: string, raw: string): Set<string> {
  const set = new Set(
    raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
  if (set.size === 0) throw new ConfigError(`${name} must list at least one group`);
  return set;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, env);
  if (c.LEASE_RENEW_DEADLINE_MS >= c.LEASE_DURATION_MS) {
    throw new ConfigError('LEASE_RENEW_DEADLINE_MS must be less than LEASE_DURATION_MS');
  }
  if (c.LEASE_RETRY_PERIOD_MS >= c.LEASE_RENEW_DEADLINE_MS) {
    throw new ConfigError('LEASE_RETRY_PERIOD_MS must be less than LEASE_RENEW_DEADLINE_MS');
  }
  if (c.RECONCILE_BACKOFF_CAP_MS < c.RECONCILE_BACKOFF_BASE_MS) {
    throw new ConfigError('RECONCILE_BACKOFF_CAP_MS must be at least RECONCILE_BACKOFF_BASE_MS');
  }
  return {
    ...c,
    identity: c.POD_NAME ?? `${hostname()}-${process.pid}`,
    operatorGroups: groups('OPERATOR_GROUPS', c.OPERATOR_GROUPS),
    readerGroups: groups('READER_GROUPS', c.READER_GROUPS),
  };
}
