// The payments pair for real: deploy.sh TARGET=real-node on the run's cluster builds invoice-app, payment-provider
// and PostgreSQL from their Dockerfiles (tools/image/build), imports them into the real node (tools/cluster/node) and
// runs every pod there as a real container; test.sh pays through the NodePort on the node's IP; the original bug
// (a root image under pod-level runAsNonRoot) is refused by the kubelet itself, and the fixed image runs under the
// same spec.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import * as k8s from '@kubernetes/client-node';
import {
  cluster,
  eventually,
  kubeConfig,
  REAL_NODE,
  REPO_ROOT,
  startRealNode,
  useNamespace,
} from '@sre-platform/test-platform';
import { netpolAllows, netpolConnections } from '@sre-platform/test-platform/manifests';
import { describeContainerMemory, onRealNode, RESTRICTED, runPodUntilReady } from '@sre-platform/test-platform/pods';
import { serviceImage } from '@sre-platform/test-platform/service-images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { holdPaymentsNamespaces } from './namespaces.ts';

const run = promisify(execFile);
const TAG = 'test'; // the tag serviceImage() gives the run's builds: deploy.sh's build is shared with them
const PAIR = [
  { ns: 'invoices', name: 'invoice-app' },
  { ns: 'payments', name: 'payment-provider' },
] as const;

const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const isReady = (p: k8s.V1Pod) => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const restarts = (p: k8s.V1Pod) => (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
const pods = async (namespace: string, name: string) =>
  (await core().listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=${name}` })).items;

/**
 * `archive`'s image with its USER removed, imported into the real node as `ref`: what the original Dockerfile made
 * (no USER line, so root), the only difference from our image.
 */
function importRootVariant(archive: string, ref: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-root-image-'));
  try {
    execFileSync('tar', ['-xf', archive, '-C', dir]);
    const blob = (digest: string) => join(dir, 'blobs/sha256', digest.slice('sha256:'.length));
    const put = (value: unknown) => {
      const text = JSON.stringify(value);
      const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
      writeFileSync(blob(digest), text);
      return { digest, size: Buffer.byteLength(text) };
    };
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
      manifests: { digest: string; size: number; annotations?: Record<string, string> }[];
    };
    const entry = index.manifests[0]!;
    const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as {
      config: { digest: string; size: number };
    };
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { config: { User?: string } };
    delete config.config.User;
    Object.assign(manifest.config, put(config));
    Object.assign(entry, put(manifest), {
      annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.split(':').at(-1)! },
    });
    writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
    execFileSync('tar', ['-cf', `${dir}.tar`, '-C', dir, '.']);
    execFileSync(join(REPO_ROOT, 'tools/cluster/node'), ['import', `${dir}.tar`], {
      env: { ...process.env, NODE_CLUSTER_ONLY: cluster().kubeconfig },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.tar`, { force: true });
  }
}

let release: (() => Promise<void>) | undefined;
let deployed: { stderr: string; ms: number };
let t0 = 0;

