// Part B end to end, on real parts: webhook-app and its PostgreSQL run on the real node from images built from their
// Dockerfiles; prometheus-operator (the version kube-prometheus-stack pins) turns our ServiceMonitor into the scrape
// configuration that a real Prometheus on this machine runs with; prometheus-adapter, with exactly the rules of
// prometheus-metrics-adaptor-values.yaml, serves custom.metrics.k8s.io through the apiserver's aggregation layer; and
// kube-controller-manager's own HPA controller scales webhook-app on them, with new pods started on the real node.
//
// What differs from a cluster running the charts, and why (platform/monitoring/README.md, "End to end on the local
// cluster", says the same):
// - prometheus-operator, Prometheus and the adapter run as processes on this machine, not as pods: their images are
//   out of reach. The operator watches only this test's monitoring namespace (the chart's watches all), so that it
//   never picks up another test's objects; its Prometheus resource is the stack's as far as scraping goes
//   (ServiceMonitors selected by no label, in any namespace it watches), with the version of the Prometheus that
//   runs here (the one of the operator's own build, tools/recipes.sh). The StatefulSet it makes lands on a kwok
//   node, where nothing runs it.
// - The ServiceMonitor is ours, with two fields rewritten: its namespace (the test's monitoring namespace) and its
//   namespaceSelector (the test's webhook-app namespace, so this file never meets deploy.int.test.ts's).
// - The generated configuration is run as generated, except for two things a pod would do differently: the
//   $(SHARD) and $(POD_NAME) references that the pod's config reloader expands from its environment are expanded
//   here (0 and the stack's pod name), and each kubernetes_sd_configs entry gets api_server (the apiserver's
//   loopback URL) and a tls_config with the cluster's CA and the admin client certificate from the run's kubeconfig,
//   where a pod uses its service account. Nothing else is changed (the first test checks it).
// - The adapter's --prometheus-url is this Prometheus (the values name the stack's Service); it is reached by the
//   apiserver through a selector-less Service and an EndpointSlice pointing at the node IP, where it listens.
// - The HPA's scale-down window and policy period are shortened in this test only (300 s and 60 s in hpa.yaml,
//   30 s and 15 s here); the controller manager keeps its defaults (15 s sync period).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

import type { V1Pod } from '@kubernetes/client-node';
import { readContract } from '@sre-platform/contracts';
import { startPeer, type Peer } from '@sre-platform/rocketchat-peer';
import {
  cluster,
  eventually,
  REAL_NODE,
  REPO_ROOT,
  startRealNode,
  toolBin,
  uniqueName,
} from '@sre-platform/test-platform';
import { get, kustomize, parseManifests } from '@sre-platform/test-platform/manifests';
import { freePort, startManaged, waitFor, type Managed } from '@sre-platform/test-platform/process';
import { isPodReady, kubectl, kubectlItems, kubectlOutput } from '@sre-platform/test-platform/kubectl';
import { serviceImage } from '@sre-platform/test-platform/service-images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const run = promisify(execFile);
const MONITORING = join(REPO_ROOT, 'platform/monitoring');
const ADAPTER_VALUES = join(MONITORING, 'prometheus-metrics-adaptor-values.yaml');
const SERVICE_MONITOR = join(MONITORING, 'webhook-app-service-monitor.yaml');
const DASHBOARD = join(MONITORING, 'webhook-app-dashboard.yaml');
const PUSH = readContract('gitlab/push.json');
const BOT = { username: 'webhook-bot', password: randomBytes(16).toString('hex') };
const TOKEN = randomBytes(32).toString('hex');
// The Prometheus server of the operator's own build (Kubernetes service discovery included; tools/recipes.sh).
const PROMETHEUS_BIN = () => join(toolBin('prometheus-operator'), 'prometheus');
const PROMETHEUS_NAME = 'kube-prometheus-stack-prometheus'; // the stack's, for release kube-prometheus-stack
// How many slow uploads the load holds open: 60 over 2 pods is 30 in flight per pod, three times the HPA's target.
const LOAD_CONNECTIONS = 60;

