// The real node (tools/cluster/node): real containers from locally made images beside the kwok nodes, kept from
// the network beyond this machine, shared by the run's files (this one runs beside the others). Stopping it, taking
// over a stale one and leaving the host as it was are proven by real-node-teardown.int.test.ts, after every file.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookup } from 'node:dns/promises';
import { createServer, Socket, type Server } from 'node:net';

import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  cluster,
  eventually,
  importImage,
  kubeConfig,
  nodeCommand,
  nodeRootfs,
  REAL_NODE,
  removeRootfs,
  startRealNode,
  toolBin,
  uniqueName,
  useNamespace,
} from '../src/index.ts';

const NON_ROOT_IMAGE = `sre-platform.local/node-test:${uniqueName('nonroot')}`;
const ROOT_IMAGE = `sre-platform.local/node-test:${uniqueName('root')}`;

// A pod on the real node running the project's Node.js with `script`.
function nodePod(name: string, image: string, script: string, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      nodeSelector: REAL_NODE.nodeSelector,
      tolerations: REAL_NODE.tolerations,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image, imagePullPolicy: 'Never', args: ['-e', script] }],
      ...extra,
    },
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err as Error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function dropCount(): number {
  const out = execFileSync(`${toolBin('nftables')}/nft`, ['list', 'chain', 'inet', 'sre_platform_node', 'forward'], {
    encoding: 'utf8',
  });
  return Number(/counter packets (\d+)/.exec(out)?.[1] ?? NaN);
}

function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(timeoutMs);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
    s.connect(port, host);
  });
}

// A web server pod on the real node (uid 65532, the runtime's seccomp profile) behind a ClusterIP Service of
// the same name; resolves once the pod is Ready.
async function webService(namespace: string, name: string): Promise<{ pod: k8s.V1Pod; clusterIP: string }> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const script = `const seccomp = /Seccomp:\\s*(\\d)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1];
    require('http').createServer((q, s) => s.end('served by ' + require('os').hostname() +
    ' as uid ' + process.getuid() + ', seccomp mode ' + seccomp)).listen(8080, () => console.log('listening'))`;
  const pod = nodePod(name, NON_ROOT_IMAGE, script, {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    restartPolicy: 'Always',
  });
  pod.spec!.containers[0]!.readinessProbe = { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 };
  await api.createNamespacedPod({ namespace, body: pod });
  const svc = await api.createNamespacedService({
    namespace,
    body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } },
  });
  const ready = await waitFor(`the ${name} pod to be Ready`, async () => {
    const p = await api.readNamespacedPod({ name, namespace });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
  return { pod: ready, clusterIP: svc.spec!.clusterIP! };
}

// Runs `script` in a pod on the real node until it exits 0; its log. `labels` are added to the pod's own.
async function runPod(
  namespace: string,
  name: string,
  script: string,
  extra: { labels?: Record<string, string>; spec?: Partial<k8s.V1PodSpec> } = {},
): Promise<string> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const body = nodePod(name, NON_ROOT_IMAGE, script, extra.spec);
  body.metadata!.labels = { ...body.metadata!.labels, ...extra.labels };
  await api.createNamespacedPod({ namespace, body });
  const phase = await waitFor(`the ${name} pod to finish`, async () => {
    const p = await api.readNamespacedPod({ name, namespace });
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p.status.phase : undefined;
  });
  const log = await api.readNamespacedPodLog({ name, namespace, container: 'app' });
  if (phase !== 'Succeeded') throw new Error(`pod ${name} failed:\n${log}`);
  return log;
}

describe('the real node on a machine that cannot run it', () => {
  it('fails naming what to install, never skips', async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'sre-platform-empty-cache-'));
    try {
      const { code, output } = await nodeCommand(['check'], { SRE_PLATFORM_CACHE: emptyCache });
      expect(code).toBe(1);
      expect(output).toContain('this machine cannot run the real node; missing:');
      expect(output).toContain("tool kube-node: run 'tools/install kube-node kubernetes containerd runc cni-plugins");
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });
});

