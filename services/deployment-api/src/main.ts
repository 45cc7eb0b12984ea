// deployment-api: wiring only. Plain port (service kit): /healthz /readyz /metrics. API port:
// gRPC, gRPC-Web and Connect JSON over TLS 1.3 with client certificates. The cluster view comes
// from watch-fed caches; the leader (a Lease) reconciles desired state into Deployments.
import { setTimeout as sleep } from 'node:timers/promises';

import { KubeConfig } from '@kubernetes/client-node';

import { createService, runMain } from '@sre-platform/service-kit';

import { deploymentHandlers } from './api/deployments.ts';
import { healthHandlers } from './api/health.ts';
import { reflectionHandlers } from './api/reflection.ts';
import { startApiServer } from './api/server.ts';
import { readConfig } from './config.ts';
import { Health } from './gen/health/v1/health_pb.js';
import { ServerReflection } from './gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from './gen/grpc/reflection/v1alpha/reflection_pb.js';
import { DeploymentService } from './gen/sre_platform/deployments/v1/deployments_pb.js';
import { KubeClient } from './kube/client.ts';
import { ClusterStore } from './kube/store.ts';
import { KubeWrites } from './kube/writes.ts';
import { LeaderElector } from './leader.ts';
import { createApiMetrics } from './metrics.ts';
import { Reconciler } from './reconciler.ts';
import { VERSION } from './version.ts';

const NAME = 'deployment-api';

runMain(NAME, VERSION, async () => {
  const config = readConfig();
  const kc = new KubeConfig();
  if (config.KUBECONFIG) kc.loadFromFile(config.KUBECONFIG);
  else kc.loadFromDefault();
  const client = new KubeClient(kc, config.KUBE_REQUEST_TIMEOUT_MS);

  const service = createService({
    name: NAME,
    version: VERSION,
    config,
    readiness: [
      { name: 'kubernetes', check: () => failIf(store.apiserverReason()) },
      { name: 'caches', check: () => failIf(store.cacheReason()) },
    ],
  });
  const { logger } = service;
  const metrics = createApiMetrics(service.metrics.registry, () => ({
    deployments: store.deployments.list().length,
    manageddeployments: store.managed.list().length,
    horizontalpodautoscalers: store.hpas.list().length,
  }));

  const store = new ClusterStore({
    client,
    logger,
    idleTimeoutMs: config.KUBE_WATCH_IDLE_TIMEOUT_MS,
    probeIntervalMs: config.KUBE_PROBE_INTERVAL_MS,
    namespace: config.WATCH_NAMESPACE,
    onWatchRestart: (informer, reason) => metrics.watchRestarts.inc({ informer, reason }),
  });
  const writes = new KubeWrites(client);
  const reconciler = new Reconciler({
    store,
    writes,
    metrics,
    logger,
    identity: config.identity,
    resyncIntervalMs: config.RESYNC_INTERVAL_MS,
    queue: {
      workers: config.RECONCILE_WORKERS,
      qps: config.RECONCILE_QPS,
      burst: config.RECONCILE_BURST,
      backoffBaseMs: config.RECONCILE_BACKOFF_BASE_MS,
      backoffCapMs: config.RECONCILE_BACKOFF_CAP_MS,
    },
  });
  const elector = new LeaderElector({
    client,
    namespace: config.LEASE_NAMESPACE,
    name: config.LEASE_NAME,
    identity: config.identity,
    leaseDurationMs: config.LEASE_DURATION_MS,
    renewDeadlineMs: config.LEASE_RENEW_DEADLINE_MS,
    retryPeriodMs: config.LEASE_RETRY_PERIOD_MS,
    logger,
    onStartedLeading: () => {
      metrics.leader.set(1);
      reconciler.start();
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      void reconciler.stop();
    },
  });

  store.start();
  const api = await startApiServer({
    host: config.HOST,
    port: config.API_PORT,
    tls: { certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, clientCaFile: config.TLS_CLIENT_CA_FILE },
    reloadIntervalMs: config.TLS_RELOAD_INTERVAL_MS,
    roles: { operatorGroups: config.operatorGroups, readerGroups: config.readerGroups },
    logger,
    rpcDuration: metrics.rpcDuration,
    rejectedRequests: metrics.rejectedRequests,
    refusedHandshakes: metrics.refusedHandshakes,
    // Not refused while draining: until the API closes (its GOAWAY sends clients elsewhere), connections that
    // still reach this pod are served, or they would fail the requests the shutdown delay exists to keep.
    unavailable: () => store.unavailableReason(),
    routes: (router) => {
      router.service(
        DeploymentService,
        deploymentHandlers({ store, writes, maxReplicas: config.MAX_REPLICAS, logger }),
      );
      router.service(
        Health,
        healthHandlers(() => !service.draining && store.unavailableReason() === undefined),
      );
      const reflection = reflectionHandlers([DeploymentService, Health]);
      router.service(ServerReflection, reflection.v1);
      router.service(ServerReflectionV1alpha, reflection.v1alpha);
    },
  });
  const url = await service.listen();
  elector.start();
  logger.info({ probes: url, api: api.url, identity: config.identity }, 'deployment-api started');

  return {
    async shutdown(reason: string) {
      // Hand leadership over at once; keep answering reads and writes while endpoints update.
      const handover = (async () => {
        await reconciler.stop();
        await elector.stop();
      })();
      const apiClosed = (async () => {
        await sleep(config.SHUTDOWN_DELAY_MS);
        return api.close(config.SHUTDOWN_TIMEOUT_MS);
      })();
      const [probesDrained, apiDrained] = await Promise.all([service.shutdown(reason), apiClosed, handover]);
      await store.stop();
      return probesDrained && apiDrained;
    },
  };
});

function failIf(reason: string | undefined): void {
  if (reason) throw new Error(reason);
}