/** What the test reads of the objects it gets. */
type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
};
type PodObj = V1Pod & { metadata: { name: string } };

const apply = (docs: unknown[]) =>
  kubectlOutput(
    ['apply', '--server-side', '--force-conflicts', '--field-manager=monitoring-e2e', '-f', '-'],
    docs.map((d) => stringify(d)).join('---\n'),
  );
const items = <T = Obj>(...args: string[]) => kubectlItems<T>(...args);
const isReady = (p: PodObj) => isPodReady(p);

let dir: string;
let appNs: string;
let monNs: string;
let peer: Peer;
let operator: Managed;
let prometheus: Managed;
let adapter: Managed;
let promUrl: string;
let generatedText: string;
let generatedConfig: Record<string, unknown>;
let rewrittenConfig: Record<string, unknown>;
let adapterRules: unknown[];
const started: Managed[] = [];

const appPods = () => items<PodObj>('pods', '-n', appNs, '-l', 'app.kubernetes.io/name=webhook-app');
const readyAppPods = async () =>
  (await appPods()).filter((p) => isReady(p) && !get(p, 'metadata', 'deletionTimestamp'));
const deploymentReplicas = async () =>
  Number(await kubectl('get', 'deployment', '-n', appNs, 'webhook-app', '-o', 'jsonpath={.spec.replicas}'));

async function promApi<T>(path: string): Promise<T> {
  const res = await fetch(`${promUrl}${path}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { status: string; error?: string; data: T };
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
  return body.data;
}
interface Target {
  labels: Record<string, string>;
  scrapePool: string;
  health: string;
  lastError: string;
}
const webhookTargets = async () =>
  (await promApi<{ activeTargets: Target[] }>('/api/v1/targets?state=active')).activeTargets.filter((t) =>
    t.scrapePool.startsWith(`serviceMonitor/${monNs}/webhook-app/`),
  );
interface MetricValue {
  describedObject: { kind: string; name: string; namespace: string };
  metricName: string;
  value: string;
}
const customMetric = async (metric: string) =>
  (
    JSON.parse(
      await kubectl('get', '--raw', `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${appNs}/pods/*/${metric}`),
    ) as { items: MetricValue[] }
  ).items;

/** The kustomization of services/webhook-app/k8s in the test's namespace, on the real node, with the run's images. */
function renderWebhookApp(images: { app: string; postgres: string }): unknown[] {
  const overlay = join(dir, 'overlay');
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace: appNs,
    resources: [relative(overlay, join(REPO_ROOT, 'services/webhook-app/k8s'))],
    images: [
      { name: 'sre-platform/webhook-app', newName: images.app.split(':')[0], newTag: images.app.split(':')[1] },
      { name: 'postgres', newName: images.postgres.split(':')[0], newTag: images.postgres.split(':')[1] },
    ],
    patches: [
      ...['Deployment/webhook-app', 'StatefulSet/postgres'].map((w) => ({
        patch: stringify({
          apiVersion: 'apps/v1',
          kind: w.split('/')[0],
          metadata: { name: w.split('/')[1] },
          spec: { template: { spec: { nodeSelector: REAL_NODE.nodeSelector, tolerations: REAL_NODE.tolerations } } },
        }),
      })),
      {
        target: { kind: 'StatefulSet', name: 'postgres' },
        patch: stringify([
          { op: 'add', path: '/spec/volumeClaimTemplates/0/spec/storageClassName', value: 'real-node' },
        ]),
      },
      {
        patch: stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'webhook-app' },
          data: { ROCKETCHAT_URL: peer.url },
        }),
      },
      // The test's only change to hpa.yaml: a shorter scale-down (production: 300 s window, one pod per 60 s).
      {
        target: { kind: 'HorizontalPodAutoscaler', name: 'webhook-app' },
        patch: stringify([
          { op: 'replace', path: '/spec/behavior/scaleDown/stabilizationWindowSeconds', value: 30 },
          { op: 'replace', path: '/spec/behavior/scaleDown/policies/0/periodSeconds', value: 15 },
        ]),
      },
    ],
  };
  mkdirSync(overlay, { recursive: true });
  writeFileSync(join(overlay, 'kustomization.yaml'), stringify(kustomization));
  return parseManifests(kustomize(relative(REPO_ROOT, overlay)));
}

