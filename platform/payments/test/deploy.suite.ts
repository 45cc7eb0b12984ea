// deploy.sh against the run's real control plane (kube-apiserver, controller-manager, scheduler; kwok nodes mark
// pods Ready): everything applies and rolls out, a second run changes nothing, the apiserver enforces the namespaces'
// Pod Security level, and RBAC gives each team its own service and nothing of the other's (kubectl auth can-i with
// impersonation, answered by the real authorizer). The kind and minikube image paths need a Docker engine, which
// this machine lacks: stand-in docker, kind and minikube commands record what deploy.sh asks of them.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { cluster, REPO_ROOT, uniqueName } from '@sre-platform/test-platform';
import { netpolConnections } from '@sre-platform/test-platform/manifests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { holdPaymentsNamespaces, NAMESPACES } from './namespaces.ts';

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'platform/payments/deploy.sh');

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & { type?: string };
  status?: Record<string, unknown>;
}

const env = () => ({ ...process.env, KUBECONFIG: cluster().kubeconfig });
const kubectl = async (...args: string[]) =>
  (await run(join(cluster().kubernetesBin, 'kubectl'), args, { env: env(), maxBuffer: 32 << 20 })).stdout;
const items = async (...args: string[]) =>
  (JSON.parse(await kubectl('get', ...args, '-o', 'json')) as { items: Obj[] }).items;

async function deploy(extraEnv: Record<string, string> = {}) {
  const t0 = Date.now();
  // A fixed tag: the default derives from the worktree (commit + uncommitted changes), which may change mid-test.
  const { stdout, stderr } = await run(DEPLOY, [], {
    env: { ...env(), IMAGE_TAG: 'test', ...extraEnv },
    timeout: 300_000,
  });
  return { stdout, stderr, ms: Date.now() - t0 };
}

/** Every object deploy.sh manages, by uid, with its resourceVersion: any write changes it. */
async function snapshot(): Promise<Map<string, string>> {
  const kinds =
    // ResourceQuotas are left out: the quota controller rewrites their status as pods come and go.
    'deployments,statefulsets,replicasets,services,ingresses,networkpolicies,poddisruptionbudgets,serviceaccounts,rolebindings,secrets,persistentvolumeclaims,limitranges';
  const objects = [
    ...(await items(kinds, '-n', 'invoices')),
    ...(await items(kinds, '-n', 'payments')),
    ...(await items('namespaces,clusterroles,persistentvolumes', '-l', 'app.kubernetes.io/part-of=payments')),
  ];
  return new Map(
    objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion]),
  );
}

const canI = async (group: string, verb: string, resource: string, namespace: string) => {
  try {
    // "pods/log" is a subresource; kubectl would read "pods/<name>".
    const [kind, subresource] = resource.split('/');
    const sub = subresource ? ['--subresource', subresource] : [];
    await kubectl(
      'auth',
      'can-i',
      verb,
      kind!,
      ...sub,
      '-n',
      namespace,
      '--as',
      `someone-in-${group}`,
      '--as-group',
      group,
    );
    return true;
  } catch (err) {
    // can-i exits 1 for "no"; anything else is a real failure.
    if ((err as { code?: number }).code === 1) return false;
    throw err;
  }
};

let first: Awaited<ReturnType<typeof deploy>>;
let second: Awaited<ReturnType<typeof deploy>>;
let before: Map<string, string>;
let after: Map<string, string>;
let release: (() => Promise<void>) | undefined;

