// What the caches keep of each object: only the fields the server reads, as client-go's informer transforms
// (cache.TransformFunc, e.g. dropping managedFields) do. A Deployment as the apiserver sends it is mostly what
// nobody here reads: managedFields, annotations (kubectl's last-applied-configuration is a whole copy of the
// object), the pod template, conditions. Measured with 1,000 Deployments (bench/deployment-api.bench.ts): the
// README's figures.
//
// Every cache read goes through these shapes: toView (Deployments), hpaTarget (HPAs), the reconciler and the API
// (ManagedDeployments, kept whole but for managedFields and annotations). ListWatch itself needs metadata.name,
// namespace and resourceVersion. Writes never start from a cached object: they read the current one.
import type { KubernetesObject, V1Deployment, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';

import type { ManagedDeployment } from '../domain/model.ts';

type Meta = NonNullable<KubernetesObject['metadata']>;

/** name, namespace, uid, resourceVersion, generation and labels: what any cache reader may use. */
function meta(m: Meta | undefined): Meta | undefined {
  if (!m) return m;
  const kept: Meta = {};
  if (m.name !== undefined) kept.name = m.name;
  if (m.namespace !== undefined) kept.namespace = m.namespace;
  if (m.uid !== undefined) kept.uid = m.uid;
  if (m.resourceVersion !== undefined) kept.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) kept.generation = m.generation;
  if (m.labels !== undefined) kept.labels = m.labels;
  return kept;
}

export function trimDeployment(d: V1Deployment): V1Deployment {
  const s = d.status;
  return {
    metadata: meta(d.metadata)!,
    ...(d.spec ? { spec: { replicas: d.spec.replicas } as V1Deployment['spec'] } : {}),
    ...(s
      ? {
          status: {
            replicas: s.replicas,
            readyReplicas: s.readyReplicas,
            availableReplicas: s.availableReplicas,
            updatedReplicas: s.updatedReplicas,
            observedGeneration: s.observedGeneration,
          },
        }
      : {}),
  };
}

export function trimHpa(h: V2HorizontalPodAutoscaler): V2HorizontalPodAutoscaler {
  // spec is required in the typings, optional in what a watch may deliver (hpaTarget reads it with ?.).
  const kept = { metadata: meta(h.metadata)! } as V2HorizontalPodAutoscaler;
  if (h.spec) kept.spec = { scaleTargetRef: h.spec.scaleTargetRef } as V2HorizontalPodAutoscaler['spec'];
  return kept;
}

export function trimManaged<T extends ManagedDeployment & KubernetesObject>(m: T): T {
  return { ...m, metadata: meta(m.metadata) };
}