/**
 * Holds `connections` GitLab push webhooks in flight against `host:8080`, each a new connection (so kube-proxy spreads
 * them over the pods there are at the time): headers at once, then one byte of JSON whitespace a second for
 * `holdMs`, then the push itself. A request whose body is still arriving is in flight for webhook-app (its gauge
 * counts from the first byte), as a slow client's is. A finished one is replaced at once until stop(), which
 * finishes the open ones and waits for their answers.
 */
function holdSlowUploads(host: string, connections: number, holdMs: number) {
  let stopping = false;
  let sequence = 0;
  const statuses: number[] = [];
  const errors: string[] = [];
  const open = new Set<{ finish: () => void; answered: Promise<void> }>();
  const one = () => {
    if (stopping) return;
    const key = `load-${++sequence}-${randomBytes(4).toString('hex')}`;
    let finished = false;
    const req = http.request({
      host,
      port: 8080,
      method: 'POST',
      path: '/webhooks/gitlab',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-token': TOKEN,
        'idempotency-key': key,
      },
    });
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      req.end(PUSH);
    };
    const entry = {
      finish,
      answered: new Promise<void>((done) => {
        req.on('response', (res) => {
          statuses.push(res.statusCode ?? 0);
          res.resume();
          res.on('end', done);
        });
        req.on('error', (err) => {
          errors.push(err.message);
          done();
        });
      }).finally(() => {
        clearInterval(timer);
        open.delete(entry);
        one();
      }),
    };
    open.add(entry);
    req.flushHeaders();
    const until = Date.now() + holdMs;
    const timer = setInterval(() => {
      if (Date.now() >= until) finish();
      else req.write(' ');
    }, 1000);
  };
  for (let i = 0; i < connections; i++) one();
  return {
    statuses,
    errors,
    /** How many uploads were sent: `connections` at first, and one more each time one was answered. */
    sent: () => sequence,
    async stop() {
      stopping = true;
      const pending = [...open];
      for (const o of pending) o.finish();
      await Promise.all(pending.map((o) => o.answered));
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'monitoring-e2e-'));
  appNs = uniqueName('webhook-app');
  monNs = uniqueName('monitoring');
  await startRealNode(cluster());
  const [app, postgres] = await Promise.all([
    serviceImage(cluster(), 'webhook-app'),
    serviceImage(cluster(), 'postgres'),
  ]);
  peer = await startPeer({ host: REAL_NODE.ip });
  peer.addUser(BOT.username, BOT.password, ['bot']);
  peer.addUser('ops');

  // --- webhook-app and its PostgreSQL, from services/webhook-app/k8s (HPA included) ------------------------------
  const rendered = renderWebhookApp({ app: app.ref, postgres: postgres.ref });
  const namespace = rendered.find((d) => get(d, 'kind') === 'Namespace') as Obj;
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: appNs, labels: { ...namespace.metadata.labels, 'sre-platform/test': 'true' } },
    },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: monNs, labels: { 'sre-platform/test': 'true' } } },
  ]);
  const pg = { user: 'webhook_app', password: randomBytes(24).toString('hex'), db: 'webhook_app' };
  const secret = (name: string, data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: appNs },
    stringData: data,
  });
  await apply([
    secret('postgres-credentials', { POSTGRES_USER: pg.user, POSTGRES_PASSWORD: pg.password, POSTGRES_DB: pg.db }),
    secret('webhook-app-database', {
      DATABASE_URL: `postgres://${pg.user}:${pg.password}@postgres.${appNs}.svc.cluster.local:5432/${pg.db}`,
    }),
    secret('webhook-app', {
      GITLAB_WEBHOOK_SECRET: TOKEN,
      ADMIN_TOKEN: randomBytes(32).toString('hex'),
      ROCKETCHAT_USERNAME: BOT.username,
      ROCKETCHAT_PASSWORD: BOT.password,
    }),
  ]);
  await apply(rendered.filter((d) => get(d, 'kind') !== 'Namespace'));

  // --- prometheus-operator, its CRDs and a Prometheus resource -------------------------------------------------------
  // The run's apiserver and its admin credentials, from its kubeconfig (file paths, as kwok writes them).
  const kubeconfig = parse(readFileSync(cluster().kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority': string } }[];
    users: { user: { 'client-certificate': string; 'client-key': string } }[];
  };
  const api = {
    server: kubeconfig.clusters[0]!.cluster.server,
    ca: kubeconfig.clusters[0]!.cluster['certificate-authority'],
    cert: kubeconfig.users[0]!.user['client-certificate'],
    key: kubeconfig.users[0]!.user['client-key'],
  };
  const versionOutput = await run(PROMETHEUS_BIN(), ['--version']);
  const prometheusVersion = /version (\S+)/.exec(versionOutput.stdout + versionOutput.stderr)![1]!;
  const crds = join(toolBin('prometheus-operator'), '../crds');
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager=monitoring-e2e', '-f', crds);
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', crds);
  operator = startManaged('prometheus-operator', join(toolBin('prometheus-operator'), 'prometheus-operator'), [
    `--apiserver=${api.server}`,
    `--ca-file=${api.ca}`,
    `--cert-file=${api.cert}`,
    `--key-file=${api.key}`,
    `--namespaces=${monNs}`,
    `--web.listen-address=127.0.0.1:${await freePort()}`,
    '--log-level=info',
  ]);
  started.push(operator);
  const serviceMonitor = parse(readFileSync(SERVICE_MONITOR, 'utf8')) as Obj & {
    spec: { namespaceSelector: { matchNames: string[] } };
  };
  serviceMonitor.metadata.namespace = monNs;
  serviceMonitor.spec.namespaceSelector = { matchNames: [appNs] };
  await apply([
    serviceMonitor,
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: { name: PROMETHEUS_NAME, namespace: monNs },
      spec: {
        version: `v${prometheusVersion}`,
        replicas: 1,
        scrapeInterval: '30s', // the values' (ServiceMonitors may ask for less: webhook-app's asks for 15 s)
        serviceMonitorSelector: {},
        serviceMonitorNamespaceSelector: {},
      },
    },
  ]);
  const gz = await eventually(
    `prometheus-operator to write Secret prometheus-${PROMETHEUS_NAME} with a job for the ServiceMonitor`,
    async () => {
      const s = JSON.parse(
        await kubectl('get', 'secret', '-n', monNs, `prometheus-${PROMETHEUS_NAME}`, '-o', 'json'),
      ) as Obj;
      const data = s.data?.['prometheus.yaml.gz'];
      if (!data) return undefined;
      const text = gunzipSync(Buffer.from(data, 'base64')).toString('utf8');
      return text.includes(`serviceMonitor/${monNs}/webhook-app/0`) ? text : undefined;
    },
    120_000,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${operator.output().slice(-3000)}`);
  });
  // In the pod, prometheus-config-reloader writes this file out for Prometheus with $(VAR) references expanded from
  // the container's environment: SHARD (the StatefulSet's shard, 0 for the one shard) and POD_NAME. Here the test
  // does that expansion, with the values the stack's single pod has.
  generatedText = gz;
  const reloaderEnv: Record<string, string> = { SHARD: '0', POD_NAME: `prometheus-${PROMETHEUS_NAME}-0` };
  generatedConfig = parse(gz.replace(/\$\((\w+)\)/g, (ref, name: string) => reloaderEnv[name] ?? ref)) as Record<
    string,
    unknown
  >;

  // --- the host's Prometheus, with that configuration -------------------------------------------------------------
  rewrittenConfig = structuredClone(generatedConfig);
  for (const job of rewrittenConfig['scrape_configs'] as Record<string, unknown>[]) {
    for (const sd of (job['kubernetes_sd_configs'] ?? []) as Record<string, unknown>[]) {
      sd['api_server'] = api.server;
      sd['tls_config'] = { ca_file: api.ca, cert_file: api.cert, key_file: api.key };
    }
  }
  writeFileSync(join(dir, 'prometheus.yaml'), stringify(rewrittenConfig));
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  prometheus = startManaged('prometheus', PROMETHEUS_BIN(), [
    `--config.file=${join(dir, 'prometheus.yaml')}`,
    `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  started.push(prometheus);
  await waitFor('prometheus', async () => (await fetch(`${promUrl}/-/ready`)).ok, 60_000, prometheus);

  // --- prometheus-adapter with the values' rules, registered as v1beta1.custom.metrics.k8s.io --------------------
  const values = parse(readFileSync(ADAPTER_VALUES, 'utf8')) as {
    metricsRelistInterval: string;
    rules: { default: boolean; custom: unknown[] };
  };
  adapterRules = values.rules.custom;
  writeFileSync(join(dir, 'adapter.yaml'), stringify({ rules: adapterRules }));
  const adapterPort = await freePort();
  adapter = startManaged('prometheus-adapter', join(toolBin('prometheus-adapter'), 'prometheus-adapter'), [
    `--prometheus-url=${promUrl}`,
    `--config=${join(dir, 'adapter.yaml')}`,
    `--metrics-relist-interval=${values.metricsRelistInterval}`,
    `--bind-address=${REAL_NODE.ip}`,
    `--secure-port=${adapterPort}`,
    `--cert-dir=${join(dir, 'adapter-certs')}`,
    ...['lister', 'authentication', 'authorization'].map((k) => `--${k}-kubeconfig=${cluster().kubeconfig}`),
    '--v=2',
  ]);
  started.push(adapter);
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'prometheus-adapter', namespace: monNs },
      spec: { ports: [{ name: 'https', port: 443, targetPort: adapterPort, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'prometheus-adapter-host',
        namespace: monNs,
        labels: { 'kubernetes.io/service-name': 'prometheus-adapter' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [REAL_NODE.ip], conditions: { ready: true } }],
      ports: [{ name: 'https', port: adapterPort, protocol: 'TCP' }],
    },
    {
      // As the chart registers it (insecureSkipTLSVerify: the adapter's own self-signed serving certificate).
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1beta1.custom.metrics.k8s.io' },
      spec: {
        service: { name: 'prometheus-adapter', namespace: monNs, port: 443 },
        group: 'custom.metrics.k8s.io',
        version: 'v1beta1',
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ]);

  // --- the starting point: the HPA's floor, two Ready pods on the real node ----------------------------------------
  await eventually(
    'webhook-app at the HPA floor: 2 Ready pods',
    async () => ((await readyAppPods()).length === 2 ? true : undefined),
    600_000,
    1000,
  );
}, 1_800_000);

