// The chart on the real node: the image built from this service's Dockerfile, installed by Helm, serving mTLS
// through its Service while `helm upgrade` rolls every pod, with clients sending requests without pause all the
// while. Each pod uses the in-cluster API (its ServiceAccount token) under the chart's RBAC. Pass: not one failed
// request, and the upgrade really replaced every pod.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import { cluster, kubeConfig, REAL_NODE, startRealNode, useNamespace } from '@sre-platform/test-platform';
import { describeContainerMemory } from '@sre-platform/test-platform/pods';
import { serviceImage, type ServiceImage } from '@sre-platform/test-platform/service-images';
import { beforeAll, describe, expect, it } from 'vitest';

import { deploymentClient } from '../src/client.ts';
import {
  applyCrd,
  createTlsSecret,
  helm as helmWith,
  apps,
  createDeployment,
  eventually,
  makePki,
  SERVICE_DIR,
  type Pki,
} from './harness.ts';

const CHART = join(SERVICE_DIR, 'chart');
const RELEASE = 'dapi';
const NAME = `${RELEASE}-deployment-api`;
const ns = useNamespace('dapi-real');
let pki: Pki;
let image: ServiceImage;

beforeAll(async () => {
  await startRealNode(cluster());
  image = await serviceImage(cluster(), 'deployment-api');
  await applyCrd();
  pki = await makePki();
}, 1_200_000);

const helm = (...args: string[]) => helmWith(pki, ...args);

// The chart's values for the real node: our image (already in its containerd), placed there explicitly. JSON is YAML.
function values(rollout: string): string[] {
  const [repository, tag] = image.ref.split(/:(?=[^:]+$)/);
  const file = join(pki.dir, `values-${rollout}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      image: { repository, tag, pullPolicy: 'Never' },
      scope: 'namespace',
      podAnnotations: { rollout },
      nodeSelector: REAL_NODE.nodeSelector,
      tolerations: REAL_NODE.tolerations,
    }),
  );
  return ['--values', file];
}

describe('deployment-api chart on the real node', () => {
  it('upgrades while clients send requests over mTLS without pause: zero failed requests', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await createTlsSecret(pki, ns.name);
    await createDeployment(ns.name, 'web', 1);
    await helm('install', RELEASE, CHART, '--namespace', ns.name, ...values('first'), '--wait', '--timeout', '300s');
    const before = await core.listNamespacedPod({
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/name=deployment-api',
    });
    expect(before.items.map((p) => p.spec?.nodeName)).toEqual([REAL_NODE.name, REAL_NODE.name]);
    expect(before.items.every((p) => p.status?.containerStatuses?.[0]?.restartCount === 0)).toBe(true);

    // Through the Service's ClusterIP (kube-proxy on this machine), verifying the server's certificate.
    const svc = await core.readNamespacedService({ name: NAME, namespace: ns.name });
    const client = deploymentClient({
      baseUrl: `https://${svc.spec!.clusterIP!}:8443`,
      ca: pki.ca.cert,
      cert: pki.operator.cert,
      key: pki.operator.key,
      servername: 'localhost',
    });
    // The pods answer from their caches, fed by the in-cluster API.
    await eventually(
      'the API to list the namespace',
      async () => {
        const res = await client.listDeployments({ namespace: ns.name });
        return res.deployments.some((d) => d.ref?.name === 'web') ? true : undefined;
      },
      120_000,
    );
    process.stdout.write(`deployment-api on the real node, started:\n${await describeContainerMemory(ns.name)}\n`);

    const failures: string[] = [];
    let sent = 0;
    let running = true;
    const loop = async () => {
      while (running) {
        sent++;
        try {
          const res = await client.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
          if (res.deployment?.ref?.name !== 'web') failures.push(`unexpected answer ${JSON.stringify(res)}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const clients = [loop(), loop(), loop(), loop()];
    await helm('upgrade', RELEASE, CHART, '--namespace', ns.name, ...values('second'), '--wait', '--timeout', '300s');
    running = false;
    await Promise.all(clients);

    const after = await core.listNamespacedPod({
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/name=deployment-api',
    });
    const live = after.items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(live.map((p) => p.metadata?.annotations?.['rollout'])).toEqual(['second', 'second']);
    expect(live.map((p) => p.metadata?.name).some((n) => before.items.some((b) => b.metadata?.name === n))).toBe(false);
    expect((await apps().readNamespacedDeployment({ namespace: ns.name, name: NAME })).status?.updatedReplicas).toBe(2);
    process.stdout.write(`deployment-api upgrade on the real node: ${sent} requests, ${failures.length} failed\n`);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(0);
    await helm('uninstall', RELEASE, '--namespace', ns.name, '--wait');
  }, 900_000);
});
