// The reconciler: on the leader only, informer events enqueue `namespace/name` keys; reconcile(key)
// compares the cached desired state with the cached Deployment and scales through the scale
// subresource when they differ. A difference not caused by a new desired generation is drift made
// by another actor: it is restored, recorded as an Event on the Deployment, counted in a metric and
// in the object's status. An HPA targeting the Deployment makes the reconciler stand down.
import type { Logger } from '@sre-platform/service-kit';

import { assess, keyOf, type ManagedStatus } from './domain/model.ts';
import { KubeError } from './kube/client.ts';
import type { ClusterStore } from './kube/store.ts';
import type { KubeWrites } from './kube/writes.ts';
import type { ApiMetrics } from './metrics.ts';
import { WorkQueue, type WorkQueueOptions } from './workqueue.ts';

export interface ReconcilerOptions {
  store: ClusterStore;
  writes: KubeWrites;
  metrics: ApiMetrics;
  logger: Logger;
  identity: string;
  resyncIntervalMs: number;
  queue: Omit<WorkQueueOptions, 'process' | 'onError'>;
}

/** How long a scale write may take to show in the Deployment cache before it is not trusted. */
const PENDING_MS = 5_000;

export class Reconciler {
  #o: ReconcilerOptions;
  #queue: WorkQueue | undefined;
  #resync: NodeJS.Timeout | undefined;
  /**
   * Scale writes whose watch event has not arrived yet (by the resourceVersion the write returned):
   * until it does, the cache is behind, not drifted. Cleared by that event, or after PENDING_MS.
   */
  #pending = new Map<string, { resourceVersion: string; until: number }>();
  /**
   * The desired generation this leader has already brought the Deployment to. Together with the
   * status's observedGeneration (which survives failover, but is written after the scale), it tells
   * drift (the same generation again differs) from a new desired count.
   */
  #applied = new Map<string, number>();
  /** The last few resourceVersions the Deployment watch delivered per key (our write may arrive first). */
  #recent = new Map<string, string[]>();
  /** When a Deployment change for a key arrived, for the drift-to-restored histogram. */
  #changedAt = new Map<string, number>();

  constructor(o: ReconcilerOptions) {
    this.#o = o;
    o.store.onEvent((e) => {
      if (!this.#queue) return;
      if (e.type === 'hpa') {
        if (e.target) this.#queue.add(keyOf(e.namespace, e.target));
        return;
      }
      const key = keyOf(e.namespace, e.name);
      if (e.type === 'deployment') {
        if (this.#pending.get(key)?.resourceVersion === e.resourceVersion) {
          this.#pending.delete(key); // our own write, seen: later events are someone else's
        }
        const recent = this.#recent.get(key) ?? [];
        recent.push(e.resourceVersion);
        if (recent.length > 8) recent.shift();
        this.#recent.set(key, recent);
        if (e.kind === 'delete') this.#recent.delete(key);
      }
      if (e.type === 'deployment' && o.store.managedFor(e.namespace, e.name)) {
        this.#changedAt.set(key, performance.now());
        this.#queue.add(key);
      } else if (e.type === 'managed') this.#queue.add(key);
    });
  }

  get running(): boolean {
    return this.#queue !== undefined;
  }

  /** Called when this replica becomes the leader. */
  start(): void {
    if (this.#queue) return;
    const { metrics, logger } = this.#o;
    this.#queue = new WorkQueue({
      ...this.#o.queue,
      process: (key) => this.reconcile(key),
      onError: (key, err, retryInMs) => {
        metrics.reconciles.inc({ result: 'error' });
        logger.warn({ key, err: err instanceof Error ? err.message : String(err), retryInMs }, 'reconcile failed');
      },
    });
    this.#enqueueAll();
    this.#resync = setInterval(() => this.#enqueueAll(), this.#o.resyncIntervalMs);
    logger.info('reconciler started');
  }

  /** Called when leadership is lost or at shutdown; waits for in-flight reconciles. */
  async stop(): Promise<void> {
    const q = this.#queue;
    if (!q) return;
    this.#queue = undefined;
    clearInterval(this.#resync);
    await q.stop();
    this.#pending.clear();
    this.#recent.clear();
    this.#applied.clear();
    this.#changedAt.clear();
    this.#o.metrics.queueDepth.set(0);
    this.#o.logger.info('reconciler stopped');
  }

  #enqueueAll(): void {
    for (const m of this.#o.store.listManaged()) {
      this.#queue?.add(keyOf(m.metadata?.namespace ?? '', m.metadata?.name ?? ''));
    }
    this.#o.metrics.queueDepth.set(this.#queue?.depth ?? 0);
  }