describe('the payments pair on the kwok nodes', () => {
  beforeAll(async () => {
    // The real-node suite deploys the same names on the same cluster: one suite at a time (see namespaces.ts).
    release = await holdPaymentsNamespaces();
    const existing = (await items('namespaces')).map((n) => n.metadata.name);
    if (NAMESPACES.some((n) => existing.includes(n))) {
      throw new Error(
        'namespaces invoices or payments already exist in the test cluster: refusing to deploy over them',
      );
    }
    first = await deploy();
    before = await snapshot();
    second = await deploy();
    after = await snapshot();
    process.stdout.write(
      `deploy.sh on the local control plane: first run ${first.ms} ms, second run ${second.ms} ms\n`,
    );
  }, 2_400_000);

  afterAll(async () => {
    await release?.();
  }, 360_000);

  describe('deploy.sh on the local control plane', () => {
    it('detects kwok and builds nothing, says how to reach invoice-app', () => {
      expect(first.stderr).toMatch(/context kwok-\S+ \(kwok\)/);
      expect(first.stderr).toMatch(/images: not built \(kwok simulates pods/);
      expect(first.stderr).toMatch(/deployed\./);
    });

    it('rolls out 3 Ready invoice-app and 3 Ready payment-provider pods, and one PostgreSQL per namespace', async () => {
      const ready = (pods: Obj[]) =>
        pods.filter((p) =>
          (p.status?.['conditions'] as { type: string; status: string }[] | undefined)?.some(
            (c) => c.type === 'Ready' && c.status === 'True',
          ),
        ).length;
      expect(ready(await items('pods', '-n', 'invoices', '-l', 'app.kubernetes.io/name=invoice-app'))).toBe(3);
      expect(ready(await items('pods', '-n', 'payments', '-l', 'app.kubernetes.io/name=payment-provider'))).toBe(3);
      expect(ready(await items('pods', '-n', 'invoices', '-l', 'app.kubernetes.io/name=postgres'))).toBe(1);
      expect(ready(await items('pods', '-n', 'payments', '-l', 'app.kubernetes.io/name=postgres'))).toBe(1);
      // Spread over both kwok nodes (a hard topology spread constraint: 2 + 1).
      for (const [ns, name] of [
        ['invoices', 'invoice-app'],
        ['payments', 'payment-provider'],
      ]) {
        const pods = await items('pods', '-n', ns!, '-l', `app.kubernetes.io/name=${name}`);
        expect(new Set(pods.map((p) => p.spec?.['nodeName'])).size, name).toBe(2);
      }
    });

    it('exposes invoice-app outside the cluster (Ingress, NodePort) and payment-provider only inside (ClusterIP)', async () => {
      const types = (svcs: Obj[]) => Object.fromEntries(svcs.map((s) => [s.metadata.name, s.spec?.type]));
      expect(types(await items('services', '-n', 'invoices'))).toEqual({
        'invoice-app': 'ClusterIP',
        'invoice-app-nodeport': 'NodePort',
        postgres: 'ClusterIP',
      });
      expect(types(await items('services', '-n', 'payments'))).toEqual({
        'payment-provider': 'ClusterIP',
        postgres: 'ClusterIP',
      });
      const [nodePort] = await items(
        'services',
        '-n',
        'invoices',
        '--field-selector',
        'metadata.name=invoice-app-nodeport',
      );
      expect((nodePort!.spec!['ports'] as { nodePort: number }[])[0]!.nodePort).toBe(30081);
      const ingresses = await items('ingresses', '-n', 'invoices');
      expect(ingresses.map((i) => i.metadata.name)).toEqual(['invoice-app']);
      expect(JSON.stringify(ingresses[0]!.spec)).toContain('"service":{"name":"invoice-app","port":{"name":"http"}}');
      expect(await items('ingresses', '-n', 'payments')).toEqual([]);
    });

    it('applies default-deny plus the allows in both namespaces', async () => {
      const names = async (ns: string) => (await items('networkpolicies', '-n', ns)).map((p) => p.metadata.name).sort();
      expect(await names('invoices')).toEqual(['default-deny', 'invoice-app', 'postgres']);
      expect(await names('payments')).toEqual(['default-deny', 'payment-provider', 'postgres']);
    });

    it('generates the database credentials in the cluster, and never prints them', async () => {
      const secret = JSON.parse(
        await kubectl('get', 'secret', '-n', 'payments', 'payment-provider-database', '-o', 'json'),
      ) as {
        data: Record<string, string>;
      };
      const url = new URL(Buffer.from(secret.data['DATABASE_URL']!, 'base64').toString());
      expect(url.host).toBe('postgres.payments.svc.cluster.local:5432');
      expect(url.password).toMatch(/^[0-9a-f]{48}$/);
      expect(first.stdout + first.stderr).not.toContain(url.password);
    });

    it('is idempotent: the second run exits 0 and writes nothing', () => {
      expect(before.size).toBeGreaterThan(25);
      expect(after).toEqual(before);
    });

    it('rejects a bad BUILD value before touching the cluster', async () => {
      await expect(deploy({ BUILD: 'sometimes' })).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining('BUILD must be auto, always or never'),
      });
    });
  });

  describe('NetworkPolicies as the apiserver stores them, with the pods kwok runs', () => {
    it('allow only the designed flows, even to an impostor pod labelled invoice-app in another namespace', async () => {
      const ns = uniqueName('impostor');
      await kubectl('create', 'namespace', ns);
      try {
        await kubectl('run', 'impostor', '-n', ns, '--image=impostor', '--labels=app.kubernetes.io/name=invoice-app');
        await kubectl('wait', '-n', ns, 'pod/impostor', '--for=condition=Ready', '--timeout=60s');
        // What the apiserver stores for these namespaces, read back from it: the analysis is scoped to them, as
        // other test files put pods of their own on the same cluster at the same time (some with no IP yet,
        // which the analyzer's live mode refuses).
        const scope = [...NAMESPACES, ns];
        const stored = [
          ...(await items('namespaces', ...scope)),
          ...(await Promise.all(scope.map((n) => items('pods,networkpolicies', '-n', n)))).flat(),
        ];
        const list = netpolConnections({ 'stored.yaml': stored.map((o) => stringify(o)).join('---\n') });
        const ours = /^(invoices|payments)\//;
        const flows = list
          .filter((c) => ours.test(c.src) || ours.test(c.dst))
          // Live pods are grouped by their ReplicaSet: drop the pod-template hash.
          .map((c) => `${c.src} => ${c.dst} : ${c.conn}`.replace(/-[0-9a-f]{8,10}\[ReplicaSet\]/g, '[ReplicaSet]'))
          .sort();
        // The local cluster has no DNS, ingress controller or Prometheus pods, so only these remain of the matrix
        // (the full matrix, with those peers, is networkpolicy.test.ts).
        expect(flows).toEqual(
          [
            '0.0.0.0-10.243.255.255 => invoices/invoice-app[ReplicaSet] : TCP 8081',
            '10.245.0.0-255.255.255.255 => invoices/invoice-app[ReplicaSet] : TCP 8081',
            'invoices/invoice-app[ReplicaSet] => invoices/postgres[StatefulSet] : TCP 5432',
            'invoices/invoice-app[ReplicaSet] => payments/payment-provider[ReplicaSet] : TCP 8082',
            'payments/payment-provider[ReplicaSet] => payments/postgres[StatefulSet] : TCP 5432',
          ].sort(),
        );
        expect(JSON.stringify(list)).toContain(`${ns}/impostor`);
      } finally {
        await kubectl('delete', 'namespace', ns, '--wait=false');
      }
    });
  });

  describe('quotas in the team namespaces', () => {
    const createService = async (group: string, ns: string, type: string) => {
      try {
        await kubectl(
          'create',
          'service',
          type,
          'sneaky',
          '--tcp=8082',
          '-n',
          ns,
          '--dry-run=server',
          '--as',
          'someone',
          '--as-group',
          group,
        );
        return 'created';
      } catch (err) {
        return (err as { stderr: string }).stderr.trim();
      }
    };

    it('no one, not even team payments, can expose payment-provider through a NodePort or LoadBalancer', async () => {
      // The team may create Services (a ClusterIP passes)...
      expect(await createService('team-payments', 'payments', 'clusterip')).toBe('created');
      // ...but the namespace's quota allows no NodePort and no LoadBalancer.
      expect(await createService('team-payments', 'payments', 'nodeport')).toMatch(
        /exceeded quota: team-payments, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0/,
      );
      expect(await createService('team-payments', 'payments', 'loadbalancer')).toMatch(/exceeded quota: team-payments/);
      // invoice-app's one NodePort is all its namespace may have.
      expect(await createService('team-invoices', 'invoices', 'nodeport')).toMatch(
        /exceeded quota: team-invoices, requested: services.nodeports=1, used: services.nodeports=1/,
      );
    });
  });

  describe('Pod Security in the team namespaces', () => {
    it('the apiserver refuses a pod that could run as root (the original pod spec)', async () => {
      const pod = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'original', namespace: 'invoices' },
        spec: { containers: [{ name: 'main', image: 'invoice-app:latest', securityContext: { runAsNonRoot: true } }] },
      });
      const apply = run(join(cluster().kubernetesBin, 'kubectl'), ['create', '--dry-run=server', '-f', '-'], {
        env: env(),
      });
      apply.child.stdin!.end(pod);
      await expect(apply).rejects.toMatchObject({
        stderr: expect.stringMatching(/violates PodSecurity "restricted:latest"/),
      });
    });
  });

  describe('RBAC: each team manages its own service only', () => {
    it.each([
      ['team-invoices', 'invoices'],
      ['team-payments', 'payments'],
    ])('%s manages its workload in %s', async (group, ns) => {
      for (const [verb, resource] of [
        ['patch', 'deployments'],
        ['update', 'deployments/scale'],
        ['create', 'services'],
        ['delete', 'pods'],
        ['get', 'pods/log'],
        ['create', 'pods/portforward'],
        ['create', 'poddisruptionbudgets'],
        ['get', 'networkpolicies'],
      ]) {
        expect(await canI(group, verb!, resource!, ns), `${group} ${verb} ${resource} in ${ns}`).toBe(true);
      }
    });

    it.each([
      ['team-invoices', 'payments'],
      ['team-payments', 'invoices'],
    ])("%s cannot touch anything in the other team's namespace (%s)", async (group, ns) => {
      for (const [verb, resource] of [
        ['get', 'deployments'],
        ['patch', 'deployments'],
        ['list', 'pods'],
        ['get', 'services'],
        ['create', 'pods/portforward'],
      ]) {
        expect(await canI(group, verb!, resource!, ns), `${group} ${verb} ${resource} in ${ns}`).toBe(false);
      }
    });

    it.each([
      ['team-invoices', 'invoices'],
      ['team-payments', 'payments'],
    ])('%s cannot read Secrets or change what the platform owns in %s', async (group, ns) => {
      for (const [verb, resource] of [
        ['get', 'secrets'],
        ['patch', 'networkpolicies'],
        ['delete', 'networkpolicies'],
        ['create', 'rolebindings'],
        ['create', 'pods/exec'],
        ['delete', 'namespaces'],
        ['patch', 'resourcequotas'],
        ['delete', 'limitranges'],
      ]) {
        expect(await canI(group, verb!, resource!, ns), `${group} ${verb} ${resource} in ${ns}`).toBe(false);
      }
    });

    it('grants nothing outside the team namespaces', async () => {
      expect(await canI('team-payments', 'get', 'deployments', 'default')).toBe(false);
      expect(await canI('team-invoices', 'list', 'pods', 'kube-system')).toBe(false);
    });
  });

  describe('a new image tag', () => {
    it('rolls both services out to it (this runs last: it replaces the pods)', async () => {
      const result = await deploy({ IMAGE_TAG: 'test-2' });
      expect(result.stderr).toContain('images tagged test-2');
      const image = async (ns: string, name: string) =>
        JSON.parse(await kubectl('get', 'deployment', '-n', ns, name, '-o', 'json')) as {
          spec: { template: { spec: { containers: { image: string }[] } } };
          status: { updatedReplicas: number; readyReplicas: number };
        };
      for (const [ns, name] of [
        ['invoices', 'invoice-app'],
        ['payments', 'payment-provider'],
      ] as const) {
        const d = await image(ns, name);
        expect(d.spec.template.spec.containers[0]!.image).toBe(`sre-platform/${name}:test-2`);
        expect(d.status).toMatchObject({ updatedReplicas: 3, readyReplicas: 3 });
      }
    });
  });

  /** Stand-ins for docker, kind and minikube: each call is appended to `calls`; `docker build` fills a fake image store. */
  function standIns(): { dir: string; calls: () => string[] } {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-standins-'));
    const log = join(dir, 'calls');
    writeFileSync(log, '');
    const script = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/usr/bin/env bash\necho "${name} $*" >>'${log}'\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    const store = join(dir, 'images');
    script(
      'docker',
      `case "$1 $2" in
  "image inspect") grep -qxF -- "$3" '${store}' 2>/dev/null ;;
  build*) for a in "$@"; do [ "$prev" = -t ] && echo "$a" >>'${store}'; prev=$a; done ;;
esac`,
    );
    script('kind', 'exit 0');
    script('minikube', '[ "$1" = ip ] && echo 192.168.49.2; exit 0');
    return {
      dir,
      calls: () =>
        readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.replaceAll(REPO_ROOT, '<repo>')),
    };
  }

  describe('the image paths for kind and minikube (stand-in docker, kind, minikube)', () => {
    const withStandIns = async (fn: (s: ReturnType<typeof standIns>, path: string) => Promise<void>) => {
      const s = standIns();
      try {
        await fn(s, `${s.dir}:${process.env['PATH'] ?? ''}`);
      } finally {
        rmSync(s.dir, { recursive: true, force: true });
      }
    };

    it('kind: builds both images from the repository root once and loads them; a second run only loads', async () => {
      await withStandIns(async (s, PATH) => {
        await deploy({ PATH, TARGET: 'kind', IMAGE_TAG: 'kind-1' });
        const context = (await kubectl('config', 'current-context')).trim();
        expect(s.calls()).toEqual([
          'docker image inspect sre-platform/invoice-app:kind-1',
          'docker build -f <repo>/services/invoice-app/Dockerfile -t sre-platform/invoice-app:kind-1 <repo>',
          `kind load docker-image --name ${context} sre-platform/invoice-app:kind-1`,
          'docker image inspect sre-platform/payment-provider:kind-1',
          'docker build -f <repo>/services/payment-provider/Dockerfile -t sre-platform/payment-provider:kind-1 <repo>',
          `kind load docker-image --name ${context} sre-platform/payment-provider:kind-1`,
        ]);
        const deployed = JSON.parse(
          await kubectl('get', 'deployment', '-n', 'payments', 'payment-provider', '-o', 'json'),
        );
        expect(deployed.spec.template.spec.containers[0].image).toBe('sre-platform/payment-provider:kind-1');

        const again = s.calls().length;
        await deploy({ PATH, TARGET: 'kind', IMAGE_TAG: 'kind-1' });
        // Built images are not built again, but loaded again (kind skips nodes that have them): the cluster may be new.
        expect(s.calls().slice(again)).toEqual([
          'docker image inspect sre-platform/invoice-app:kind-1',
          `kind load docker-image --name ${context} sre-platform/invoice-app:kind-1`,
          'docker image inspect sre-platform/payment-provider:kind-1',
          `kind load docker-image --name ${context} sre-platform/payment-provider:kind-1`,
        ]);
      });
    });

    it('minikube: BUILD=always builds and loads with minikube image load, and prints the NodePort URL', async () => {
      await withStandIns(async (s, PATH) => {
        const result = await deploy({ PATH, TARGET: 'minikube', BUILD: 'always', IMAGE_TAG: 'mk-1' });
        expect(s.calls().filter((c) => !c.startsWith('minikube ip'))).toEqual([
          'docker build -f <repo>/services/invoice-app/Dockerfile -t sre-platform/invoice-app:mk-1 <repo>',
          'minikube image load sre-platform/invoice-app:mk-1',
          'docker build -f <repo>/services/payment-provider/Dockerfile -t sre-platform/payment-provider:mk-1 <repo>',
          'minikube image load sre-platform/payment-provider:mk-1',
        ]);
        expect(result.stderr).toContain('invoice-app: http://192.168.49.2:30081/invoices');
      });
    });

    it('BUILD=never builds and loads nothing, whatever the target', async () => {
      await withStandIns(async (s, PATH) => {
        await deploy({ PATH, TARGET: 'kind', BUILD: 'never', IMAGE_TAG: 'never-1' });
        expect(s.calls()).toEqual([]);
      });
    });
  });
});