describe('the real node', () => {
  const ns = useNamespace('real-node');
  let rootfs = '';

  beforeAll(async () => {
    await startRealNode(cluster());
    rootfs = nodeRootfs();
    await importImage(NON_ROOT_IMAGE, rootfs, '65532', ['/usr/local/bin/node']);
    // The same layer with no USER: root, as a Dockerfile without a USER line makes.
    await importImage(ROOT_IMAGE, rootfs, '', ['/usr/local/bin/node']);
  }, 1_200_000);

  afterAll(() => {
    if (rootfs) removeRootfs(rootfs);
  });

  it('joins the cluster Ready, at its bridge IP, tainted so that only pods that ask land on it', async () => {
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const node = await api.readNode({ name: REAL_NODE.name });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: REAL_NODE.ip });
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(node.spec?.taints).toContainEqual({ key: 'sre-platform/real-node', value: 'true', effect: 'NoSchedule' });
    expect(node.metadata?.labels?.['sre-platform/real-node']).toBe('true');

    // A pod that does not ask goes to a kwok node.
    await api.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name: 'plain' }, spec: { containers: [{ name: 'app', image: 'anything:1' }] } },
    });
    const nodeName = await waitFor('the plain pod to be scheduled', async () => {
      const p = await api.readNamespacedPod({ name: 'plain', namespace: ns.name });
      return p.spec?.nodeName || undefined;
    });
    expect(nodeName).not.toBe(REAL_NODE.name);
  });

  it('runs a locally made image as a real container and serves its ClusterIP through kube-proxy', async () => {
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    // runc's seccomp support is real: the runtime's default profile applies.
    const { pod: ready, clusterIP } = await webService(ns.name, 'web');
    expect(ready.spec?.nodeName).toBe(REAL_NODE.name);
    expect(ready.status?.podIP).toMatch(/^10\.244\.0\./);
    expect(ready.status?.containerStatuses?.[0]?.restartCount).toBe(0);

    // From this machine to the ClusterIP: kube-proxy's nftables rules send it to the pod.
    const body = await waitFor('the ClusterIP to answer', async () => {
      const res = await fetch(`http://${clusterIP}/`, { signal: AbortSignal.timeout(5_000) });
      return res.ok ? res.text() : undefined;
    });
    // Seccomp mode 2: a filter, the runtime's default profile.
    expect(body).toBe('served by web as uid 65532, seccomp mode 2');
    // The apiserver reaches the kubelet at the node's InternalIP for logs.
    const log = await api.readNamespacedPodLog({ name: 'web', namespace: ns.name, container: 'app' });
    expect(log).toContain('listening');
  });

  it('finds Services by name through the cluster DNS, CoreDNS running on the node from a local image', async () => {
    const { clusterIP } = await webService(ns.name, 'named');
    const log = await runPod(
      ns.name,
      'client',
      `Promise.all([
        require('dns').promises.lookup('named.${ns.name}.svc.cluster.local'),
        fetch('http://named/').then((r) => r.text()),
      ]).then(([a, body]) => console.log(JSON.stringify({ address: a.address, body })))`,
    );
    // By its full name and by its short name (the pod's search path), pod to Service to pod on one bridge.
    expect(JSON.parse(log.trim())).toEqual({
      address: clusterIP,
      body: 'served by named as uid 65532, seccomp mode 2',
    });
  });

  it("refuses a root image under pod-level runAsNonRoot with the kubelet's own message", async () => {
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await api.createNamespacedPod({
      namespace: ns.name,
      body: nodePod('rooty', ROOT_IMAGE, 'setInterval(() => {}, 1000)', { securityContext: { runAsNonRoot: true } }),
    });
    const waiting = await waitFor('the container to be refused', async () => {
      const p = await api.readNamespacedPod({ name: 'rooty', namespace: ns.name });
      const w = p.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? { w, uid: p.metadata!.uid! } : undefined;
    });
    expect(waiting.w.message).toBe(
      `container has runAsNonRoot and image will run as root (pod: "rooty_${ns.name}(${waiting.uid})", container: app)`,
    );
  });

  it("lets pods reach this machine but nothing beyond it, nor the kubelet's API", async () => {
    // Beyond this machine: npm's configured registry, which this machine itself does reach (make test installs from it).
    const registry = new URL(execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim()).hostname;
    const outside = (await lookup(registry, { family: 4 })).address;
    expect(await tcpConnects(outside, 443, 30_000)).toBe(true);
    const server: Server = createServer((s) => {
      s.on('error', () => undefined); // the probe closes as soon as it has connected
      s.end('hello from the node\n');
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as { port: number }).port;
    try {
      const dropsBefore = dropCount();
      const script = `const net = require('net');
        const probe = (host, port, ms) => new Promise((done) => {
          const s = net.connect(port, host); s.setTimeout(ms);
          s.on('connect', () => { s.destroy(); done('connected'); });
          s.on('timeout', () => { s.destroy(); done('timeout'); });
          s.on('error', (e) => done(e.code));
        });
        Promise.all([
          probe('${REAL_NODE.ip}', ${port}, 30000),
          probe('${outside}', 443, 10000),
          probe('${REAL_NODE.ip}', 10250, 10000),
        ]).then(([node, outside, kubelet]) => console.log(JSON.stringify({ node, outside, kubelet })));`;
      const log = await runPod(ns.name, 'probe', script);
      expect(JSON.parse(log.trim())).toEqual({ node: 'connected', outside: 'timeout', kubelet: 'timeout' });
      // It was the node's drop that stopped it (pods' traffic is masqueraded, so nothing else would).
      expect(dropCount()).toBeGreaterThan(dropsBefore);
    } finally {
      server.close();
    }
  });

  it('enforces NetworkPolicies on real connections between pods: default deny, an allow by labels, egress deny', async () => {
    const net = kubeConfig().makeApiClient(k8s.NetworkingV1Api);
    const { clusterIP } = await webService(ns.name, 'guarded');
    // Each probe is a new pod (the policies apply to connections a pod opens), connecting to the Service's
    // ClusterIP: 'connected', or how it failed. A dropped SYN shows as 'timeout'.
    let probes = 0;
    const connect = (labels: Record<string, string>, timeoutMs: number) =>
      runPod(
        ns.name,
        `probe-${++probes}`,
        `const s = require('net').connect(80, '${clusterIP}'); s.setTimeout(${timeoutMs});
        s.on('connect', () => { s.destroy(); console.log('connected'); });
        s.on('timeout', () => { s.destroy(); console.log('timeout'); });
        s.on('error', (e) => console.log(e.code));`,
        { labels },
      ).then((log) => log.trim());
    const becomes = (what: string, labels: Record<string, string>, outcome: 'connected' | 'timeout') =>
      eventually(
        what,
        async () =>
          (await connect(labels, outcome === 'connected' ? 30_000 : 10_000)) === outcome ? outcome : undefined,
        180_000,
        0,
      );
    const allowed = { role: 'frontend' };
    const other = { role: 'batch' };

    // No policy: any pod connects.
    expect(await connect(other, 30_000)).toBe('connected');

    // Default deny for ingress in the server's namespace: the server's pod takes no new connection.
    await net.createNamespacedNetworkPolicy({
      namespace: ns.name,
      body: { metadata: { name: 'default-deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    });
    await becomes('the default deny to drop a connection', allowed, 'timeout');

    // An allow for the client's labels: those connect again, a pod without them still cannot.
    await net.createNamespacedNetworkPolicy({
      namespace: ns.name,
      body: {
        metadata: { name: 'allow-frontend' },
        spec: {
          podSelector: { matchLabels: { app: 'guarded' } },
          policyTypes: ['Ingress'],
          ingress: [{ _from: [{ podSelector: { matchLabels: allowed } }], ports: [{ port: 8080, protocol: 'TCP' }] }],
        },
      },
    });
    await becomes('the allow to let the labelled client in', allowed, 'connected');
    expect(await connect(other, 10_000)).toBe('timeout');

    // Egress: a default deny on the clients' side stops even the allowed client, which the server would take.
    await net.createNamespacedNetworkPolicy({
      namespace: ns.name,
      body: {
        metadata: { name: 'frontend-no-egress' },
        spec: { podSelector: { matchLabels: allowed }, policyTypes: ['Egress'] },
      },
    });
    await becomes('the egress deny to drop the allowed client', allowed, 'timeout');
  });

  it('serves in-cluster clients the API: a ServiceAccount token, the cluster CA, kubernetes.default.svc, RBAC', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const rbac = kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: 'settings' }, data: { greeting: 'hello from the API' } },
    });
    await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: 'read-configmaps' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns.name }],
      },
    });
    // The standard in-cluster files; certificate verification on (Node's default), by name and by the
    // Service's IP from the environment, as client libraries' in-cluster configuration dials it.
    const script = `const fs = require('fs');
      const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
      const ca = fs.readFileSync(dir + '/ca.crt');
      const token = fs.readFileSync(dir + '/token', 'utf8');
      const get = (host, port, path) => new Promise((done) => {
        require('https').get({ host, port, path, ca, headers: { authorization: 'Bearer ' + token } }, (res) => {
          let body = ''; res.on('data', (c) => (body += c));
          res.on('end', () => done({ status: res.statusCode, body: JSON.parse(body) }));
        }).on('error', (e) => done({ error: e.code || e.message }));
      });
      const ns = fs.readFileSync(dir + '/namespace', 'utf8');
      Promise.all([
        get('kubernetes.default.svc', 443, '/api/v1/namespaces/' + ns + '/configmaps/settings'),
        get('kubernetes.default.svc', 443, '/api/v1/namespaces/' + ns + '/secrets'),
        get(process.env.KUBERNETES_SERVICE_HOST, process.env.KUBERNETES_SERVICE_PORT, '/api/v1/namespaces/' + ns + '/configmaps/settings'),
      ]).then(([byName, forbidden, byIP]) => console.log(JSON.stringify({
        byName: byName.error || [byName.status, byName.body.data],
        forbidden: forbidden.error || [forbidden.status, forbidden.body.reason, forbidden.body.message],
        byIP: byIP.error || [byIP.status, byIP.body.data],
      })));`;
    const log = await runPod(ns.name, 'in-cluster', script, { spec: { serviceAccountName: 'reader' } });
    expect(JSON.parse(log.trim())).toEqual({
      byName: [200, { greeting: 'hello from the API' }],
      forbidden: [
        403,
        'Forbidden',
        `secrets is forbidden: User "system:serviceaccount:${ns.name}:reader" cannot list resource "secrets" in API group "" in the namespace "${ns.name}"`,
      ],
      byIP: [200, { greeting: 'hello from the API' }],
    });
  });

  it('makes a second run wait for it, saying who holds it, and give up after its wait; a waiter whose run died stops', async () => {
    const runPid = process.env['SRE_TEST_RUN_PID']!;
    const { code, output } = await nodeCommand(['up'], {
      CLUSTER_KUBECONFIG: cluster().kubeconfig,
      NODE_OWNER_PID: String(process.pid), // alive, and not this run
      NODE_WAIT: '1',
    });
    expect(code).toBe(75);
    expect(output).toContain(`held by pid ${runPid}, cluster ${cluster().kubeconfig}; waiting up to 1s`);
    expect(output).toContain(`the real node is held by pid ${runPid} (${cluster().kubeconfig})`);
    // Which processes hold the lock: the node's daemons, started by this run's `up`.
    expect(output).toMatch(/Processes holding \S+\/real-node\/lock: .*containerd/);

    // A waiter left behind by a run that was killed gives up instead of starting a node nobody would stop.
    const dead = spawnSync('true').pid;
    const orphan = await nodeCommand(['up'], {
      CLUSTER_KUBECONFIG: cluster().kubeconfig,
      NODE_OWNER_PID: String(dead),
      NODE_WAIT: '60',
    });
    expect(orphan.code).toBe(1);
    expect(orphan.output).toContain(`the run that asked for the node (pid ${dead}) is gone; not starting it`);
    // The holder's node is untouched.
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const node = await api.readNode({ name: REAL_NODE.name });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });
});
