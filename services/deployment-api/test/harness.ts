// What the integration tests share: the CRD applied once, a PKI per test file, the server started
// as a real process (node src/main.ts) against the run's cluster, and mTLS clients. A file's set-up is
// one call: useServers (servers a test starts, stopped after it) or useFileServer (one for the file).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ConnectError } from '@connectrpc/connect';
import * as k8s from '@kubernetes/client-node';
import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { cluster, kubeConfig } from '@sre-platform/test-platform';
import { helm as helmIn } from '@sre-platform/test-platform/kubectl';
import { afterAll, afterEach, beforeAll } from 'vitest';

import { deploymentClient, type Protocol } from '../src/client.ts';
import { createAuthority, type Authority, type Pem } from '../scripts/pki.ts';
import { hpaOf } from './fixtures.ts';

export const SERVICE_DIR = join(import.meta.dirname, '..');
export const MAIN = join(SERVICE_DIR, 'src/main.ts');
export const CRD_FILE = join(SERVICE_DIR, 'chart/crds/manageddeployments.yaml');

/** Applies the CRD (server-side apply, idempotent) and waits until it is Established. */
export async function applyCrd(): Promise<void> {
  const kc = kubeConfig();
  const objects = k8s.loadAllYaml(readFileSync(CRD_FILE, 'utf8')) as k8s.KubernetesObject[];
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) {
    await api.patch(o, undefined, undefined, 'deployment-api-tests', true, k8s.PatchStrategy.ServerSideApply);
  }
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (let i = 0; i < 100; i++) {
    const crd = await ext.readCustomResourceDefinition({ name: 'manageddeployments.deployments.sre-platform.dev' });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await sleep(100);
  }
  throw new Error('CRD not established');
}

export interface Pki {
  dir: string;
  ca: Authority;
  server: Pem;
  operator: Pem;
  reader: Pem;
  files: { caCert: string; serverCert: string; serverKey: string };
}

export async function makePki(): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'deployment-api-pki-'));
  const ca = await createAuthority('test CA');
  const server = await ca.issue({
    commonName: 'deployment-api',
    usage: 'server',
    dnsNames: ['localhost'],
    ips: ['127.0.0.1'],
  });
  const operator = await ca.issue({ commonName: 'op', organizations: ['deployment-api:operators'], usage: 'client' });
  const reader = await ca.issue({ commonName: 'rd', organizations: ['deployment-api:readers'], usage: 'client' });
  const files = {
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
  };
  writeFileSync(files.caCert, ca.cert);
  writeFileSync(files.serverCert, server.cert);
  writeFileSync(files.serverKey, server.key);
  // The clients' identities as deployctl reads them (deployctlEnv).
  for (const [who, pem] of [
    ['operator', operator],
    ['reader', reader],
  ] as const) {
    writeFileSync(join(dir, `${who}.crt`), pem.cert);
    writeFileSync(join(dir, `${who}.key`), pem.key);
  }
  return { dir, ca, server, operator, reader, files };
}

/** The CRD applied and the file's PKI made before its first test: the object returned is filled in then. */
export function usePki(): Pki {
  const pki = {} as Pki;
  beforeAll(async () => {
    await applyCrd();
    Object.assign(pki, await makePki());
  });
  return pki;
}

/** deployctl's environment for `who`, against the API at `apiUrl`. */
export function deployctlEnv(apiUrl: string, pki: Pki, who: 'operator' | 'reader'): Record<string, string> {
  return {
    DEPLOYCTL_SERVER: apiUrl,
    DEPLOYCTL_CA: pki.files.caCert,
    DEPLOYCTL_CERT: join(pki.dir, `${who}.crt`),
    DEPLOYCTL_KEY: join(pki.dir, `${who}.key`),
  };
}

/** The pinned helm against the run's cluster, with its cache and config in the PKI's scratch directory. */
export const helm = (pki: Pki, ...args: string[]): Promise<string> => helmIn(pki.dir, ...args);

/** The chart's server Secret (mode "secret"): the PKI's server certificate and key, and its CA for clients. */
export async function createTlsSecret(pki: Pki, namespace: string): Promise<void> {
  await kubeConfig()
    .makeApiClient(k8s.CoreV1Api)
    .createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'deployment-api-tls' },
        type: 'kubernetes.io/tls',
        stringData: { 'tls.crt': pki.server.cert, 'tls.key': pki.server.key, 'ca.crt': pki.ca.cert },
      },
    });
}

export interface Server {
  process: StartedProcess;
  probeUrl: string;
  apiUrl: string;
  identity: string;
}

