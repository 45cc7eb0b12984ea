// Small builders shared by the tests.
import type { V1ObjectMeta, V2HorizontalPodAutoscaler, V2MetricSpec } from '@kubernetes/client-node';

import type { DeploymentView } from '../src/domain/model.ts';

/** A Deployment as the cache shows it, with every replica count equal to `specReplicas`. */
export function deploymentView(specReplicas: number, at: { namespace?: string; name?: string } = {}): DeploymentView {
  const name = at.name ?? 'web';
  return {
    namespace: at.namespace ?? 'a',
    name,
    uid: `u-${name}`,
    labels: {},
    specReplicas,
    currentReplicas: specReplicas,
    readyReplicas: specReplicas,
    availableReplicas: specReplicas,
    updatedReplicas: specReplicas,
  };
}

/** The metric an HPA scales on most often: CPU at 80 % of the requests. */
export const CPU_AT_80: V2MetricSpec[] = [
  { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
];

/** A HorizontalPodAutoscaler of the Deployment `target`, from 1 to 4 replicas. */
export function hpaOf(target: string, metadata: V1ObjectMeta, metrics?: V2MetricSpec[]): V2HorizontalPodAutoscaler {
  return {
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: 1,
      maxReplicas: 4,
      ...(metrics ? { metrics } : {}),
    },
  };
}
