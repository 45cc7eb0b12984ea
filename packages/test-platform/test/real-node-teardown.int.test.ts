// The real node's end: taking over a node whose run died, and stopping without a trace. It stops the node the run's
// other files share, and compares the host with a snapshot taken with no node, so it runs alone, after them (the
// vitest project `real-node`, group order 1).
import { spawnSync } from 'node:child_process';

import * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  cluster,
  eventually,
  hostState,
  kubeConfig,
  nodeCommand,
  REAL_NODE,
  startRealNode,
  stopRealNode,
  type HostState,
} from '../src/index.ts';

// The snapshot and the comparison are of this machine without a node: while another run on this machine holds it,
// wait (as startRealNode would).
async function noNode(): Promise<void> {
  await eventually(
    'another run to release the real node',
    async () => ((await nodeCommand(['status'], {})).output.startsWith('real node: not running') ? true : undefined),
    Number(process.env['SRE_REAL_NODE_WAIT'] ?? 900) * 1000,
    1000,
  );
}

describe('the real node, stopped', () => {
  let before: HostState;

  beforeAll(async () => {
    // The files that ran before this one started the node for the run's first cluster: stop it, from nothing.
    await stopRealNode();
    await noNode();
    before = hostState();
  }, 1_200_000);

  it('takes over a node whose run died, tearing the stale one down first', async () => {
    const dead = spawnSync('true').pid;
    const upStale = () =>
      nodeCommand(['up'], { CLUSTER_KUBECONFIG: cluster().kubeconfig, NODE_OWNER_PID: String(dead) });
    let stale = await upStale();
    // Another run took the node first: this `up` then waits, and a waiter whose owner is gone gives up (as it
    // should). Wait for that run to be done, then try again.
    while (stale.code !== 0 && stale.output.includes(`the run that asked for the node (pid ${dead}) is gone`)) {
      await noNode();
      stale = await upStale();
    }
    expect(stale.code, stale.output).toBe(0);
    const node = await startRealNode(cluster());
    expect(node.log).toContain(`its owner (pid ${dead}) is gone: tearing the stale node down`);
    expect(node.log).toContain('Ready in');
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const ready = await api.readNode({ name: REAL_NODE.name });
    expect(ready.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  }, 1_200_000);

  it('stops and leaves the host as it found it: sysctls, interfaces, nftables, netlink queues, mounts, cgroups, paths', async () => {
    await stopRealNode();
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await expect(api.readNode({ name: REAL_NODE.name })).rejects.toThrow();
    // A run waiting for the node starts its own as soon as this one is down: compare once it is done too.
    await noNode();
    expect(hostState()).toEqual(before);
  }, 1_200_000);
});