afterAll(async () => {
  await kubectl('delete', 'apiservice', 'v1beta1.custom.metrics.k8s.io', '--ignore-not-found').catch(() => undefined);
  for (const p of started.reverse()) await p.stop();
  await peer?.close();
  if (appNs) {
    await kubectl('delete', 'namespace', '--ignore-not-found', '--wait=false', appNs, monNs).catch(() => undefined);
  }
  // The CRDs stay: they are cluster-wide, and users-api's chart test, which may run beside this file, applies the same
  // ones for its ServiceMonitor (deleting them here would delete its ServiceMonitor mid-test). This file runs only on
  // the run's own cluster (the real node refuses TEST_KUBECONFIG), which goes with the run.
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Part B end to end: ServiceMonitor -> Prometheus -> prometheus-adapter -> HPA, on the real node', () => {
  it("scrapes every webhook-app pod with the operator's configuration for our ServiceMonitor: every target up", async () => {
    const jobs = (generatedConfig['scrape_configs'] as { job_name: string; kubernetes_sd_configs?: unknown[] }[]).map(
      (j) => j.job_name,
    );
    expect(jobs).toEqual([`serviceMonitor/${monNs}/webhook-app/0`]);
    // The environment references the config reloader expands, and no other.
    expect(new Set(generatedText.match(/\$\(\w+\)/g))).toEqual(new Set(['$(SHARD)', '$(POD_NAME)']));
    // The only rewrite: where the service discovery finds the apiserver, and with which credentials.
    const withoutApiServer = (c: Record<string, unknown>) => {
      const copy = structuredClone(c);
      for (const job of copy['scrape_configs'] as Record<string, unknown>[]) {
        for (const sd of (job['kubernetes_sd_configs'] ?? []) as Record<string, unknown>[]) {
          delete sd['api_server'];
          delete sd['tls_config'];
        }
      }
      return copy;
    };
    expect(withoutApiServer(rewrittenConfig)).toEqual(generatedConfig);

    const pods = await readyAppPods();
    const targets = await eventually(
      'a target per Ready pod, every one up',
      async () => {
        const t = await webhookTargets();
        return t.length === pods.length && t.every((x) => x.health === 'up') ? t : undefined;
      },
      120_000,
      1000,
    );
    expect(targets.map((t) => t.labels['pod']).sort()).toEqual(pods.map((p) => p.metadata.name).sort());
    for (const t of targets) {
      expect(t.labels).toMatchObject({ namespace: appNs, service: 'webhook-app', job: 'webhook-app' });
      expect(t.lastError).toBe('');
    }
    const series = await promApi<{ result: { metric: Record<string, string> }[] }>(
      `/api/v1/query?query=${encodeURIComponent(`http_requests_in_flight{namespace="${appNs}"}`)}`,
    );
    expect(new Set(series.result.map((r) => r.metric['pod']))).toEqual(new Set(pods.map((p) => p.metadata.name)));
  });

  it('serves http_requests_in_flight and the received rate per pod through custom.metrics.k8s.io', async () => {
    const ready = await readyAppPods();
    const pods = ready.map((p) => p.metadata.name).sort();
    // Webhooks sent to each pod's own IP, so that every pod's received counter has a series. (Sent through the
    // Service, kube-proxy's random choice left one of two pods without any about once in 32 runs, and the test
    // waited for a series that could not come.)
    const loads = ready.map((p) => holdSlowUploads(p.status!.podIP!, 3, 1000));
    await Promise.all(loads.map((l) => l.stop()));
    expect(loads.flatMap((l) => l.errors)).toEqual([]);
    expect(loads.map((l) => l.statuses.length)).toEqual(loads.map((l) => l.sent()));
    expect(loads.flatMap((l) => l.statuses).every((s) => s === 202)).toBe(true);

    const inFlight = await eventually(
      'http_requests_in_flight for every pod from the custom metrics API',
      async () => {
        const got = await customMetric('http_requests_in_flight');
        return got
          .map((i) => i.describedObject.name)
          .sort()
          .join() === pods.join()
          ? got
          : undefined;
      },
      180_000,
      2000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nadapter:\n${adapter.output().slice(-3000)}`);
    });
    for (const v of inFlight) {
      expect(v.describedObject).toMatchObject({ kind: 'Pod', namespace: appNs });
      expect(v.metricName).toBe('http_requests_in_flight');
      expect(Number.isFinite(Number.parseFloat(v.value))).toBe(true);
    }
    const received = await eventually(
      'webhook_events_received_per_second for every pod',
      async () => {
        const got = await customMetric('webhook_events_received_per_second');
        return got.length === pods.length ? got : undefined;
      },
      180_000,
      2000,
    );
    expect(received.map((i) => i.describedObject.name).sort()).toEqual(pods);
    // The adapter runs with the values' rules and nothing else: no other metric is listed.
    const resources = (
      JSON.parse(await kubectl('get', '--raw', '/apis/custom.metrics.k8s.io/v1beta1')) as {
        resources: { name: string }[];
      }
    ).resources.map((r) => r.name);
    expect(resources.sort()).toEqual(
      [
        'namespaces/http_requests_in_flight',
        'namespaces/webhook_events_received_per_second',
        'pods/http_requests_in_flight',
        'pods/webhook_events_received_per_second',
      ].sort(),
    );
  }, 420_000); // both waits (180 s each) fit: a miss reports what it waited for, not a bare timeout

  it('scales webhook-app out on in-flight load, with new pods Ready on the real node and scraped, and back in', async () => {
    const before = new Set((await readyAppPods()).map((p) => p.metadata.name));
    expect(before.size).toBe(2);
    const svcIP = await kubectl('get', 'service', '-n', appNs, 'webhook-app', '-o', 'jsonpath={.spec.clusterIP}');

    const loadStart = Date.now();
    const load = holdSlowUploads(svcIP, LOAD_CONNECTIONS, 20_000);
    let loadEnd: number;
    let maxReplicas = 2;
    try {
      const desired = await eventually(
        'the HPA to raise the replica count',
        async () => {
          const n = await deploymentReplicas();
          return n > 2 ? n : undefined;
        },
        600_000,
        1000,
      );
      const hpaDecided = Date.now();
      maxReplicas = desired;
      const firstNew = await eventually(
        'a new pod Ready on the real node',
        async () => (await readyAppPods()).find((p) => !before.has(p.metadata.name)),
        600_000,
        1000,
      );
      const firstReady = Date.now();
      expect(firstNew.spec?.nodeName).toBe(REAL_NODE.name);
      // Every pod the HPA asked for, Ready, each on the real node and scraped (a target, up).
      const all = await eventually(
        'every replica Ready and scraped',
        async () => {
          const n = await deploymentReplicas();
          maxReplicas = Math.max(maxReplicas, n);
          const ready = await readyAppPods();
          if (ready.length !== n) return undefined;
          const up = new Set((await webhookTargets()).filter((t) => t.health === 'up').map((t) => t.labels['pod']));
          return ready.every((p) => up.has(p.metadata.name)) ? ready : undefined;
        },
        600_000,
        2000,
      );
      const added = all.filter((p) => !before.has(p.metadata.name));
      expect(added.length).toBeGreaterThan(0);
      for (const p of all) expect(p.spec?.nodeName, p.metadata.name).toBe(REAL_NODE.name);
      const scraped = Date.now();
      // The adapter serves the new pods' values too (it lists a new pod's series at its next relist).
      await eventually(
        'the custom metrics API to serve every new pod',
        async () => {
          const served = new Set((await customMetric('http_requests_in_flight')).map((i) => i.describedObject.name));
          return added.every((p) => served.has(p.metadata.name)) ? true : undefined;
        },
        300_000,
        1000,
      );
      const servedAt = Date.now();
      process.stdout.write(
        `HPA scale-out: load start (${LOAD_CONNECTIONS} slow uploads) -> replicas raised ${hpaDecided - loadStart} ms ` +
          `-> first new pod Ready ${firstReady - loadStart} ms; ${all.length} pods Ready and scraped after ` +
          `${scraped - loadStart} ms; the new pods' values served by the adapter ${servedAt - scraped} ms after that\n`,
      );
    } finally {
      await load.stop();
      loadEnd = Date.now();
    }
    expect(load.errors).toEqual([]);
    // Every upload sent was answered, and each with 202. (How many were sent depends on how long the scale-out took:
    // exactly LOAD_CONNECTIONS when it all happened within one upload's 20 s.)
    expect(load.sent()).toBeGreaterThanOrEqual(LOAD_CONNECTIONS);
    expect(load.statuses.length).toBe(load.sent());
    expect(load.statuses.filter((s) => s !== 202)).toEqual([]);

    await eventually(
      'the HPA to bring webhook-app back to 2 replicas, and only 2 pods left',
      async () => ((await deploymentReplicas()) === 2 && (await appPods()).length === 2 ? true : undefined),
      900_000,
      2000,
    );
    process.stdout.write(
      `HPA scale-in: load end -> back to 2 pods ${Date.now() - loadEnd} ms (test window 30 s, one pod per 15 s; ` +
        `peak ${maxReplicas} replicas)\n`,
    );
    expect(maxReplicas).toBeGreaterThan(2);
    // Every webhook of the load was accepted and delivered as a DM once.
    await eventually(
      'every accepted webhook delivered',
      async () => (peer.messages.length >= load.statuses.length ? true : undefined),
      300_000,
      1000,
    );
    expect(peer.violations).toEqual([]);
  }, 2_400_000);

  it("answers every dashboard panel's query from this Prometheus: data wherever the metrics it reads exist", async () => {
    const configMap = parse(readFileSync(DASHBOARD, 'utf8')) as Obj;
    const dashboard = JSON.parse(Object.values(configMap.data!)[0]!) as {
      time: { from: string };
      panels: { title: string; targets?: { expr: string }[]; panels?: unknown[] }[];
    };
    type Panel = (typeof dashboard.panels)[number];
    const flat = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...flat((p.panels ?? []) as Panel[])]);
    const range = /^now-(\w+)$/.exec(dashboard.time.from)![1]!;
    // Grafana's variables as it would fill them for this namespace, all pods, a 15 s scrape interval.
    const fill = (expr: string) =>
      expr
        .replaceAll('$namespace', appNs)
        .replaceAll('$pod', '.*')
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', range);
    const queries = flat(dashboard.panels).flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(queries.length).toBeGreaterThan(5);
    const missing: string[] = [];
    const costs: string[] = [];
    for (const q of queries) {
      const expr = fill(q.expr);
      const res = await fetch(`${promUrl}/api/v1/query?stats=all&query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: {
          result: unknown[];
          stats?: { timings?: { evalTotalTime: number }; samples?: { totalQueryableSamples: number } };
        };
      };
      expect(body.status, `${q.panel}: ${expr}: ${body.error ?? ''}`).toBe('success');
      // The series it reads (each selector): when this Prometheus has them all, the panel must show data.
      const selectors = [...new Set(expr.match(/[a-z_:][a-z0-9_:]*\{[^}]*\}/g) ?? [])];
      const absent: string[] = [];
      for (const sel of selectors) {
        const found = await promApi<unknown[]>(`/api/v1/series?match[]=${encodeURIComponent(sel)}`);
        if (found.length === 0) absent.push(sel);
      }
      // A ratio whose numerator falls back to `vector(0)` shows 0, not "No data", before its first event.
      if (absent.length === 0 || expr.includes(' or vector(0))')) {
        expect(body.data.result.length, `${q.panel}: ${expr}`).toBeGreaterThan(0);
      }
      missing.push(...absent.map((sel) => `${q.panel}: ${sel}`));
      costs.push(
        `${((body.data.stats?.timings?.evalTotalTime ?? 0) * 1000).toFixed(2)} ms / ${body.data.stats?.samples?.totalQueryableSamples ?? '?'} samples`,
      );
    }
    // What cannot have data here: kube-state-metrics' series (not run on this cluster), and the series of events that
    // did not happen in this test (prom-client exports a labelled series from its first increment): delivery
    // failures, dead letters, 5xx answers.
    for (const m of missing) {
      expect(m).toMatch(
        /: (kube_\w+\{|webhook_delivery_failures_total\{|webhook_dead_letters_total\{|\w+\{.*status_code=~"5\.\.")/,
      );
    }
    process.stdout.write(
      `dashboard: ${queries.length} queries; the ones whose series exist here all have data; series absent here: ` +
        `${missing.join('; ')}\ndashboard query cost (eval time / samples): ${costs.join(', ')}\n`,
    );
  });

  it('prints the cost of /metrics on webhook-app at its real series count (a figure, not an assertion)', async () => {
    const [pod] = await readyAppPods();
    const url = `http://${pod!.status?.podIP}:8080/metrics`;
    const scrape = async () => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
    const cpu = (text: string) => Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)![1]);
    const first = await scrape();
    const series = first.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    const n = 200;
    const t0 = Date.now();
    let last = first;
    for (let i = 0; i < n; i++) last = await scrape();
    const ms = Date.now() - t0;
    const perScrape = ((cpu(last) - cpu(first)) / n) * 1000;
    expect(series).toBeGreaterThan(0);
    process.stdout.write(
      `webhook-app /metrics: ${series} series, ${first.length} bytes; ${perScrape.toFixed(2)} ms of the process's CPU ` +
        `per scrape over ${n} back-to-back scrapes (${(ms / n).toFixed(1)} ms wall each)\n`,
    );
  });
});