/** What a server needs to serve on these ports, with the PKI's certificates, against the run's cluster. */
export function serverEnv(pki: Pki, port: number, apiPort: number): Record<string, string> {
  return {
    PORT: String(port),
    API_PORT: String(apiPort),
    TLS_CERT_FILE: pki.files.serverCert,
    TLS_KEY_FILE: pki.files.serverKey,
    TLS_CLIENT_CA_FILE: pki.files.caCert,
    KUBECONFIG: cluster().kubeconfig,
  };
}

/** A server that watches the namespace and holds its leader lease there. */
export function watching(ns: { name: string }): Record<string, string> {
  return { WATCH_NAMESPACE: ns.name, LEASE_NAME: `lease-${ns.name}`, LEASE_NAMESPACE: ns.name };
}

export async function startServer(
  pki: Pki,
  env: Record<string, string>,
  options: { readyTimeoutMs?: number } = {},
): Promise<Server> {
  const port = await freePort();
  const apiPort = await freePort();
  const identity = env['POD_NAME'] ?? `test-${port}`;
  const proc = await startProcess(
    MAIN,
    {
      ...serverEnv(pki, port, apiPort),
      POD_NAME: identity,
      LEASE_DURATION_MS: '4000',
      LEASE_RENEW_DEADLINE_MS: '3000',
      LEASE_RETRY_PERIOD_MS: '500',
      KUBE_PROBE_INTERVAL_MS: '500',
      ...env,
    },
    { readyTimeoutMs: options.readyTimeoutMs ?? 30_000 },
  );
  return { process: proc, probeUrl: `http://127.0.0.1:${port}`, apiUrl: `https://127.0.0.1:${apiPort}`, identity };
}

/**
 * The set-up of a file whose tests start their own servers: the CRD and the PKI (usePki), and `start`, which starts
 * a server watching and leading in `ns` (`env` adds or overrides) that is stopped after the test (with `stopSignal`).
 */
export function useServers(
  ns: { name: string },
  options: { stopSignal?: NodeJS.Signals } = {},
): { pki: Pki; start: (env?: Record<string, string>) => Promise<Server> } {
  const pki = usePki();
  const started: Server[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.process.stop(options.stopSignal)));
  });
  const start = async (env: Record<string, string> = {}) => {
    const server = await startServer(pki, { ...watching(ns), ...env });
    started.push(server);
    return server;
  };
  return { pki, start };
}

/**
 * The set-up of a file whose tests share one server: the CRD and the PKI (usePki), and the server started with `env`
 * before the first test and stopped after the last. The objects returned are filled in before the first test.
 */
export function useFileServer(env: Record<string, string>): { pki: Pki; server: Server } {
  const pki = usePki();
  const server = {} as Server;
  beforeAll(async () => {
    Object.assign(server, await startServer(pki, env));
  });
  afterAll(async () => {
    await server.process.stop();
  });
  return { pki, server };
}

export function clientFor(server: Server, pki: Pki, who: Pem | undefined, protocol: Protocol = 'grpc') {
  return deploymentClient({
    baseUrl: server.apiUrl,
    ca: pki.ca.cert,
    ...(who ? { cert: who.cert, key: who.key } : {}),
    protocol,
  });
}

export function apps() {
  return kubeConfig().makeApiClient(k8s.AppsV1Api);
}

export async function createDeployment(
  namespace: string,
  name: string,
  replicas: number,
  labels: Record<string, string> = {},
) {
  await apps().createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels: { app: name, ...labels } },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
        },
      },
    },
  });
}

/** A HorizontalPodAutoscaler of the Deployment `target` (hpaOf), created in the namespace. */
export async function createHpa(
  namespace: string,
  name: string,
  target: string,
  metrics?: k8s.V2MetricSpec[],
): Promise<void> {
  await kubeConfig()
    .makeApiClient(k8s.AutoscalingV2Api)
    .createNamespacedHorizontalPodAutoscaler({ namespace, body: hpaOf(target, { name }, metrics) });
}

export async function scaleBehindTheBack(namespace: string, name: string, replicas: number): Promise<void> {
  await apps().patchNamespacedDeploymentScale(
    { namespace, name, body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

export { eventually } from '@sre-platform/test-platform';

/** The error a call failed with; fails the test if the call succeeded. */
export async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error('expected the call to fail');
}

/** One sample of a metric from the server's /metrics, 0 when the series does not exist yet. */
export async function metricValue(server: Server, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.probeUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** The server's JSON log lines so far, in order. */
export function logLines(server: Server): Record<string, unknown>[] {
  return server.process
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
