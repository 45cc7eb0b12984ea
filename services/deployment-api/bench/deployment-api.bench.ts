// deployment-api against baselines measured in the same run, on its own local control plane:
//  - GetDeployment over gRPC/mTLS from the server's cache vs a direct apiserver read of the same
//    Deployment (what a cache-less server would do per request): p50/p99 and the ratio;
//  - with 1,000 Deployments in the cluster: the server's resident memory once its caches are
//    synced, and listing all of them (two 500-item pages) vs one apiserver list call;
//  - drift to restored: a scale made behind the server's back until the watch shows the desired
//    count again (the whole loop: watch event, queue, scale write, apiserver, watch).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { startCluster } from '../../../packages/test-platform/src/cluster.ts';
import { createAuthority } from '../scripts/pki.ts';
import { deploymentClient } from '../src/client.ts';

// DEPLOYMENT_API_ENTRY: another entry point, e.g. the bundle (node tools/build/bundle.ts services/deployment-api;
// dist/bundle/deployment-api/main.js) to measure the server as its image runs it.
const MAIN = process.env['DEPLOYMENT_API_ENTRY'] ?? fileURLToPath(new URL('../src/main.ts', import.meta.url));
const CRD = fileURLToPath(new URL('../chart/crds/manageddeployments.yaml', import.meta.url));
const DEPLOYMENTS = Number(process.env['BENCH_DEPLOYMENTS'] ?? 1000);
const GETS = Number(process.env['BENCH_GETS'] ?? 2000);
const LISTS = 30;
const DRIFTS = 20;
const NS = 'bench';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

async function inBatches(n: number, size: number, fn: (i: number) => Promise<unknown>) {
  for (let i = 0; i < n; i += size)
    await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => fn(i + j)));
}

