// A Kubernetes control plane for one test run: tools/cluster/cluster (the same script as
// `make cluster-up`) with its own name and state directory, deleted afterwards. The explicit
// CLUSTER_NAME keeps it apart from the checkout's own cluster (named per checkout by default).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { REPO_ROOT, toolBin } from './tools.ts';

const run = promisify(execFile);
const CLUSTER = join(REPO_ROOT, 'tools/cluster/cluster');

export interface ClusterInfo {
  name: string;
  kubeconfig: string;
  workdir: string;
  /** Directory with kubectl (same version as the apiserver). */
  kubernetesBin: string;
}

/**
 * TEST_KUBECONFIG=<path> runs the tests against an existing cluster (kind, minikube, a real one)
 * instead of starting one; it is neither created nor deleted, only the tests' namespaces are.
 */
let clusters = 0;

export async function startCluster(): Promise<{ info: ClusterInfo; stop: () => Promise<void> }> {
  const kubernetesBin = toolBin('kubernetes');
  const external = process.env['TEST_KUBECONFIG'];
  if (external) {
    const workdir = mkdtempSync(join(tmpdir(), 'sre-platform-cluster-'));
    await run(join(kubernetesBin, 'kubectl'), ['--kubeconfig', external, 'get', '--raw', '/readyz'], {
      timeout: 15_000,
    });
    return {
      info: { name: 'external', kubeconfig: external, workdir, kubernetesBin },
      stop: async () => {
        rmSync(workdir, { recursive: true, force: true });
      },
    };
  }
  toolBin('etcd');
  toolBin('kwok');
  const workdir = mkdtempSync(join(tmpdir(), 'sre-platform-cluster-'));
  // One cluster per project that asks (the real-node project has its own): the second is test-<pid>-2.
  clusters++;
  const name = clusters === 1 ? `test-${process.pid}` : `test-${process.pid}-${clusters}`;
  const env = { ...process.env, CLUSTER_NAME: name, KWOK_WORKDIR: workdir, CLUSTER_NODES: '2' };
  const stop = async () => {
    await run(CLUSTER, ['down'], { env }).catch(() => undefined);
    rmSync(workdir, { recursive: true, force: true });
  };
  try {
    await run(CLUSTER, ['up'], { env, timeout: 180_000 });
    const { stdout } = await run(CLUSTER, ['kubeconfig'], { env });
    return { info: { name, kubeconfig: stdout.trim(), workdir, kubernetesBin }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
