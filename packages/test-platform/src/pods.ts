// Pods on the real node, for tests that run real containers: create, wait Ready or finished, read the log.
import * as k8s from '@kubernetes/client-node';

import { eventually } from './eventually.ts';
import { kubeConfig } from './index.ts';
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