const { info, stop } = await startCluster();
const work = mkdtempSync(join(tmpdir(), 'deployment-api-bench-'));
let serverProcess: StartedProcess | undefined;
const out = { push: (line: string) => process.stdout.write(`${line}\n`) };
// An interrupted run still deletes its cluster.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stop().finally(() => process.exit(130));
  });
}
try {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of k8s.loadAllYaml(readFileSync(CRD, 'utf8')) as k8s.KubernetesObject[]) {
    await objects.patch(o, undefined, undefined, 'bench', true, k8s.PatchStrategy.ServerSideApply);
  }
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const t0 = performance.now();
  await inBatches(DEPLOYMENTS, 25, (i) =>
    apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: `d-${String(i).padStart(4, '0')}`, labels: { app: `d-${i}`, bench: 'yes' } },
        spec: {
          // 0 replicas for the bulk: the figures are about Deployment objects, not simulated pods.
          replicas: i === 0 ? 1 : 0,
          selector: { matchLabels: { app: `d-${i}` } },
          template: { metadata: { labels: { app: `d-${i}` } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        },
      },
    }),
  );
  out.push(`setup: ${DEPLOYMENTS} Deployments created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const ca = await createAuthority('bench CA');
  const server = await ca.issue({ commonName: 'deployment-api', usage: 'server', ips: ['127.0.0.1'] });
  const op = await ca.issue({ commonName: 'bench', organizations: ['deployment-api:operators'], usage: 'client' });
  for (const [f, c] of Object.entries({ 'ca.crt': ca.cert, 'tls.crt': server.cert, 'tls.key': server.key })) {
    writeFileSync(join(work, f), c);
  }
  const port = await freePort();
  const apiPort = await freePort();
  const started = performance.now();
  const proc = await startProcess(
    MAIN,
    {
      PORT: String(port),
      API_PORT: String(apiPort),
      TLS_CERT_FILE: join(work, 'tls.crt'),
      TLS_KEY_FILE: join(work, 'tls.key'),
      TLS_CLIENT_CA_FILE: join(work, 'ca.crt'),
      KUBECONFIG: info.kubeconfig,
      LOG_LEVEL: 'warn',
    },
    { readyTimeoutMs: 60_000 },
  );
  serverProcess = proc;
  out.push(
    `server ready (caches synced with ${DEPLOYMENTS} Deployments) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))![1]) / 1024;
  const api = deploymentClient({ baseUrl: `https://127.0.0.1:${apiPort}`, ca: ca.cert, cert: op.cert, key: op.key });
  await new Promise((r) => setTimeout(r, 3000)); // let start-up garbage be collected
  out.push(`server RSS idle with ${DEPLOYMENTS} Deployments cached: ${rss().toFixed(0)} MiB`);

  // Get: cache vs apiserver.
  const ref = (i: number) => ({ namespace: NS, name: `d-${String(i % DEPLOYMENTS).padStart(4, '0')}` });
  await timeEach(200, (i) => api.getDeployment({ ref: ref(i) })); // warm-up
  await timeEach(200, (i) => apps.readNamespacedDeployment(ref(i)));
  const viaCache = await timeEach(GETS, (i) => api.getDeployment({ ref: ref(i) }));
  const direct = await timeEach(GETS, (i) => apps.readNamespacedDeployment(ref(i)));
  out.push(
    `get (${GETS} sequential)    server cache p50 ${ms(quantile(viaCache, 0.5))} p99 ${ms(quantile(viaCache, 0.99))}` +
      `   apiserver read p50 ${ms(quantile(direct, 0.5))} p99 ${ms(quantile(direct, 0.99))}` +
      `   p99 ratio ${(quantile(direct, 0.99) / quantile(viaCache, 0.99)).toFixed(1)}x`,
  );

  // List all 1,000: the API (two pages of 500) vs one apiserver list.
  const listAll = async () => {
    let token = '';
    let n = 0;
    do {
      const r = await api.listDeployments({ namespace: NS, pageSize: 500, pageToken: token });
      n += r.deployments.length;
      token = r.nextPageToken;
    } while (token !== '');
    if (n !== DEPLOYMENTS) throw new Error(`listed ${n}`);
  };
  await listAll();
  const lists = await timeEach(LISTS, listAll);
  const directLists = await timeEach(LISTS, () => apps.listNamespacedDeployment({ namespace: NS }));
  out.push(
    `list all ${DEPLOYMENTS} (${LISTS}x)   server p50 ${ms(quantile(lists, 0.5))} p99 ${ms(quantile(lists, 0.99))}` +
      `   apiserver list p50 ${ms(quantile(directLists, 0.5))} p99 ${ms(quantile(directLists, 0.99))}`,
  );
  out.push(`server RSS after the get and list load: ${rss().toFixed(0)} MiB`);

  // Drift to restored.
  const target = { namespace: NS, name: 'd-0000' };
  await api.setDesiredReplicas({ ref: target, replicas: 2 });
  for (let i = 0; i < 100 && (await apps.readNamespacedDeployment(target)).spec?.replicas !== 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const watch = new k8s.Watch(kc);
  let waiting: ((replicas: number) => void) | undefined;
  const req = await watch.watch(
    `/apis/apps/v1/namespaces/${NS}/deployments`,
    { fieldSelector: `metadata.name=${target.name}` },
    (_type, obj: k8s.V1Deployment) => waiting?.(obj.spec?.replicas ?? -1),
    (err: unknown) => {
      // The abort at the end is expected; anything else would stall the drift rounds.
      if (err instanceof Error && err.name !== 'AbortError') out.push(`watch ended: ${err.message}`);
    },
  );
  // Resolves once the watch has shown the drifted count and then the desired one again (events
  // about the previous round, still carrying the desired count, do not count).
  const roundTrip = (drifted: number, want: number) =>
    new Promise<void>((resolve) => {
      let seenDrift = false;
      waiting = (r) => {
        if (r === drifted) seenDrift = true;
        else if (seenDrift && r === want) resolve();
      };
    });
  const drift: number[] = [];
  for (let i = 0; i < DRIFTS; i++) {
    const drifted = 5 + (i % 3);
    const restored = roundTrip(drifted, 2);
    const t = performance.now();
    await apps.patchNamespacedDeploymentScale(
      { ...target, body: { spec: { replicas: drifted } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await Promise.race([
      restored,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`drift round ${i} not restored in 30 s`)), 30_000)),
    ]);
    drift.push(performance.now() - t);
  }
  req.abort();
  out.push(`drift to restored (${DRIFTS}x)   p50 ${ms(quantile(drift, 0.5))} p99 ${ms(quantile(drift, 0.99))}`);
  await proc.stop();
} finally {
  // A failed run must not leave the server behind.
  if (serverProcess && serverProcess.child.exitCode === null) serverProcess.child.kill('SIGKILL');
  await stop();
  rmSync(work, { recursive: true, force: true });
}
