// What integration tests use: the run's platform (from the global setup) and per-test isolation.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';
import postgres from 'postgres';
import { afterEach, beforeEach, inject } from 'vitest';

import type { PlatformInfo } from './global-setup.ts';
import type { MotoInfo } from './moto.ts';

export type { PlatformInfo } from './global-setup.ts';
export { eventually } from './eventually.ts';
export { MissingToolError, REPO_ROOT, toolBin } from './tools.ts';
export { startPostgres } from './postgres.ts';
export { startMoto, type MotoInfo, type MotoOptions, type MotoServer } from './moto.ts';
export { describeDatabaseStartup, type DatabaseStartupScenario } from './database-startup.ts';
export {
  REAL_NODE,
  hostState,
  importImage,
  nodeCommand,
  nodeRootfs,
  removeRootfs,
  startRealNode,
  stopRealNode,
  type HostState,
} from './node.ts';

function component<K extends keyof PlatformInfo>(key: K): NonNullable<PlatformInfo[K]> {
  const info = inject('platform')[key];
  if (!info) {
    throw new Error(
      `the test platform has no ${key}: run integration tests through the vitest "integration" project ` +
        `(make test), and do not exclude ${key} with SRE_TEST_PLATFORM`,
    );
  }
  return info;
}

export const cluster = () => component('cluster');
export const prometheus = () => component('prometheus');
export const moto = () => component('moto');
export const postgresServer = () => component('postgres');

/** A short random suffix for names that must be unique across tests and runs. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster().kubeconfig);
  return kc;
}

/**
 * A fresh namespace for every test in the calling file, deleted after the test (the apiserver
 * then garbage-collects everything in it). Read `.name` inside the test.
 */
export function useNamespace(prefix = 'test'): { name: string } {
  const current = { name: '' };
  beforeEach(async () => {
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    current.name = uniqueName(prefix);
    await api.createNamespace({ body: { metadata: { name: current.name, labels: { 'sre-platform/test': 'true' } } } });
  });
  afterEach(async () => {
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await api.deleteNamespace({ name: current.name }).catch(() => undefined);
  });
  return current;
}

/** A fresh database for every test in the calling file, dropped after it. */
export function useDatabase(prefix = 'test'): { url: string; sql: postgres.Sql } {
  const current = {} as { url: string; sql: postgres.Sql };
  beforeEach(async () => {
    const server = postgresServer();
    const name = uniqueName(prefix).replace(/-/g, '_');
    const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    current.url = `postgres://${server.user}@${server.host}:${server.port}/${name}`;
    current.sql = postgres(current.url, { max: 4, onnotice: () => undefined });
  });
  afterEach(async () => {
    await current.sql.end();
    const admin = postgres(postgresServer().adminUrl, { max: 1, onnotice: () => undefined });
    const name = new URL(current.url).pathname.slice(1);
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });
  return current;
}

/** AWS SDK v3 client settings pointing at the run's moto server, or at another one (startMoto). */
export function awsClientConfig(server: MotoInfo = moto()) {
  const { endpoint, region } = server;
  return {
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/** Scrape `target` (host:port) from the run's Prometheus until the returned function is called. */
export function addScrapeTarget(target: string, labels: Record<string, string> = {}): () => void {
  const file = join(prometheus().targetsDir, `${uniqueName('target')}.json`);
  writeFileSync(file, JSON.stringify([{ targets: [target], labels }]));
  return () => {
    rmSync(file, { force: true });
  };
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export async function promQuery(query: string): Promise<PromSample[]> {
  const res = await fetch(`${prometheus().url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
  if (body.status !== 'success') throw new Error(`PromQL ${query}: ${body.error ?? res.status}`);
  return body.data?.result ?? [];
}