  async reconcile(key: string): Promise<void> {
    const { store, writes, metrics, logger } = this.#o;
    metrics.queueDepth.set(this.#queue?.depth ?? 0);
    const [namespace, name] = key.split('/') as [string, string];
    const managed = store.managedFor(namespace, name);
    if (!managed) {
      this.#pending.delete(key);
      this.#applied.delete(key);
      return; // unmanaged: nothing to keep
    }
    const desired = managed.spec?.replicas ?? 0;
    const generation = managed.metadata?.generation ?? 0;
    const deployment = store.deployment(namespace, name);
    const hpa = store.hpaFor(namespace, name);
    const status: ManagedStatus = managed.status ?? {};
    const assessment = assess(desired, deployment, hpa);
    const next: ManagedStatus = {
      observedGeneration: generation,
      state: assessment.state,
      reason: assessment.reason,
      driftRestorations: status.driftRestorations ?? 0,
      ...(status.lastDriftRestoredAt ? { lastDriftRestoredAt: status.lastDriftRestoredAt } : {}),
    };

    if (assessment.state === 'drifted' && deployment) {
      const pending = this.#pending.get(key);
      if (pending && performance.now() < pending.until) {
        // Our own write is on its way through the watch, which will enqueue the key again; look
        // again when the wait expires in case it never comes (a relist skips it).
        this.#queue?.addAfter(key, pending.until - performance.now() + 1);
        return;
      }
      this.#pending.delete(key);
      const drift = this.#applied.get(key) === generation || status.observedGeneration === generation;
      const was = deployment.specReplicas;
      const written = await writes.scaleDeployment(namespace, name, desired);
      this.#applied.set(key, generation);
      if (!this.#recent.get(key)?.includes(written)) {
        this.#pending.set(key, { resourceVersion: written, until: performance.now() + PENDING_MS });
      }
      next.state = 'in_sync';
      next.reason = '';
      const uid = deployment.uid || undefined;
      if (drift) {
        const started = this.#changedAt.get(key);
        if (started !== undefined) metrics.driftRestoreSeconds.observe((performance.now() - started) / 1000);
        metrics.driftRestored.inc({ namespace });
        metrics.reconciles.inc({ result: 'drift_restored' });
        next.driftRestorations = (status.driftRestorations ?? 0) + 1;
        next.lastDriftRestoredAt = new Date().toISOString();
        logger.info({ namespace, name, was, desired }, 'drift restored');
        await this.#event(
          namespace,
          name,
          uid,
          'Normal',
          'DriftRestored',
          `spec.replicas was changed to ${was} outside deployment-api; restored to the desired ${desired}`,
        );
      } else {
        metrics.reconciles.inc({ result: 'scaled' });
        logger.info({ namespace, name, was, desired }, 'scaled to the desired count');
        await this.#event(namespace, name, uid, 'Normal', 'Scaled', `scaled from ${was} to the desired ${desired}`);
      }
    } else {
      if (assessment.state === 'in_sync') this.#applied.set(key, generation);
      metrics.reconciles.inc({ result: assessment.state });
      if (assessment.state === 'conflict' && status.state !== 'conflict') {
        await this.#event(namespace, name, deployment?.uid || undefined, 'Warning', 'HPAConflict', assessment.reason);
      }
    }
    this.#changedAt.delete(key);

    if (!sameStatus(status, next)) {
      try {
        await writes.patchManagedStatus(namespace, name, next);
      } catch (err) {
        if (err instanceof KubeError && err.status === 404) return; // unmanaged meanwhile
        throw err;
      }
    }
  }

  async #event(
    ns: string,
    name: string,
    uid: string | undefined,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ) {
    try {
      await this.#o.writes.deploymentEvent(ns, name, uid, type, reason, message, this.#o.identity);
    } catch (err) {
      // An Event is a record, not the work: failing to write one must not redo the scale.
      this.#o.logger.warn(
        { ns, name, reason, err: err instanceof Error ? err.message : String(err) },
        'event not recorded',
      );
    }
  }
}

function sameStatus(a: ManagedStatus, b: ManagedStatus): boolean {
  return (
    a.observedGeneration === b.observedGeneration &&
    a.state === b.state &&
    (a.reason ?? '') === (b.reason ?? '') &&
    (a.driftRestorations ?? 0) === (b.driftRestorations ?? 0) &&
    a.lastDriftRestoredAt === b.lastDriftRestoredAt
  );
}