describe('the payments pair on the real node', () => {
  beforeAll(async () => {
    t0 = Date.now();
    release = await holdPaymentsNamespaces();
    const node = await startRealNode(cluster());
    process.stdout.write(`${node.log.split('\n').find((l) => l.includes('Ready in')) ?? ''}\n`);
    const started = Date.now();
    // deploy.sh builds (tools/image/build), imports into the node and waits for every rollout.
    const { stderr } = await run(join(REPO_ROOT, 'platform/payments/deploy.sh'), [], {
      env: {
        ...process.env,
        KUBECONFIG: cluster().kubeconfig,
        TARGET: 'real-node',
        IMAGE_TAG: TAG,
        IMAGES_DIR: join(cluster().workdir, 'images'),
        ROLLOUT_TIMEOUT: '600s',
      },
      timeout: 1_800_000,
      maxBuffer: 32 << 20,
    });
    deployed = { stderr, ms: Date.now() - started };
    process.stdout.write(`deploy.sh TARGET=real-node (build, import, rollout): ${deployed.ms} ms\n`);
  }, 2_400_000);

  afterAll(async () => {
    process.stdout.write(`payments on the real node: ${Date.now() - t0} ms in all\n`);
    await release?.();
  }, 360_000);

  describe('deploy.sh TARGET=real-node', () => {
    it('builds the three images from their Dockerfiles, imports them into the node, and says where invoice-app is', () => {
      expect(deployed.stderr).toMatch(/context \S+ \(real-node\)/);
      expect(deployed.stderr).toContain('building invoice-app payment-provider postgres (tools/image/build)');
      for (const image of ['invoice-app', 'payment-provider', 'postgres']) {
        expect(deployed.stderr).toContain(`sre-platform.local/${image}:${TAG} imported into the real node`);
      }
      expect(deployed.stderr).toContain(`invoice-app: http://${REAL_NODE.ip}:30081/invoices`);
    });

    it('runs invoice-app 3/3 and payment-provider 3/3 Ready on the real node with 0 restarts, each with its PostgreSQL', async () => {
      const memory: string[] = [];
      for (const { ns, name } of PAIR) {
        const service = await pods(ns, name);
        const database = await pods(ns, 'postgres');
        for (const [list, image, count] of [
          [service, name, 3],
          [database, 'postgres', 1],
        ] as const) {
          expect(list.filter(isReady).length, `${ns}/${image} Ready`).toBe(count);
          for (const p of list) {
            expect(p.spec?.nodeName, p.metadata?.name).toBe(REAL_NODE.name);
            expect(p.spec?.containers[0]?.image).toBe(`sre-platform.local/${image}:${TAG}`);
            // The runtime's own record of the image it started.
            expect(p.status?.containerStatuses?.[0]?.imageID).toMatch(/sha256:[0-9a-f]{64}$/);
            expect(restarts(p), `${p.metadata?.name} restarts`).toBe(0);
          }
        }
        // PostgreSQL's data on a volume the node provisioned for its claim.
        const claim = await core().readNamespacedPersistentVolumeClaim({ name: 'data-postgres-0', namespace: ns });
        expect(claim.status?.phase).toBe('Bound');
        expect(claim.spec?.storageClassName).toBe('real-node');
        memory.push(await describeContainerMemory(ns));
      }
      process.stdout.write(`the pair on the real node:\n${memory.join('\n')}\n`);
    });

    it('is paid for by test.sh through the NodePort on the node IP, from this machine', async () => {
      const { stdout, stderr } = await run(join(REPO_ROOT, 'platform/payments/test.sh'), [], {
        env: { ...process.env, INVOICE_APP_URL: `http://${REAL_NODE.ip}:30081` },
        timeout: 300_000,
      });
      expect(stderr).toContain(`invoice-app at http://${REAL_NODE.ip}:30081`);
      expect(stderr).toContain('PASS: all 3 invoices paid');
      expect(stdout).toMatch(/I1 +12\.15 EUR +paid/);
      expect(stdout).toMatch(/I3 +66\.13 DKK +paid/);
      // Paid in PostgreSQL, which every replica reads: a second run finds nothing unpaid.
      const again = await run(join(REPO_ROOT, 'platform/payments/test.sh'), [], {
        env: { ...process.env, INVOICE_APP_URL: `http://${REAL_NODE.ip}:30081` },
        timeout: 300_000,
      });
      expect(again.stderr).toContain('before: 0 of 3 unpaid');
    }, 600_000);
  });

  describe('the original bug, on real containers', () => {
    const scratch = useNamespace('payments-original');

    it("a root image under pod-level runAsNonRoot is refused with the kubelet's own message; the fixed image runs", async () => {
      const fixed = await serviceImage(cluster(), 'invoice-app');
      const rootRef = `sre-platform.local/invoice-app:${TAG}-no-user`;
      importRootVariant(fixed.archive, rootRef);

      // The original Deployment (test/fixtures), placed on the real node: pod-level runAsNonRoot, no runAsUser.
      const original = parse(
        readFileSync(join(REPO_ROOT, 'platform/payments/test/fixtures/original-deployment.yaml'), 'utf8'),
      ) as k8s.V1Deployment;
      const spec = original.spec!.template.spec!;
      Object.assign(spec, { nodeSelector: REAL_NODE.nodeSelector, tolerations: REAL_NODE.tolerations });
      spec.containers[0]!.image = rootRef;
      // Our service needs the provider's URL (the original's was hardcoded); the bug does not depend on it.
      spec.containers[0]!.env = [{ name: 'PAYMENT_PROVIDER_URL', value: 'http://payment-provider.payments:8082' }];
      await apps().createNamespacedDeployment({ namespace: scratch.name, body: original });

      const refused = await eventually(
        'every original pod to be refused',
        async () => {
          const list = (await core().listNamespacedPod({ namespace: scratch.name })).items;
          const waiting = list.filter(
            (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
          );
          return list.length === 3 && waiting.length === 3 ? waiting : undefined;
        },
        180_000,
        500,
      );
      for (const p of refused) {
        const status = p.status!.containerStatuses![0]!;
        expect(status.state!.waiting!.message).toBe(
          `container has runAsNonRoot and image will run as root (pod: "${p.metadata!.name!}_${scratch.name}(${p.metadata!.uid!})", container: main)`,
        );
        // The container was never created, so it never restarted: what `kubectl get pods` showed.
        expect(status.restartCount).toBe(0);
        expect(isReady(p)).toBe(false);
      }

      // The fix: the image names its numeric non-root USER (65532). The same spec now runs.
      const current = await apps().readNamespacedDeployment({ name: 'invoice-app', namespace: scratch.name });
      current.spec!.template.spec!.containers[0]!.image = fixed.ref;
      await apps().replaceNamespacedDeployment({ name: 'invoice-app', namespace: scratch.name, body: current });
      const running = await eventually(
        'three pods of the fixed image to be Ready',
        async () => {
          const list = (await core().listNamespacedPod({ namespace: scratch.name })).items.filter(
            (p) => p.spec?.containers[0]?.image === fixed.ref && !p.metadata?.deletionTimestamp,
          );
          return list.length === 3 && list.every(isReady) ? list : undefined;
        },
        300_000,
        500,
      );
      for (const p of running) {
        // Serving (the original spec has no readiness probe: Ready means started), from this machine to the pod.
        const status = await eventually(
          `${p.metadata!.name!} to answer`,
          async () => {
            const res = await fetch(`http://${p.status!.podIP!}:8081/invoices`, {
              signal: AbortSignal.timeout(10_000),
            });
            return res.status === 200 ? res.status : undefined;
          },
          120_000,
          500,
        );
        expect(status).toBe(200);
      }
      for (const p of (await core().listNamespacedPod({ namespace: scratch.name })).items) {
        if (p.spec?.containers[0]?.image === fixed.ref) expect(restarts(p), p.metadata?.name).toBe(0);
      }
    }, 600_000);
  });

  describe('NetworkPolicies, enforced on the real node', () => {
    const other = useNamespace('other-team');

    it('every pair netpol-analyzer allows connects and every pair it denies does not, on real connections', async () => {
      // Where the connections go: one real pod of each workload deploy.sh made.
      const targets: { ns: string; name: string; port: number; ip: string }[] = [];
      for (const [ns, name, port] of [
        ['invoices', 'invoice-app', 8081],
        ['payments', 'payment-provider', 8082],
        ['invoices', 'postgres', 5432],
        ['payments', 'postgres', 5432],
      ] as const) {
        const pod = (await pods(ns, name)).find(isReady)!;
        targets.push({ ns, name, port, ip: pod.status!.podIP! });
      }
      // Who connects: a pod with each identity the policies name (their name label only, not the Services' selectors,
      // so no Service sends them traffic), and pods they do not name, in the team namespaces and another one.
      const sources = [
        { ns: 'invoices', name: 'invoice-app' },
        { ns: 'payments', name: 'payment-provider' },
        { ns: 'invoices', name: 'postgres' },
        { ns: 'payments', name: 'postgres' },
        { ns: 'invoices', name: 'debug' },
        { ns: 'payments', name: 'debug' },
        { ns: other.name, name: 'invoice-app' }, // an impostor: invoice-app's label in another namespace
      ];
      const image = (await serviceImage(cluster(), 'invoice-app')).ref;
      // Each probe pod connects to every target at once, round after round, and logs what happened to each:
      // 'connected', 'timeout' (a dropped SYN) or the error. Read through the pod's log (apiserver to kubelet), so the
      // probes' own traffic is only the connections under test.
      const script = `const net = require('net');
      const targets = ${JSON.stringify(targets.map((t) => [t.ip, t.port]))};
      const round = (n) => Promise.all(targets.map(([host, port]) => new Promise((done) => {
        const c = net.connect(port, host); c.setTimeout(10000);
        c.on('connect', () => { c.destroy(); done('connected'); });
        c.on('timeout', () => { c.destroy(); done('timeout'); });
        c.on('error', (e) => done(e.code));
      }))).then((r) => { console.log(JSON.stringify({ round: n, results: r })); setTimeout(() => round(n + 1), 1000); });
      round(1);`;
      const probePod = (s: (typeof sources)[number]): k8s.V1Pod => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `probe-${s.name}`, namespace: s.ns, labels: { 'app.kubernetes.io/name': s.name } },
        spec: onRealNode({
          securityContext: RESTRICTED.pod,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'probe',
              image,
              args: ['-e', script],
              securityContext: RESTRICTED.container,
            },
          ],
        }),
      });

      // What netpol-analyzer says, from the namespaces and policies the apiserver stores, the deployed pods and the
      // probe pods (their status left out: the analyzer reads labels and owners, and refuses pods without an IP).
      const scope = ['invoices', 'payments', other.name];
      const items = async (...args: string[]) => {
        const { stdout } = await run(join(cluster().kubernetesBin, 'kubectl'), ['get', ...args, '-o', 'json'], {
          env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
          maxBuffer: 32 << 20,
        });
        return (JSON.parse(stdout) as { items: { status?: unknown }[] }).items;
      };
      const stored = [
        ...(await items('namespaces', ...scope)),
        ...(await Promise.all(scope.map((ns) => items('pods,networkpolicies', '-n', ns)))).flat(),
        ...sources.map(probePod),
      ].map(({ status: _status, ...o }: { status?: unknown }) => o);
      // Live pods are named by their owner: drop the ReplicaSet's pod-template hash.
      const analysis = netpolConnections({ 'stored.yaml': stored.map((o) => stringify(o)).join('---\n') }).map((c) => ({
        ...c,
        src: c.src.replace(/-[0-9a-f]{8,10}\[ReplicaSet\]$/, '[ReplicaSet]'),
        dst: c.dst.replace(/-[0-9a-f]{8,10}\[ReplicaSet\]$/, '[ReplicaSet]'),
      }));
      const expected = sources.flatMap((s) =>
        targets.map((t) => {
          const allowed = netpolAllows(analysis, `${s.ns}/probe-${s.name}`, `${t.ns}/${t.name}`, t.port);
          return `${s.ns}/${s.name} -> ${t.ns}/${t.name}:${t.port} ${allowed ? 'connects' : 'does not'}`;
        }),
      );
      // Both kinds of answer are expected: a node that enforced nothing, or dropped everything, fails below.
      expect(expected.filter((l) => l.endsWith(' connects'))).toEqual([
        'invoices/invoice-app -> payments/payment-provider:8082 connects',
        'invoices/invoice-app -> invoices/postgres:5432 connects',
        'payments/payment-provider -> payments/postgres:5432 connects',
      ]);

      await Promise.all(sources.map((s) => runPodUntilReady(s.ns, probePod(s))));
      // The policy engine learns of new pods from the apiserver, as every engine does: rounds until the node agrees,
      // each printed. A node that does not enforce the policies, or drops everything, never agrees.
      let printed = '';
      const seen = await eventually(
        'the connections to match the analyzer',
        async () => {
          const latest = await Promise.all(
            sources.map(async (s) => {
              const log = await core().readNamespacedPodLog({ name: `probe-${s.name}`, namespace: s.ns });
              const last = log.trim().split('\n').at(-1);
              return last ? (JSON.parse(last) as { round: number; results: string[] }) : undefined;
            }),
          );
          if (latest.some((l) => !l)) return undefined;
          const round = Math.min(...latest.map((l) => l!.round));
          const observed = sources.flatMap((s, i) =>
            targets.map((t, j) => `${s.ns}/${s.name} -> ${t.ns}/${t.name}:${t.port} ${latest[i]!.results[j]}`),
          );
          // Printed when it changes.
          if (observed.join() !== printed) {
            printed = observed.join();
            process.stdout.write(
              `NetworkPolicy matrix on real connections (round ${round}):\n  ${observed.join('\n  ')}\n`,
            );
          }
          const lines = observed.map((l) =>
            l.replace(/ (\S+)$/, (_, r: string) => (r === 'connected' ? ' connects' : ' does not')),
          );
          return JSON.stringify(lines) === JSON.stringify(expected) ? lines : undefined;
        },
        300_000,
        1_000,
      );
      expect(seen).toEqual(expected);
    }, 600_000);
  });

  describe('after everything above', () => {
    it('no pod of the pair or its databases has restarted', async () => {
      for (const { ns, name } of PAIR) {
        for (const p of [...(await pods(ns, name)), ...(await pods(ns, 'postgres'))]) {
          expect(restarts(p), `${ns}/${p.metadata?.name}`).toBe(0);
        }
      }
    });
  });
});
