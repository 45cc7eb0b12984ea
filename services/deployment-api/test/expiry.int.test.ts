// Watch expiry (410 Gone) forced on the real apiserver: the server is cut off through the TCP proxy,
// the Deployments it watches change while it cannot see them, and the apiserver's watch history moves
// past the resourceVersion its watch would resume from. When the path comes back, resuming must fail
// with 410, the cache must relist and show the cluster as it is, deletions included.
//
// Why it takes a while: the apiserver serves watches from its watch cache, which keeps at least the
// last 75 s of events (EventsHistoryWindow) and doubles its buffer rather than drop younger events.
// So the history has to age past 75 s, and then enough Deployment events must follow to push the old
// ones out of the buffer (100 events when nothing else made it grow). The test does not rely on those
// figures: it asks the apiserver itself, with a probe watch from the cut-off resourceVersion, until
// that probe gets 410, and only then restores the path.
import { setTimeout as sleep } from 'node:timers/promises';

import * as k8s from '@kubernetes/client-node';
import { kubeConfig, useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { useApiserverProxies } from './proxy.ts';
import {
  apps,
  clientFor,
  createDeployment,
  eventually,
  metricValue,
  scaleBehindTheBack,
  useServers,
} from './harness.ts';

const ns = useNamespace('dapi-410');
// Registered before the servers, so that after a test its servers are killed before its proxies stop.
const viaProxy = useApiserverProxies();
const { pki, start } = useServers(ns, { stopSignal: 'SIGKILL' });

/** How long the test lets the apiserver's watch history age before writing (75 s window + margin). */
const HISTORY_WINDOW_MS = 80_000;
const CHURN_BATCH = 25;

/**
 * Whether a watch from `resourceVersion` is refused as expired right now. A watch that is not
 * expired gets the events since then at once (the test writes some), so the first event decides.
 */
async function watchExpired(path: string, resourceVersion: string): Promise<boolean> {
  const watch = new k8s.Watch(kubeConfig());
  let settled = false;
  let controller: AbortController | undefined;
  const verdict = new Promise<boolean>((resolve, reject) => {
    const settle = (result: boolean | Error) => {
      if (settled) return;
      settled = true;
      controller?.abort();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    watch
      .watch(
        path,
        { resourceVersion, timeoutSeconds: 10 },
        (phase, obj: { code?: number }) => settle(phase === 'ERROR' && obj.code === 410),
        (err: unknown) => {
          if ((err as { statusCode?: number } | null)?.statusCode === 410) settle(true);
          else if (err) settle(err instanceof Error ? err : new Error(JSON.stringify(err)));
          else settle(new Error('probe watch ended without an event'));
        },
      )
      .then(
        (c) => {
          controller = c;
          if (settled) c.abort();
        },
        (err: unknown) => settle(err instanceof Error ? err : new Error(JSON.stringify(err))),
      );
  });
  return verdict;
}

/** The metric series of watches restarted because their resourceVersion expired. */
const EXPIRED = ['deployment_api_watch_restarts_total', 'informer="deployments",reason="expired"'] as const;

describe('deployment-api watch expiry', () => {
  it(
    'a watch resumed from an expired resourceVersion gets 410 Gone, relists and converges',
    { timeout: 420_000 },
    async () => {
      await createDeployment(ns.name, 'kept', 1);
      await createDeployment(ns.name, 'removed', 1);
      await createDeployment(ns.name, 'churn', 0);

      const { proxy, kubeconfig } = await viaProxy(pki.dir);
      const s = await start({ KUBECONFIG: kubeconfig });
      const api = clientFor(s, pki, pki.operator);
      const names = async () =>
        (await api.listDeployments({ namespace: ns.name })).deployments.map((d) => d.ref?.name).sort();
      await eventually('the cache holding the three Deployments', async () =>
        (await names()).length === 3 ? true : undefined,
      );
      expect(await metricValue(s, ...EXPIRED)).toBe(0);

      // Cut off: every connection closed, new ones refused. The server notices (readiness fails).
      await proxy.stop();
      await eventually('readiness failing', async () =>
        (await fetch(`${s.probeUrl}/readyz`)).status === 503 ? true : undefined,
      );
      // The server's watch position can only be at or before this resourceVersion.
      const cut = (await apps().listNamespacedDeployment({ namespace: ns.name })).metadata?.resourceVersion;
      expect(cut).toBeTruthy();

      // What the server must find out about through a relist: a scale, a deletion, a creation.
      await scaleBehindTheBack(ns.name, 'kept', 3);
      await apps().deleteNamespacedDeployment({ namespace: ns.name, name: 'removed' });
      await createDeployment(ns.name, 'added', 2);

      // Age the history past the apiserver's window, then write until it has dropped the cut-off point.
      const path = `/apis/apps/v1/namespaces/${ns.name}/deployments`;
      const cutAt = Date.now();
      let writes = 0;
      for (;;) {
        if (await watchExpired(path, cut!)) break;
        if (Date.now() - cutAt > 300_000) throw new Error(`resourceVersion ${cut} not expired after ${writes} writes`);
        if (Date.now() - cutAt < HISTORY_WINDOW_MS) {
          await sleep(2000);
          continue;
        }
        for (let i = 0; i < CHURN_BATCH; i++, writes++) {
          await apps().patchNamespacedDeployment(
            { namespace: ns.name, name: 'churn', body: { metadata: { annotations: { churn: String(writes) } } } },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
        }
      }
      // The figures the README quotes (how long and how many writes the apiserver took to expire it).
      process.stderr.write(
        `watch from resourceVersion ${cut} expired after ${Math.round((Date.now() - cutAt) / 1000)} s and ${writes} writes\n`,
      );

      await proxy.start();
      // Within the informer's restart backoff (capped at 10 s) plus the relist; generous for loaded CI.
      await eventually(
        'the resumed watch refused with 410 Gone',
        async () => ((await metricValue(s, ...EXPIRED)) >= 1 ? true : undefined),
        60_000,
      );
      await eventually(
        'readiness back',
        async () => ((await fetch(`${s.probeUrl}/readyz`)).status === 200 ? true : undefined),
        60_000,
      );
      // The relisted cache is the cluster as it is now: deletion, creation and scale all seen.
      await eventually('the cache converged', async () =>
        JSON.stringify(await names()) === JSON.stringify(['added', 'churn', 'kept']) ? true : undefined,
      );
      const kept = await api.getDeployment({ ref: { namespace: ns.name, name: 'kept' } });
      expect(kept.deployment?.specReplicas).toBe(3);
      const added = await api.getDeployment({ ref: { namespace: ns.name, name: 'added' } });
      expect(added.deployment?.specReplicas).toBe(2);
      expect(s.process.child.exitCode).toBeNull();
    },
  );
});
