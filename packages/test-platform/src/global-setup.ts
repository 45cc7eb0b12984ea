// vitest globalSetup for the integration project: one cluster, one Prometheus, one moto server
// and one PostgreSQL server per test run, started in parallel and torn down afterwards, whether
// tests passed, failed or the run was interrupted. SRE_TEST_PLATFORM=postgres,moto (a comma list)
// starts only some of them.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { startCluster, type ClusterInfo } from './cluster.ts';
import { startMoto, type MotoInfo } from './moto.ts';
import { startPostgres, type PostgresInfo } from './postgres.ts';
import { killAllNow } from './process.ts';
import { startPrometheus, type PrometheusInfo } from './prometheus.ts';
import { REPO_ROOT } from './tools.ts';

export interface PlatformInfo {
  cluster?: ClusterInfo;
  prometheus?: PrometheusInfo;
  moto?: MotoInfo;
  postgres?: PostgresInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    platform: PlatformInfo;
  }
}

const COMPONENTS = ['cluster', 'prometheus', 'moto', 'postgres'] as const;
type Component = (typeof COMPONENTS)[number];

const starters: Record<Component, () => Promise<{ info: unknown; stop: () => Promise<void> }>> = {
  cluster: startCluster,
  prometheus: startPrometheus,
  moto: () => startMoto(),
  postgres: () => startPostgres(),
};

export default async function setup(project: TestProject) {
  const wanted = (process.env['SRE_TEST_PLATFORM'] ?? COMPONENTS.join(','))
    .split(',')
    .map((c) => c.trim())
    .filter((c): c is Component => (COMPONENTS as readonly string[]).includes(c));
  const started = new Map<Component, { info: unknown; stop: () => Promise<void> }>();
  const t0 = Date.now();
  // The run that owns the real node, if a test starts it (node.ts); the cluster's teardown stops it.
  process.env['SRE_TEST_RUN_PID'] = String(process.pid);

  // If vitest dies without running teardown, leave nothing behind.
  const onExit = () => {
    killAllNow();
    const cluster = started.get('cluster')?.info as ClusterInfo | undefined;
    if (cluster) {
      try {
        execFileSync(join(REPO_ROOT, 'tools/cluster/cluster'), ['down'], {
          env: { ...process.env, CLUSTER_NAME: cluster.name, KWOK_WORKDIR: cluster.workdir },
          stdio: 'ignore',
        });
      } catch {
        // best effort: the process is exiting
      }
      rmSync(cluster.workdir, { recursive: true, force: true });
    }
  };
  process.once('exit', onExit);

  const results = await Promise.allSettled(
    wanted.map(async (c) => {
      const s = await starters[c]();
      started.set(c, s);
    }),
  );
  const teardown = async () => {
    await Promise.all([...started.values()].map((s) => s.stop()));
    started.clear();
    process.removeListener('exit', onExit);
  };
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await teardown();
    throw new Error(failures.map((f) => String((f.reason as Error).message ?? f.reason)).join('\n'));
  }
  const platform: PlatformInfo = Object.fromEntries([...started].map(([c, s]) => [c, s.info]));
  project.provide('platform', platform);
  process.stdout.write(`test platform: ${wanted.join(', ')} ready in ${Date.now() - t0} ms\n`);
  return teardown;
}
