// Small builders shared by the unit tests.
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
