// Part A's manifests applied to the run's real control plane: the apiserver validates every object (schemas,
// RBAC references, Pod Security admission of each pod the controllers create), and each workload's controller
// creates its pods. kwok nodes simulate those pods: Rocket.Chat's, MongoDB's and GitLab's images are out of reach
// on this machine, so what is proven here is that Kubernetes accepts and schedules them, not that they serve.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';

import { cluster, eventually, uniqueName } from '@sre-platform/test-platform';
import { get, kustomize, parseManifests } from '@sre-platform/test-platform/manifests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { PART_A } from './part-a.ts';

const run = promisify(execFile);
/** kubectl against the run's cluster; `input` goes to its stdin. Rejects with kubectl's stderr. */
async function kubectlOutput(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = run(join(cluster().kubernetesBin, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
    maxBuffer: 32 << 20,
  });
  child.child.stdin!.end(input ?? '');
  return child.catch((err: { stderr?: string; message: string }) => {
    throw new Error(`kubectl ${args.join(' ')}: ${err.stderr || err.message}`);
  });
}
const kubectl = async (args: string[], input?: string) => (await kubectlOutput(args, input)).stdout;

const str = (v: unknown, ...path: string[]) => get(v, ...path) as string;
const rendered = Object.fromEntries(PART_A.map((dir) => [dir, kustomize(dir)]));
const ofKind = (dir: string, ...kinds: string[]) =>
  parseManifests(rendered[dir]!).filter((o) => kinds.includes(str(o, 'kind')));
const workloads = (dir: string) => ofKind(dir, 'Deployment', 'StatefulSet', 'Job');
const ALL_NAMESPACES = PART_A.flatMap((dir) => ofKind(dir, 'Namespace').map((o) => str(o, 'metadata', 'name')));

async function pods(namespace: string, selector: Record<string, string>): Promise<unknown[]> {
  const labels = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return (
    JSON.parse(await kubectl(['get', 'pods', '-n', namespace, '-l', labels, '-o', 'json'])) as { items: unknown[] }
  ).items;
}

describe('Part A on the local control plane', () => {
  beforeAll(async () => {
    // Namespaces first (as deploy.sh does), so that every namespaced object finds its namespace.
    for (const dir of PART_A) {
      const namespaces = ofKind(dir, 'Namespace');
      if (namespaces.length > 0) {
        await kubectl(['apply', '--server-side', '-f', '-'], namespaces.map((o) => stringify(o)).join('---\n'));
      }
    }
  });
  afterAll(async () => {
    await kubectl(['delete', 'namespace', '--wait=false', '--ignore-not-found', ...ALL_NAMESPACES]);
  });

  it.each(PART_A)('%s: every object is accepted by the apiserver, with no Pod Security warning', async (dir) => {
    const { stdout, stderr } = await kubectlOutput(
      ['apply', '--server-side', '--field-manager=part-a-test', '-f', '-'],
      rendered[dir],
    );
    expect(stdout).toMatch(/serverside-applied/);
    expect(stderr).not.toMatch(/would violate PodSecurity/);
  });

  it.each(PART_A)('%s: every workload gets its pods, admitted by Pod Security', async (dir) => {
    const list = workloads(dir);
    expect(list.length).toBeGreaterThan(0);
    for (const w of list) {
      const name = `${str(w, 'kind')}/${str(w, 'metadata', 'name')}`;
      const selector = get(w, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
      const created = await eventually(`pods of ${name}`, async () => {
        const found = await pods(str(w, 'metadata', 'namespace'), selector);
        return found.length > 0 ? found : undefined;
      });
      expect(created.length, name).toBeGreaterThan(0);
    }
  });

  it('refuses GitLab omnibus in a namespace that enforces restricted, with the apiserver own reason', async () => {
    const ns = uniqueName('restricted');
    await kubectl(['create', 'namespace', ns]);
    try {
      await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
      const gitlab = workloads('platform/gitlab').find((w) => str(w, 'metadata', 'name') === 'gitlab');
      (get(gitlab, 'metadata') as Record<string, unknown>)['namespace'] = ns;
      await kubectl(['apply', '--server-side', '-f', '-'], stringify(gitlab));
      const message = await eventually('a FailedCreate event', async () => {
        const events = JSON.parse(
          await kubectl(['get', 'events', '-n', ns, '--field-selector', 'reason=FailedCreate', '-o', 'json']),
        ) as { items: unknown[] };
        return events.items.length > 0 ? str(events.items[0], 'message') : undefined;
      });
      expect(message).toMatch(/violates PodSecurity "restricted:latest"/);
      expect(await pods(ns, { 'app.kubernetes.io/name': 'gitlab' })).toEqual([]);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
