// The reconciler against an in-memory cluster view and writes whose replies the test releases: no
// cluster, no sleeping. Time (timers and performance.now) is faked, so nothing depends on speed.
import type { Logger } from '@sre-platform/service-kit';
import { Registry } from '@sre-platform/service-kit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { DeploymentView, ManagedDeployment, ManagedStatus } from '../src/domain/model.ts';
import type { ClusterStore, StoreEvent } from '../src/kube/store.ts';
import type { DeploymentEvent, KubeWrites } from '../src/kube/writes.ts';
import { createApiMetrics } from '../src/metrics.ts';
import { Reconciler } from '../src/reconciler.ts';
import { deploymentView } from './fixtures.ts';

const NS = 'ns';
const RESYNC_MS = 60_000;

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every already-settled promise chain run to its end (a fixed number of microtask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** A cluster view the test edits, and writes that record their calls (a scale may be held back). */
function fakeCluster() {
  const managed = new Map<string, ManagedDeployment>();
  const deployments = new Map<string, DeploymentView>();
  const listeners: ((e: StoreEvent) => void)[] = [];
  const scales: { name: string; replicas: number }[] = [];
  const events: { name: string; reason: string }[] = [];
  const held = new Map<string, { promise: Promise<string>; resolve: (rv: string) => void }>();
  let rv = 100;

  const manage = (name: string, replicas: number, specReplicas: number) => {
    managed.set(name, { metadata: { name, namespace: NS, generation: 1 }, spec: { replicas }, status: {} });
    deployments.set(name, deploymentView(specReplicas, { namespace: NS, name }));
  };
  const store = {
    onEvent: (l: (e: StoreEvent) => void) => void listeners.push(l),
    managedFor: (_ns: string, name: string) => managed.get(name),
    listManaged: () => [...managed.values()],
    deployment: (_ns: string, name: string) => deployments.get(name),
    hpaFor: () => undefined,
  } as unknown as ClusterStore;
  const writes = {
    scaleDeployment: async (_ns: string, name: string, replicas: number) => {
      scales.push({ name, replicas });
      const h = held.get(name);
      if (h) {
        held.delete(name);
        return h.promise;
      }
      return String(++rv); // the watch event for this write has not arrived: the cache is behind
    },
    deploymentEvent: async ({ name, reason }: DeploymentEvent) => void events.push({ name, reason }),
    patchManagedStatus: async (_ns: string, name: string, status: ManagedStatus) => {
      const m = managed.get(name);
      if (m) m.status = status;
    },
  } as unknown as KubeWrites;
  return {
    store,
    writes,
    scales,
    events,
    manage,
    emit: (e: StoreEvent) => listeners.forEach((l) => l(e)),
    /** The next scale of `name` waits until the test resolves it with a resourceVersion. */
    holdScale: (name: string) => {
      const d = deferred<string>();
      held.set(name, d);
      return d;
    },
  };
}

function newReconciler(cluster: ReturnType<typeof fakeCluster>) {
  const metrics = createApiMetrics(new Registry(), () => ({}));
  const logger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
  const reconciler = new Reconciler({
    store: cluster.store,
    writes: cluster.writes,
    metrics,
    logger,
    identity: 'test',
    resyncIntervalMs: RESYNC_MS,
    queue: { workers: 2, qps: 1000, burst: 1000, backoffBaseMs: 5, backoffCapMs: 40 },
  });
  return { reconciler, metrics };
}

describe('Reconciler leadership terms', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("losing and regaining leadership while a reconcile is in flight keeps the new term's state and work", async () => {
    const cluster = fakeCluster();
    const { reconciler, metrics } = newReconciler(cluster);
    cluster.manage('a', 3, 1);
    const slow = cluster.holdScale('a');

    reconciler.start(); // term 1: reconciles a, whose scale write hangs
    await settle();
    expect(cluster.scales).toEqual([{ name: 'a', replicas: 3 }]);

    const stopped = reconciler.stop(); // leadership lost: waits for a's reconcile
    reconciler.start(); // regained before that reconcile ends: term 2
    await settle();

    // Term 2 scales b; the watch has not shown that write yet, so the cache is behind.
    cluster.manage('b', 3, 1);
    cluster.emit({ type: 'managed', namespace: NS, name: 'b', kind: 'add' });
    await settle();
    expect(cluster.scales.filter((s) => s.name === 'b')).toHaveLength(1);

    // Term 1's reconcile ends, and with it term 1's stop.
    slow.resolve('150');
    await stopped;
    await settle();

    // b's status write comes back through the watch before the Deployment event does: the cache is
    // still behind term 2's own write, which must not be taken for drift and written again.
    cluster.emit({ type: 'managed', namespace: NS, name: 'b', kind: 'update' });
    await settle();
    expect(cluster.scales.filter((s) => s.name === 'b')).toHaveLength(1);
    expect(cluster.events.filter((e) => e.name === 'b').map((e) => e.reason)).toEqual(['Scaled']);
    expect((await metrics.driftRestored.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);
    expect(reconciler.running).toBe(true);

    // Term 2's scheduled work still runs: the periodic resync reconciles both keys again.
    const before = (await metrics.reconciles.get()).values.reduce((n, v) => n + v.value, 0);
    cluster.emit({ type: 'deployment', namespace: NS, name: 'a', kind: 'update', resourceVersion: '150' });
    cluster.emit({ type: 'deployment', namespace: NS, name: 'b', kind: 'update', resourceVersion: '101' });
    cluster.manage('a', 3, 3); // both Deployments now show the desired count
    cluster.manage('b', 3, 3);
    await settle();
    await vi.advanceTimersByTimeAsync(RESYNC_MS);
    await settle();
    const after = (await metrics.reconciles.get()).values.reduce((n, v) => n + v.value, 0);
    expect(after).toBeGreaterThan(before);

    await reconciler.stop();
    expect(reconciler.running).toBe(false);
  });
});
