// The API against the run's real control plane: reads from the caches, writes of desired state,
// the reconciler scaling and restoring drift (Event + metric), and every error the API promises.
import { Code } from '@connectrpc/connect';
import * as k8s from '@kubernetes/client-node';
import { kubeConfig, useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { ConflictDetailSchema } from '../src/gen/sre_platform/deployments/v1/deployments_pb.js';
import { CPU_AT_80 } from './fixtures.ts';
import {
  apps,
  clientFor,
  createDeployment,
  createHpa,
  eventually,
  failure,
  scaleBehindTheBack,
  useServers,
  type Pki,
  type Server,
} from './harness.ts';

const ns = useNamespace('dapi');
const { pki, start } = useServers(ns);

describe('deployment-api against a real apiserver', () => {
  it('lists, gets, sets (the Deployment follows, pods too) and unmanages', async () => {
    await createDeployment(ns.name, 'web', 1, { tier: 'front' });
    await createDeployment(ns.name, 'db', 2, { tier: 'back' });
    const s = await start();
    const api = clientFor(s, pki, pki.operator);

    const all = await eventually('both deployments in the cache', async () => {
      const r = await api.listDeployments({ namespace: ns.name });
      return r.deployments.length === 2 ? r : undefined;
    });
    expect(all.deployments.map((d) => d.ref?.name)).toEqual(['db', 'web']);
    const front = await api.listDeployments({ namespace: ns.name, labelSelector: 'tier in (front)' });
    expect(front.deployments.map((d) => d.ref?.name)).toEqual(['web']);
    const paged = await api.listDeployments({ namespace: ns.name, pageSize: 1 });
    expect(paged.deployments.map((d) => d.ref?.name)).toEqual(['db']);
    const page2 = await api.listDeployments({ namespace: ns.name, pageSize: 1, pageToken: paged.nextPageToken });
    expect(page2.deployments.map((d) => d.ref?.name)).toEqual(['web']);
    expect(page2.nextPageToken).toBe('');

    const got = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
    expect(got.deployment?.specReplicas).toBe(1);
    expect(got.deployment?.management).toBeUndefined();

    const set = await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: 3 });
    expect(set.deployment?.management?.desiredReplicas).toBe(3);

    // The reconciler scales the Deployment; kwok's simulated pods become ready.
    const synced = await eventually('web at 3 ready replicas and in sync', async () => {
      const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
      const d = r.deployment!;
      return d.specReplicas === 3 && d.readyReplicas === 3 && d.management?.state === 'in_sync' ? d : undefined;
    });
    expect(synced.availableReplicas).toBe(3);
    expect((await api.diff({ namespace: ns.name })).entries).toEqual([]);

    // The desired state is a ManagedDeployment in the cluster.
    const custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const md = (await custom.getNamespacedCustomObject({
      group: 'deployments.sre-platform.dev',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'manageddeployments',
      name: 'web',
    })) as { spec: { replicas: number } };
    expect(md.spec.replicas).toBe(3);

    expect((await api.unmanage({ ref: { namespace: ns.name, name: 'web' } })).wasManaged).toBe(true);
    await eventually('web unmanaged', async () => {
      const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
      return r.deployment?.management === undefined ? true : undefined;
    });
    // Unmanaged: a scale behind its back stays.
    await scaleBehindTheBack(ns.name, 'web', 1);
    await eventually('web at 1 in the cache', async () => {
      const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
      return r.deployment?.specReplicas === 1 ? true : undefined;
    });
    expect((await api.unmanage({ ref: { namespace: ns.name, name: 'web' } })).wasManaged).toBe(false);
  });

  it('restores drift made behind its back, with an Event and a metric', async () => {
    await createDeployment(ns.name, 'api', 1);
    const s = await start();
    const api = clientFor(s, pki, pki.operator);
    await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'api' }, replicas: 2 });
    await eventually('api in sync at 2', async () => {
      const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'api' } });
      return r.deployment?.specReplicas === 2 && r.deployment.management?.state === 'in_sync' ? true : undefined;
    });

    await scaleBehindTheBack(ns.name, 'api', 5);
    const restored = await eventually('api restored to 2 with a drift counted', async () => {
      const d = await apps().readNamespacedDeployment({ namespace: ns.name, name: 'api' });
      const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'api' } });
      return d.spec?.replicas === 2 && r.deployment?.management?.driftRestorations === 1n ? r : undefined;
    });
    expect(restored.deployment?.management?.state).toBe('in_sync');

    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const events = await eventually('a DriftRestored event', async () => {
      const list = await core.listNamespacedEvent({ namespace: ns.name });
      const found = list.items.filter((e) => e.reason === 'DriftRestored' && e.involvedObject.name === 'api');
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]!.message).toContain('restored to the desired 2');
    const uid = (await apps().readNamespacedDeployment({ namespace: ns.name, name: 'api' })).metadata?.uid;
    expect(events[0]!.involvedObject.uid).toBe(uid); // what kubectl describe matches on
    // Drift again right after each restore (the echo of the server's own write may still be in
    // flight): every one is restored.
    for (const [round, drifted] of [5, 6, 7].entries()) {
      await scaleBehindTheBack(ns.name, 'api', drifted);
      await eventually(`round ${round} restored`, async () => {
        const d = await apps().readNamespacedDeployment({ namespace: ns.name, name: 'api' });
        const r = await api.getDeployment({ ref: { namespace: ns.name, name: 'api' } });
        return d.spec?.replicas === 2 && r.deployment?.management?.driftRestorations === BigInt(round + 2)
          ? true
          : undefined;
      });
    }
    const metrics = await (await fetch(`${s.probeUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`deployment_api_drift_restored_total\\{namespace="${ns.name}"\\} 4`));

    // The Deployment deleted while managed: the desired state stays and the diff says what is missing.
    await apps().deleteNamespacedDeployment({ namespace: ns.name, name: 'api' });
    const missing = await eventually('the missing Deployment in the diff', async () => {
      const r = await api.diff({ namespace: ns.name });
      return r.entries[0]?.state === 'deployment_missing' ? r.entries[0] : undefined;
    });
    expect(missing).toMatchObject({ desiredReplicas: 2, specReplicas: -1 });
  });

  it('refuses what it must: unknown 404, bad count 400, HPA 409, stale version 409', async () => {
    await createDeployment(ns.name, 'web', 1);
    await createDeployment(ns.name, 'scaled', 1);
    await createHpa(ns.name, 'scaled-hpa', 'scaled', CPU_AT_80);
    const s = await start();
    const api = clientFor(s, pki, pki.operator);
    const json = clientFor(s, pki, pki.operator, 'connect');
    await eventually('caches with both', async () =>
      (await api.listDeployments({ namespace: ns.name })).deployments.length === 2 ? true : undefined,
    );

    const missing = await failure(api.getDeployment({ ref: { namespace: ns.name, name: 'nope' } }));
    expect(missing.code).toBe(Code.NotFound);
    expect(
      (await failure(api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'nope' }, replicas: 1 }))).code,
    ).toBe(Code.NotFound);
    const negative = await failure(api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: -1 }));
    expect(negative.code).toBe(Code.InvalidArgument);
    expect(negative.rawMessage).toContain('replicas must be from 0 to 1000');
    expect((await failure(api.getDeployment({ ref: { namespace: 'Bad_NS', name: 'web' } }))).code).toBe(
      Code.InvalidArgument,
    );
    expect((await failure(api.listDeployments({ labelSelector: 'a in (' }))).code).toBe(Code.InvalidArgument);

    const hpa = await eventually('the HPA in the cache', async () => {
      const e = await failure(api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'scaled' }, replicas: 2 }));
      return e.code === Code.Aborted ? e : undefined;
    });
    expect(hpa.rawMessage).toContain('HorizontalPodAutoscaler scaled-hpa');
    expect(hpa.findDetails(ConflictDetailSchema)[0]).toMatchObject({ reason: 'hpa', subject: 'scaled-hpa' });

    const first = await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: 2 });
    const v1 = first.deployment!.management!.version;
    const second = await api.setDesiredReplicas({
      ref: { namespace: ns.name, name: 'web' },
      replicas: 3,
      expectedVersion: v1,
    });
    const v2 = second.deployment!.management!.version;
    expect(v2).not.toBe(v1);
    const stale = await failure(
      api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: 4, expectedVersion: v1 }),
    );
    expect(stale.code).toBe(Code.Aborted);
    expect(stale.findDetails(ConflictDetailSchema)[0]?.reason).toBe('stale_version');
    expect((await failure(api.unmanage({ ref: { namespace: ns.name, name: 'web' }, expectedVersion: v1 }))).code).toBe(
      Code.Aborted,
    );

    // An HPA that appears after the Deployment became managed: the reconciler stands down and the
    // diff shows the conflict.
    await createHpa(ns.name, 'late-hpa', 'web');
    const diff = await eventually('the conflict in the diff', async () => {
      const r = await api.diff({ namespace: ns.name });
      return r.entries.length === 1 ? r.entries[0] : undefined;
    });
    expect(diff).toMatchObject({ state: 'conflict', desiredReplicas: 3 });
    expect(diff.reason).toContain('late-hpa');
    await kubeConfig()
      .makeApiClient(k8s.AutoscalingV2Api)
      .deleteNamespacedHorizontalPodAutoscaler({ namespace: ns.name, name: 'late-hpa' });

    // The same errors as HTTP statuses for JSON clients (Connect protocol over HTTP/1.1).
    const res = await rawJson(s, pki, 'GetDeployment', { ref: { namespace: ns.name, name: 'nope' } });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'not_found' });
    const conflict = await rawJson(s, pki, 'SetDesiredReplicas', {
      ref: { namespace: ns.name, name: 'web' },
      replicas: 4,
      expectedVersion: v1,
    });
    expect(conflict.status).toBe(409);
    const bad = await rawJson(s, pki, 'SetDesiredReplicas', { ref: { namespace: ns.name, name: 'web' }, replicas: -5 });
    expect(bad.status).toBe(400);
    expect(
      (await json.getDeployment({ ref: { namespace: ns.name, name: 'web' } })).deployment?.management?.desiredReplicas,
    ).toBe(3);
    // Read methods also answer GET (cacheable, curl-friendly), per the Connect protocol.
    const query = new URLSearchParams({
      connect: 'v1',
      encoding: 'json',
      message: JSON.stringify({ ref: { namespace: ns.name, name: 'web' } }),
    });
    const viaGet = await rawRequest(s, pki, 'GET', `GetDeployment?${query.toString()}`);
    expect(viaGet.status).toBe(200);
    expect(viaGet.body).toMatchObject({ deployment: { ref: { name: 'web' }, management: { desiredReplicas: 3 } } });
  });
});

function rawJson(s: Server, pki: Pki, method: string, body: unknown) {
  return rawRequest(s, pki, 'POST', method, JSON.stringify(body));
}

async function rawRequest(
  s: Server,
  pki: Pki,
  verb: 'GET' | 'POST',
  path: string,
  payload?: string,
): Promise<{ status: number; body: unknown }> {
  const { request } = await import('node:https');
  const url = new URL(`${s.apiUrl}/sre_platform.deployments.v1.DeploymentService/${path}`);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: verb,
        ca: pki.ca.cert,
        cert: pki.operator.cert,
        key: pki.operator.key,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
