// Pods on the real node, for tests that run real containers: create, wait Ready or finished, read the log.
import * as k8s from '@kubernetes/client-node';

import { eventually } from './eventually.ts';
import { kubeConfig } from './index.ts';
import { kubectl } from './kubectl.ts';
import { REAL_NODE } from './node.ts';

/** The hardening every pod of ours runs with (the restricted Pod Security level), verified by the kubelet. */
export const RESTRICTED: { pod: k8s.V1PodSecurityContext; container: k8s.V1SecurityContext } = {
  pod: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  container: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

/** `spec` placed on the real node (its selector and toleration), with the image already in its containerd. */
export function onRealNode(spec: k8s.V1PodSpec): k8s.V1PodSpec {
  return {
    ...spec,
    nodeSelector: { ...spec.nodeSelector, ...REAL_NODE.nodeSelector },
    tolerations: [...(spec.tolerations ?? []), ...REAL_NODE.tolerations],
    containers: spec.containers.map((c) => ({ imagePullPolicy: 'Never', ...c })),
  };
}

/** Creates the pod and resolves once it is Ready; fails early, with the kubelet's reason, when it cannot start. */
export async function runPodUntilReady(namespace: string, pod: k8s.V1Pod, timeoutMs = 180_000): Promise<k8s.V1Pod> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = pod.metadata!.name!;
  await api.createNamespacedPod({ namespace, body: pod });
  const outcome = await eventually<{ ready?: k8s.V1Pod; failed?: string }>(
    `pod ${namespace}/${name} to be Ready`,
    async () => {
      const p = await api.readNamespacedPod({ name, namespace });
      const waiting = p.status?.containerStatuses?.find((c) =>
        /Error|BackOff|Invalid/.test(c.state?.waiting?.reason ?? ''),
      )?.state?.waiting;
      if (waiting) return { failed: `${waiting.reason}: ${waiting.message ?? ''}` };
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? { ready: p } : undefined;
    },
    timeoutMs,
    500,
  ).catch((err: unknown): { ready?: k8s.V1Pod; failed?: string } => ({ failed: (err as Error).message }));
  if (outcome.ready) return outcome.ready;
  throw new Error(
    `pod ${namespace}/${name} did not become Ready: ${outcome.failed ?? ''}\n${await podLog(namespace, name)}`,
  );
}

/** Creates a pod that runs to completion (restartPolicy Never) and resolves to its phase and log. */
export async function runPodToCompletion(
  namespace: string,
  pod: k8s.V1Pod,
  timeoutMs = 180_000,
): Promise<{ phase: string; log: string; pod: k8s.V1Pod }> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = pod.metadata!.name!;
  await api.createNamespacedPod({ namespace, body: { ...pod, spec: { restartPolicy: 'Never', ...pod.spec! } } });
  const done = await eventually(
    `pod ${namespace}/${name} to finish`,
    async () => {
      const p = await api.readNamespacedPod({ name, namespace });
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    },
    timeoutMs,
    500,
  );
  return { phase: done.status!.phase!, log: await podLog(namespace, name), pod: done };
}

async function podLog(namespace: string, name: string): Promise<string> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  return api.readNamespacedPodLog({ name, namespace }).catch(() => '(no log)');
}

/** One container's memory on the real node, as the kubelet counts it, in MiB. */
export interface ContainerMemory {
  pod: string;
  container: string;
  /** The cgroup's anonymous memory (heaps, stacks): what the container itself holds. */
  rssMiB?: number;
  /**
   * Usage minus inactive file pages: what `kubectl top`, a memory limit's eviction and a memory-based HPA count.
   * File pages (the node binary's) are charged to the cgroup that first read them, so a pod started from an image
   * whose layers are already in the page cache is not charged for them.
   */
  workingSetMiB?: number;
}

/**
 * The memory of every container in `namespace` on the real node, from the kubelet's summary API (through the
 * apiserver, as `kubectl top` reads it). For the tests' printed figures, never for an assertion: the kubelet
 * refreshes it every few seconds, so a container started just before may not be listed yet.
 */
export async function containerMemory(namespace: string): Promise<ContainerMemory[]> {
  const summary = JSON.parse(await kubectl('get', '--raw', `/api/v1/nodes/${REAL_NODE.name}/proxy/stats/summary`)) as {
    pods?: {
      podRef: { name: string; namespace: string };
      containers?: { name: string; memory?: { rssBytes?: number; workingSetBytes?: number } }[];
    }[];
  };
  const mib = (bytes?: number) => (bytes === undefined ? undefined : Math.round((bytes / 2 ** 20) * 10) / 10);
  return (summary.pods ?? [])
    .filter((p) => p.podRef.namespace === namespace)
    .flatMap((p) =>
      (p.containers ?? []).map((c) => ({
        pod: p.podRef.name,
        container: c.name,
        rssMiB: mib(c.memory?.rssBytes),
        workingSetMiB: mib(c.memory?.workingSetBytes),
      })),
    )
    .sort((a, b) => a.pod.localeCompare(b.pod) || a.container.localeCompare(b.container));
}

/** `containerMemory(namespace)` as one line per container for a test's output, or why it could not be read. */
export async function describeContainerMemory(namespace: string): Promise<string> {
  const show = (v?: number) => (v === undefined ? 'n/a' : `${v.toFixed(1)} MiB`);
  try {
    const rows = await containerMemory(namespace);
    if (rows.length === 0) return `${namespace}: no container in the kubelet's summary yet`;
    return rows
      .map((r) => `${namespace}/${r.pod} ${r.container}: working set ${show(r.workingSetMiB)}, RSS ${show(r.rssMiB)}`)
      .join('\n');
  } catch (err) {
    return `${namespace}: memory not read: ${(err as Error).message}`;
  }
}
