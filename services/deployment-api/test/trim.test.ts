// The caches keep only what the server reads (src/kube/trim.ts): what every reader sees is unchanged, and the
// bulk of an apiserver object (managedFields, annotations, the pod template) is gone.
import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { hpaTarget, toView } from '../src/kube/store.ts';
import { trimDeployment, trimHpa, trimManaged } from '../src/kube/trim.ts';
import { CPU_AT_80, hpaOf } from './fixtures.ts';

const metadata = {
  name: 'web',
  namespace: 'shop',
  uid: '6f1c8d1e-0000-4000-8000-000000000001',
  resourceVersion: '4711',
  generation: 7,
  labels: { app: 'web', tier: 'frontend' },
  annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"whole copy"}'.repeat(50) },
  managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
  creationTimestamp: new Date('2026-01-01T00:00:00Z'),
};

const deployment: V1Deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata,
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.29', env: [{ name: 'A', value: 'x'.repeat(500) }] }] },
    },
  },
  status: {
    replicas: 3,
    readyReplicas: 2,
    availableReplicas: 2,
    updatedReplicas: 3,
    observedGeneration: 7,
    conditions: [{ type: 'Available', status: 'True', message: 'Deployment has minimum availability.' }],
  },
};

describe('cache transforms', () => {
  it('keep every field a Deployment reader uses, and drop the rest', () => {
    const kept = trimDeployment(deployment);
    expect(toView(kept)).toEqual(toView(deployment));
    expect(kept.metadata).toEqual({
      name: 'web',
      namespace: 'shop',
      uid: metadata.uid,
      resourceVersion: '4711',
      generation: 7,
      labels: metadata.labels,
    });
    expect(kept.spec).toEqual({ replicas: 3 });
    expect(kept.status).toEqual({
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      updatedReplicas: 3,
      observedGeneration: 7,
    });
    expect(JSON.stringify(kept).length).toBeLessThan(JSON.stringify(deployment).length / 5);
  });

  it('keep an absent spec absent, so that toView still defaults replicas to 1', () => {
    const kept = trimDeployment({ metadata: { name: 'a', namespace: 'b', resourceVersion: '1' } });
    expect(kept).toEqual({ metadata: { name: 'a', namespace: 'b', resourceVersion: '1' } });
    expect(toView(kept).specReplicas).toBe(1);
  });

  it("keep an HPA's target", () => {
    const hpa = hpaOf('web', metadata, CPU_AT_80);
    const kept = trimHpa(hpa);
    expect(hpaTarget(kept)).toBe('web');
    expect(kept.spec).toEqual({ scaleTargetRef: hpa.spec.scaleTargetRef });
    expect(kept.metadata?.managedFields).toBeUndefined();
  });

  it('keep a ManagedDeployment whole but for managedFields and annotations', () => {
    const managed = {
      apiVersion: 'deployments.sre-platform.dev/v1alpha1',
      kind: 'ManagedDeployment',
      metadata,
      spec: { replicas: 4 },
      status: { observedGeneration: 7, state: 'in_sync' as const, driftRestorations: 2 },
    };
    const kept = trimManaged(managed);
    expect(kept.spec).toEqual(managed.spec);
    expect(kept.status).toEqual(managed.status);
    expect(kept.metadata).not.toHaveProperty('managedFields');
    expect(kept.metadata).not.toHaveProperty('annotations');
    expect(kept.metadata?.generation).toBe(7);
    expect(kept.metadata?.uid).toBe(metadata.uid);
  });
});
