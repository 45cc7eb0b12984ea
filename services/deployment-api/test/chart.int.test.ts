// The Helm chart: lint, what it renders, and a real install and upgrade on the run's cluster.
// kwok simulates pods (no container runs), so "no failed request during the upgrade" is checked as
// what the Service can route to: ready endpoints never drop below the replica count during the
// rolling update. The RBAC is checked for real: the server runs locally under the chart's
// ServiceAccount token and must be able to do its whole job with nothing more.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { kubeConfig, useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import {
  apps,
  createTlsSecret,
  helm as helmWith,
  clientFor,
  createDeployment,
  eventually,
  scaleBehindTheBack,
  SERVICE_DIR,
  useServers,
} from './harness.ts';

const CHART = join(SERVICE_DIR, 'chart');
const ns = useNamespace('dapi-chart');
const { pki, start } = useServers(ns);

const helm = (...args: string[]) => helmWith(pki, ...args);
const sets = (set: string[]) => set.flatMap((s) => ['--set', s]);

/** `helm install` or `upgrade` of the release in the test's namespace, waiting for it to be ready. */
const release = (verb: 'install' | 'upgrade', ...set: string[]) =>
  helm(verb, 'dapi', CHART, '--namespace', ns.name, ...sets(set), '--wait', '--timeout', '90s');

async function render(...set: string[]): Promise<k8s.KubernetesObject[]> {
  const out = await helm('template', 'rel', CHART, '--namespace', 'ops', ...sets(set));
  return (k8s.loadAllYaml(out) as (k8s.KubernetesObject | null)[]).filter((o): o is k8s.KubernetesObject => o !== null);
}

const find = <T extends k8s.KubernetesObject>(objs: k8s.KubernetesObject[], kind: string, name?: string) =>
  objs.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name)) as T | undefined;

