// The server's view of the cluster: watch-fed caches of Deployments, ManagedDeployments and
// HorizontalPodAutoscalers, plus a periodic apiserver probe. Reads are answered from here only.
import type { KubernetesObject, V1Deployment, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';

import type { Logger } from '@sre-platform/service-kit';

import {
  MANAGED_GROUP,
  MANAGED_PLURAL,
  MANAGED_VERSION,
  type DeploymentView,
  type ManagedDeployment,
} from '../domain/model.ts';
import type { KubeClient } from './client.ts';
import { Informer, type WatchRestartReason } from './informer.ts';
import { trimDeployment, trimHpa, trimManaged } from './trim.ts';

export interface StoreOptions {
  client: KubeClient;
  logger: Logger;
  idleTimeoutMs: number;
  probeIntervalMs: number;
  /** Watch one namespace only; undefined: all namespaces. */
  namespace?: string | undefined;
  onWatchRestart?: (informer: string, reason: WatchRestartReason) => void;
}

export type StoreEvent =
  | { type: 'deployment'; namespace: string; name: string; kind: 'add' | 'update' | 'delete'; resourceVersion: string }
  | { type: 'managed'; namespace: string; name: string; kind: 'add' | 'update' | 'delete' }
  | { type: 'hpa'; namespace: string; target: string | undefined; kind: 'add' | 'update' | 'delete' };

export class ClusterStore {
  readonly deployments: Informer<V1Deployment>;
  readonly managed: Informer<ManagedDeployment & KubernetesObject>;
  readonly hpas: Informer<V2HorizontalPodAutoscaler>;
  #client: KubeClient;
  #logger: Logger;
  #probeIntervalMs: number;
  #probeTimer: NodeJS.Timeout | undefined;
  #apiserverError: string | undefined = 'not probed yet';
  #listeners: ((e: StoreEvent) => void)[] = [];

  constructor(options: StoreOptions) {
    this.#client = options.client;
    this.#logger = options.logger;
    this.#probeIntervalMs = options.probeIntervalMs;
    const common = {
      client: options.client,
      idleTimeoutMs: options.idleTimeoutMs,
      logger: options.logger,
      onRestart: options.onWatchRestart,
    };
    const scope = (prefix: string, plural: string) =>
      options.namespace ? `${prefix}/namespaces/${options.namespace}/${plural}` : `${prefix}/${plural}`;
    this.deployments = new Informer<V1Deployment>({
      ...common,
      name: 'deployments',
      path: scope('/apis/apps/v1', 'deployments'),
      transform: trimDeployment,
    });
    this.managed = new Informer<ManagedDeployment & KubernetesObject>({
      ...common,
      name: 'manageddeployments',
      path: scope(`/apis/${MANAGED_GROUP}/${MANAGED_VERSION}`, MANAGED_PLURAL),
      transform: trimManaged,
    });
    this.hpas = new Informer<V2HorizontalPodAutoscaler>({
      ...common,
      name: 'horizontalpodautoscalers',
      path: scope('/apis/autoscaling/v2', 'horizontalpodautoscalers'),
      transform: trimHpa,
    });
    this.deployments.on((kind, d) =>
      this.#emit({ type: 'deployment', kind, ...ref(d), resourceVersion: d.metadata?.resourceVersion ?? '' }),
    );
    this.managed.on((kind, m) => this.#emit({ type: 'managed', kind, ...ref(m) }));
    this.hpas.on((kind, h) => this.#emit({ type: 'hpa', kind, namespace: ref(h).namespace, target: hpaTarget(h) }));
  }

  onEvent(listener: (e: StoreEvent) => void): void {
    this.#listeners.push(listener);
  }

  #emit(e: StoreEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#logger.error({ err }, 'store listener failed');
      }
    }
  }

  start(): void {
    this.deployments.start();
    this.managed.start();
    this.hpas.start();
    void this.#probe();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    await Promise.all([this.deployments.stop(), this.managed.stop(), this.hpas.stop()]);
  }

  async #probe(): Promise<void> {
    const before = this.#apiserverError;
    try {
      await this.#client.request({ method: 'GET', path: '/readyz', timeoutMs: Math.max(1000, this.#probeIntervalMs) });
      this.#apiserverError = undefined;
    } catch (err) {
      this.#apiserverError = `kubernetes apiserver unreachable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (before !== this.#apiserverError) {
      if (this.#apiserverError) this.#logger.warn({ reason: this.#apiserverError }, 'apiserver probe failing');
      else this.#logger.info('apiserver reachable');
    }
    this.#probeTimer = setTimeout(() => void this.#probe(), this.#probeIntervalMs);
    this.#probeTimer.unref();
  }

  /** Why the API cannot answer correctly right now, or undefined when it can (the API's 503, and the two below). */
  unavailableReason(): string | undefined {
    return this.apiserverReason() ?? this.cacheReason();
  }

  /** Why the apiserver probe fails, or undefined (readiness check `kubernetes`). */
  apiserverReason(): string | undefined {
    return this.#apiserverError;
  }

  /** The first cache that cannot serve, and why, or undefined (readiness check `caches`). */
  cacheReason(): string | undefined {
    for (const i of [this.deployments, this.managed, this.hpas]) {
      if (i.error) return `cache ${i.name} is reconnecting: ${i.error}`;
      if (!i.synced) return `cache ${i.name} not synced yet`;
    }
    return undefined;
  }

  deployment(namespace: string, name: string): DeploymentView | undefined {
    const d = this.deployments.get(namespace, name);
    return d ? toView(d) : undefined;
  }

  listDeployments(namespace?: string): DeploymentView[] {
    return this.deployments.list(namespace).map(toView);
  }

  managedFor(namespace: string, name: string): ManagedDeployment | undefined {
    return this.managed.get(namespace, name);
  }

  listManaged(namespace?: string): ManagedDeployment[] {
    return [...this.managed.list(namespace)];
  }

  /** The name of an HPA in the namespace whose scaleTargetRef is this Deployment, if any. */
  hpaFor(namespace: string, name: string): string | undefined {
    for (const h of this.hpas.list(namespace)) {
      if (hpaTarget(h) === name) return h.metadata?.name;
    }
    return undefined;
  }
}

function ref(o: KubernetesObject): { namespace: string; name: string } {
  return { namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' };
}

export function hpaTarget(h: V2HorizontalPodAutoscaler): string | undefined {
  const t = h.spec?.scaleTargetRef;
  if (!t || t.kind !== 'Deployment') return undefined;
  if (t.apiVersion && !t.apiVersion.startsWith('apps/')) return undefined;
  return t.name;
}

export function toView(d: V1Deployment): DeploymentView {
  return {
    namespace: d.metadata?.namespace ?? '',
    name: d.metadata?.name ?? '',
    uid: d.metadata?.uid ?? '',
    labels: d.metadata?.labels ?? {},
    // The apiserver defaults spec.replicas to 1; an object straight from a watch always has it.
    specReplicas: d.spec?.replicas ?? 1,
    currentReplicas: d.status?.replicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
  };
}
