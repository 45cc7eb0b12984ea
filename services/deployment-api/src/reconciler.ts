// The reconciler: on the leader only, informer events enqueue `namespace/name` keys; reconcile(key)
// compares the cached desired state with the cached Deployment and scales through the scale
// subresource when they differ. A difference not caused by a new desired generation is drift made
// by another actor: it is restored, recorded as an Event on the Deployment, counted in a metric and
// in the object's status. An HPA targeting the Deployment makes the reconciler stand down.
import type { Logger } from '@sre-platform/service-kit';

import { assess, keyOf, type ManagedStatus } from './domain/model.ts';
import { KubeError } from './kube/client.ts';
import type { ClusterStore } from './kube/store.ts';
import type { DeploymentEvent, KubeWrites } from './kube/writes.ts';
import type { ApiMetrics } from './metrics.ts';
import { OwnWrites } from './own-writes.ts';
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

/** What one reconcile asks of its queue, as controller-runtime's `Result`: look again after a while, or done. */
export interface Result {
  requeueAfterMs?: number;
}
const DONE: Result = {};

/**
 * The state of one leadership term: its queue, its resync timer and what it knows about its own
 * writes. Created when leadership starts and dropped when it ends, so nothing crosses terms: a
 * reconcile still in flight from an earlier term reads and writes only its own term.
 */
class Term {
  readonly queue: WorkQueue;
  readonly ownWrites = new OwnWrites();
  /**
   * The desired generation this term has already brought the Deployment to. Together with the
   * status's observedGeneration (which survives failover, but is written after the scale), it tells
   * drift (the same generation again differs) from a new desired count.
   */
  readonly applied = new Map<string, number>();
  /** When a Deployment change for a key arrived, for the drift-to-restored histogram. */
  readonly changedAt = new Map<string, number>();
  #resync: NodeJS.Timeout;

  constructor(
    queue: Omit<WorkQueueOptions, 'process'>,
    reconcile: (term: Term, key: string) => Promise<Result>,
    resync: () => void,
    resyncIntervalMs: number,
  ) {
    this.queue = new WorkQueue({
      ...queue,
      process: async (key) => {
        const result = await reconcile(this, key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      },
    });
    this.#resync = setInterval(resync, resyncIntervalMs);
  }

  /** Stops taking work and its resync; resolves when its in-flight reconciles are done. */
  async stop(): Promise<void> {
    clearInterval(this.#resync);
    await this.queue.stop();
  }
}

export class Reconciler {
  #o: ReconcilerOptions;
  #term: Term | undefined;

  constructor(o: ReconcilerOptions) {
    this.#o = o;
    o.store.onEvent((e) => {
      const term = this.#term;
      if (!term) return;
      if (e.type === 'hpa') {
        if (e.target) term.queue.add(keyOf(e.namespace, e.target));
        return;
      }
      const key = keyOf(e.namespace, e.name);
      if (e.type === 'deployment') term.ownWrites.observed(key, e.resourceVersion, e.kind === 'delete');
      if (e.type === 'deployment' && o.store.managedFor(e.namespace, e.name)) {
        term.changedAt.set(key, performance.now());
        term.queue.add(key);
      } else if (e.type === 'managed') term.queue.add(key);
    });
  }

  get running(): boolean {
    return this.#term !== undefined;
  }

  /** Called when this replica becomes the leader: a new term. */
  start(): void {
    if (this.#term) return;
    const { metrics, logger } = this.#o;
    const term: Term = new Term(
      {
        ...this.#o.queue,
        onError: (key, err, retryInMs) => {
          metrics.reconciles.inc({ result: 'error' });
          logger.warn({ key, err: err instanceof Error ? err.message : String(err), retryInMs }, 'reconcile failed');
        },
      },
      (t, key) => this.#reconcile(t, key),
      () => this.#enqueueAll(term),
      this.#o.resyncIntervalMs,
    );
    this.#term = term;
    this.#enqueueAll(term);
    logger.info('reconciler started');
  }

  /** Called when leadership is lost or at shutdown; ends the term and waits for its in-flight reconciles. */
  async stop(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    this.#term = undefined;
    await term.stop();
    if (!this.#term) this.#o.metrics.queueDepth.set(0); // unless a new term started meanwhile
    this.#o.logger.info('reconciler stopped');
  }

  #enqueueAll(term: Term): void {
    for (const m of this.#o.store.listManaged()) {
      term.queue.add(keyOf(m.metadata?.namespace ?? '', m.metadata?.name ?? ''));
    }
    this.#o.metrics.queueDepth.set(term.queue.depth);
  }

  async #reconcile(term: Term, key: string): Promise<Result> {
    const { store, writes, metrics, logger } = this.#o;
    metrics.queueDepth.set(term.queue.depth);
    const [namespace, name] = key.split('/') as [string, string];
    const managed = store.managedFor(namespace, name);
    if (!managed) {
      term.ownWrites.forget(key);
      term.applied.delete(key);
      return DONE; // unmanaged: nothing to keep
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
      const awaiting = term.ownWrites.awaitingMs(key);
      if (awaiting !== undefined) {
        // Our own write is on its way through the watch, which will enqueue the key again; look
        // again when the wait expires in case it never comes (a relist skips it).
        return { requeueAfterMs: awaiting + 1 };
      }
      const drift = term.applied.get(key) === generation || status.observedGeneration === generation;
      const was = deployment.specReplicas;
      const written = await writes.scaleDeployment(namespace, name, desired);
      term.applied.set(key, generation);
      term.ownWrites.wrote(key, written);
      next.state = 'in_sync';
      next.reason = '';
      const uid = deployment.uid || undefined;
      if (drift) {
        const started = term.changedAt.get(key);
        if (started !== undefined) metrics.driftRestoreSeconds.observe((performance.now() - started) / 1000);
        metrics.driftRestored.inc({ namespace });
        metrics.reconciles.inc({ result: 'drift_restored' });
        next.driftRestorations = (status.driftRestorations ?? 0) + 1;
        next.lastDriftRestoredAt = new Date().toISOString();
        logger.info({ namespace, name, was, desired }, 'drift restored');
        await this.#event({
          namespace,
          name,
          uid,
          type: 'Normal',
          reason: 'DriftRestored',
          message: `spec.replicas was changed to ${was} outside deployment-api; restored to the desired ${desired}`,
        });
      } else {
        metrics.reconciles.inc({ result: 'scaled' });
        logger.info({ namespace, name, was, desired }, 'scaled to the desired count');
        const message = `scaled from ${was} to the desired ${desired}`;
        await this.#event({ namespace, name, uid, type: 'Normal', reason: 'Scaled', message });
      }
    } else {
      if (assessment.state === 'in_sync') term.applied.set(key, generation);
      metrics.reconciles.inc({ result: assessment.state });
      if (assessment.state === 'conflict' && status.state !== 'conflict') {
        const uid = deployment?.uid || undefined;
        await this.#event({ namespace, name, uid, type: 'Warning', reason: 'HPAConflict', message: assessment.reason });
      }
    }
    term.changedAt.delete(key);

    if (!sameStatus(status, next)) {
      try {
        await writes.patchManagedStatus(namespace, name, next);
      } catch (err) {
        if (err instanceof KubeError && err.status === 404) return DONE; // unmanaged meanwhile
        throw err;
      }
    }
    return DONE;
  }

  async #event(event: DeploymentEvent) {
    try {
      await this.#o.writes.deploymentEvent(event, this.#o.identity);
    } catch (err) {
      // An Event is a record, not the work: failing to write one must not redo the scale.
      const { namespace: ns, name, reason } = event;
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