describe('deployment-api chart', () => {
  it('lints clean with defaults and with every optional part on', async () => {
    for (const set of [
      [],
      ['tls.mode=certManager', 'serviceMonitor.enabled=true', 'networkPolicy.enabled=true', 'scope=namespace'],
    ]) {
      const out = await helm('lint', '--strict', CHART, ...sets(set));
      expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  it('renders a hardened, highly available Deployment and least-privilege RBAC', async () => {
    const objs = await render();
    const d = find<k8s.V1Deployment>(objs, 'Deployment')!;
    expect(d.spec?.replicas).toBeGreaterThanOrEqual(2);
    expect(d.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(c.startupProbe).toBeDefined();
    expect(c.resources?.limits?.['memory']).toBeDefined();
    expect(c.env?.find((e) => e.name === 'HOST')?.value).toBe('0.0.0.0');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(15); // > shutdown delay + timeout
    expect(pod.topologySpreadConstraints).toHaveLength(1);
    expect(find(objs, 'PodDisruptionBudget')).toBeDefined();
    expect(find(objs, 'Service')).toBeDefined();
    expect(find(objs, 'ServiceAccount')).toBeDefined();
    for (const o of objs)
      expect(o.metadata?.labels?.['app.kubernetes.io/part-of'], `${o.kind} labels`).toBe('sre-platform');

    const role = find<k8s.V1ClusterRole>(objs, 'ClusterRole')!;
    const verbs = Object.fromEntries(role.rules!.map((r) => [`${r.apiGroups![0]}/${r.resources![0]}`, r.verbs]));
    expect(verbs).toEqual({
      'apps/deployments': ['list', 'watch'],
      'apps/deployments/scale': ['patch'],
      'autoscaling/horizontalpodautoscalers': ['list', 'watch'],
      'deployments.sre-platform.dev/manageddeployments': [
        'get',
        'list',
        'watch',
        'create',
        'patch',
        'update',
        'delete',
      ],
      'deployments.sre-platform.dev/manageddeployments/status': ['patch'],
      '/events': ['create'],
    });
    expect(JSON.stringify(objs)).not.toMatch(/"\*"/);
    expect(find(objs, 'Role', 'rel-deployment-api-leader-election')).toBeDefined();
  });

  it('renders cert-manager certificates, a ServiceMonitor and a namespace-scoped Role on request', async () => {
    const objs = await render('tls.mode=certManager', 'serviceMonitor.enabled=true', 'scope=namespace');
    const certs = objs.filter((o) => o.kind === 'Certificate') as (k8s.KubernetesObject & {
      spec: Record<string, unknown>;
    })[];
    expect(certs.map((c) => c.spec['secretName'])).toEqual([
      'rel-deployment-api-tls',
      'rel-deployment-api-test-client',
    ]);
    expect(find(objs, 'ServiceMonitor')).toBeDefined();
    expect(find(objs, 'ClusterRole')).toBeUndefined();
    const d = find<k8s.V1Deployment>(objs, 'Deployment')!;
    expect(d.spec!.template.spec!.containers[0]!.env!.some((e) => e.name === 'WATCH_NAMESPACE')).toBe(true);
  });

  it('refuses values its schema does not allow', async () => {
    await expect(render('replicaCount=0')).rejects.toThrow(/replicaCount/);
    await expect(render('tls.mode=plaintext')).rejects.toThrow(/tls\.mode|mode/);
    await expect(render('image.digest=latest')).rejects.toThrow(/digest/);
  });

  it('installs, serves its job under the chart RBAC alone, and upgrades without losing ready endpoints', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await createTlsSecret(pki, ns.name);
    await release('install', 'scope=namespace');
    const deployment = 'dapi-deployment-api';
    const ready = await apps().readNamespacedDeployment({ namespace: ns.name, name: deployment });
    expect(ready.status?.readyReplicas).toBe(2);

    // The server, run here under the chart's ServiceAccount: list, set, restore drift, events, lease.
    const token = await core.createNamespacedServiceAccountToken({
      namespace: ns.name,
      name: deployment,
      body: { spec: { expirationSeconds: 3600 } },
    });
    const base = kubeConfig();
    const c = base.getCurrentCluster()!;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...c, name: 'test' }],
      users: [{ name: 'sa', token: token.status!.token }],
      contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
      currentContext: 'sa',
    });
    const file = join(pki.dir, `kubeconfig-sa-${ns.name}`);
    writeFileSync(file, kc.exportConfig());
    await createDeployment(ns.name, 'web', 1);
    const server = await start({ KUBECONFIG: file, LEASE_NAME: `${deployment}-leader` });
    const api = clientFor(server, pki, pki.operator);
    await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: 2 });
    const spec = async () =>
      (await apps().readNamespacedDeployment({ namespace: ns.name, name: 'web' })).spec?.replicas;
    await eventually('scaled under the chart RBAC', async () => ((await spec()) === 2 ? true : undefined));
    await scaleBehindTheBack(ns.name, 'web', 3);
    await eventually('drift restored under the chart RBAC', async () => ((await spec()) === 2 ? true : undefined));
    await api.unmanage({ ref: { namespace: ns.name, name: 'web' } });
    await server.process.stop();

    // Upgrade (a changed pod template rolls every pod) while watching what the Service can route to.
    let minReady = Number.POSITIVE_INFINITY;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const d = await apps().readNamespacedDeployment({ namespace: ns.name, name: deployment });
        minReady = Math.min(minReady, d.status?.availableReplicas ?? 0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await release('upgrade', 'scope=namespace', 'podAnnotations.rollout=second');
    watching = false;
    await watcher;
    const after = await apps().readNamespacedDeployment({ namespace: ns.name, name: deployment });
    expect(after.spec?.template.metadata?.annotations?.['rollout']).toBe('second');
    expect(after.status?.updatedReplicas).toBe(2);
    expect(minReady).toBeGreaterThanOrEqual(2);
    expect(await helm('history', 'dapi', '--namespace', ns.name, '-o', 'json')).toContain('"revision":2');
    await helm('uninstall', 'dapi', '--namespace', ns.name, '--wait');
  });
});
