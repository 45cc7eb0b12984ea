// PersistentVolumes on the real node (tools/cluster/node-volumes): a StatefulSet's claim of the StorageClass
// "real-node" gets a local volume under the node's directory, writable by a non-root pod through its fsGroup,
// kept across the pod's replacement, and deleted with its directory when the claim goes.
import { existsSync } from 'node:fs';

import * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  cluster,
  eventually,
  importImage,
  kubeConfig,
  nodeRootfs,
  removeRootfs,
  startRealNode,
  uniqueName,
  useNamespace,
} from '../src/index.ts';
import { onRealNode, RESTRICTED } from '../src/pods.ts';

const IMAGE = `sre-platform.local/node-test:${uniqueName('volumes')}`;

describe('PersistentVolumes on the real node', () => {
  const ns = useNamespace('real-node-volumes');

  beforeAll(async () => {
    await startRealNode(cluster());
    const rootfs = nodeRootfs();
    try {
      await importImage(IMAGE, rootfs, '65532', ['/usr/local/bin/node']);
    } finally {
      removeRootfs(rootfs);
    }
  }, 1_200_000);

  it('provisions a claim of class real-node for a non-root StatefulSet, keeps it across pods, deletes it with the claim', async () => {
    const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    // Appends a line to the volume at each start and serves what the volume holds.
    const script = `const fs = require('fs');
      fs.appendFileSync('/data/starts', 'uid ' + process.getuid() + '\\n');
      require('http').createServer((q, s) => s.end(fs.readFileSync('/data/starts'))).listen(8080);`;
    await apps.createNamespacedStatefulSet({
      namespace: ns.name,
      body: {
        metadata: { name: 'store' },
        spec: {
          serviceName: 'store',
          replicas: 1,
          selector: { matchLabels: { app: 'store' } },
          template: {
            metadata: { labels: { app: 'store' } },
            spec: onRealNode({
              securityContext: { ...RESTRICTED.pod, runAsUser: 65532, fsGroup: 65532 },
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'app',
                  image: IMAGE,
                  args: ['-e', script],
                  securityContext: RESTRICTED.container,
                  readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
            }),
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: {
                storageClassName: 'real-node',
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: '1Gi' } },
              },
            },
          ],
        },
      },
    });
    const served = () =>
      eventually(
        'store-0 to be Ready and answer',
        async () => {
          const p = await core.readNamespacedPod({ name: 'store-0', namespace: ns.name });
          if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
          const res = await fetch(`http://${p.status.podIP}:8080/`, { signal: AbortSignal.timeout(5_000) });
          return { uid: p.metadata!.uid!, body: await res.text() };
        },
        180_000,
        500,
      );
    const first = await served();
    expect(first.body).toBe('uid 65532\n');

    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'data-store-0', namespace: ns.name });
    expect(claim.status?.phase).toBe('Bound');
    const pv = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    expect(pv.metadata?.name).toBe(`pvc-${claim.metadata!.uid}`);
    expect(pv.spec?.storageClassName).toBe('real-node');
    expect(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values).toEqual(['real-node']);
    const dir = pv.spec!.local!.path;
    expect(dir.startsWith(`${cluster().workdir}/real-node/volumes/`)).toBe(true);
    expect(existsSync(`${dir}/starts`)).toBe(true);

    // A new pod of the StatefulSet finds what the first one wrote.
    await core.deleteNamespacedPod({ name: 'store-0', namespace: ns.name });
    const second = await eventually(
      'a new store-0 with the same volume',
      async () => {
        const s = await served();
        return s.uid !== first.uid ? s : undefined;
      },
      240_000,
      500,
    );
    expect(second.body).toBe('uid 65532\nuid 65532\n');

    // The claim goes: the volume and its directory go too.
    await apps.deleteNamespacedStatefulSet({ name: 'store', namespace: ns.name });
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'data-store-0', namespace: ns.name });
    await eventually(
      `volume ${pv.metadata!.name} and ${dir} to be deleted`,
      async () => {
        const gone = await core
          .readPersistentVolume({ name: pv.metadata!.name! })
          .then(() => false)
          .catch(() => true);
        return gone && !existsSync(dir) ? true : undefined;
      },
      120_000,
      500,
    );
  });

  it('provisions nothing for a claim whose pod is not on the real node: the class only allows the real node', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns.name,
      body: {
        metadata: { name: 'elsewhere' },
        spec: {
          storageClassName: 'real-node',
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'elsewhere' },
        spec: {
          containers: [{ name: 'app', image: 'anything:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'elsewhere' } }],
        },
      },
    });
    // The scheduler says why: no kwok node is in the class's allowed topology, and the pod does not tolerate the real node.
    const message = await eventually(
      'the pod to be unschedulable',
      async () => {
        const p = await core.readNamespacedPod({ name: 'elsewhere', namespace: ns.name });
        const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
        return c?.reason === 'Unschedulable' ? c.message : undefined;
      },
      60_000,
      500,
    );
    expect(message).toMatch(/didn't find available persistent volumes to bind|node\(s\) had untolerated taint/);
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'elsewhere', namespace: ns.name });
    expect(claim.status?.phase).toBe('Pending');
  });
});
