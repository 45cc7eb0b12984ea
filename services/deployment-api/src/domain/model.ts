// What the server knows about one Deployment, as plain data: the Deployment's counts, its desired
// state when managed, and the HPA that targets it if any. Pure functions, no SDK: the API layer
// turns these into protobuf messages, the reconciler decides from them.

/** The ManagedDeployment custom resource: the desired state of one Deployment. */
export interface ManagedDeployment {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
  };
  spec?: { replicas?: number };
  status?: ManagedStatus;
}

export interface ManagedStatus {
  observedGeneration?: number;
  state?: SyncState;
  reason?: string;
  driftRestorations?: number;
  lastDriftRestoredAt?: string;
}

export const MANAGED_GROUP = 'deployments.sre-platform.dev';
export const MANAGED_VERSION = 'v1alpha1';
export const MANAGED_KIND = 'ManagedDeployment';
export const MANAGED_PLURAL = 'manageddeployments';

export type SyncState = 'in_sync' | 'drifted' | 'conflict' | 'deployment_missing';

/** The parts of an apps/v1 Deployment the server reads. */
export interface DeploymentView {
  namespace: string;
  name: string;
  /** Events name the Deployment by uid too; `kubectl describe` matches on it. */
  uid: string;
  labels: Record<string, string>;
  specReplicas: number;
  currentReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  updatedReplicas: number;
}

export interface Assessment {
  state: SyncState;
  reason: string;
}

/** Compares desired with actual. `hpa` is the name of an HPA targeting the Deployment, if any. */
export function assess(desired: number, deployment: DeploymentView | undefined, hpa: string | undefined): Assessment {
  if (!deployment) return { state: 'deployment_missing', reason: 'the Deployment does not exist' };
  if (hpa !== undefined) {
    return {
      state: 'conflict',
      reason: `HorizontalPodAutoscaler ${hpa} targets this Deployment; its replica count is not enforced`,
    };
  }
  if (deployment.specReplicas !== desired) {
    return {
      state: 'drifted',
      reason: `spec.replicas is ${deployment.specReplicas}, desired ${desired}`,
    };
  }
  return { state: 'in_sync', reason: '' };
}

export interface DiffItem {
  namespace: string;
  name: string;
  desired: number;
  /** -1 when the Deployment does not exist. */
  spec: number;
  difference: number;
  state: Exclude<SyncState, 'in_sync'>;
  reason: string;
}

export function diffItem(
  namespace: string,
  name: string,
  desired: number,
  deployment: DeploymentView | undefined,
  hpa: string | undefined,
): DiffItem | undefined {
  const a = assess(desired, deployment, hpa);
  if (a.state === 'in_sync') return undefined;
  const spec = deployment ? deployment.specReplicas : -1;
  return {
    namespace,
    name,
    desired,
    spec,
    difference: deployment ? desired - spec : 0,
    state: a.state,
    reason: a.reason,
  };
}

/**
 * The version clients see and send back as expected_version: the desired state's generation
 * (which only spec changes bump; status writes by the reconciler do not) qualified by the
 * object's uid, so that a version from before an unmanage never matches a re-created object.
 */
export function versionOf(m: ManagedDeployment | undefined): string {
  if (!m?.metadata) return '';
  return `${m.metadata.generation ?? 0}.${(m.metadata.uid ?? '').slice(0, 8)}`;
}

/** Sort key for stable pagination: namespace, then name. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function compareKeys(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}

/**
 * One page of `items` (sorted by namespace/name) after the key in `token`. Tokens are opaque to
 * clients (base64url of the last key served), so a page boundary survives objects being added or
 * removed between calls: nothing is served twice, and nothing that existed throughout is skipped.
 */
export function paginate<T extends { namespace: string; name: string }>(
  items: T[],
  pageSize: number,
  token: string,
): { page: T[]; next: string } {
  let start = 0;
  if (token !== '') {
    const after = decodeToken(token);
    const [ns, name] = splitKey(after);
    start = items.findIndex((i) => compareKeys(i, { namespace: ns, name }) > 0);
    if (start === -1) start = items.length;
  }
  const page = items.slice(start, start + pageSize);
  const last = page.at(-1);
  const more = start + pageSize < items.length;
  return { page, next: more && last ? encodeToken(keyOf(last.namespace, last.name)) : '' };
}

export class TokenError extends Error {
  override name = 'TokenError';
}

function encodeToken(key: string): string {
  return Buffer.from(`v1:${key}`).toString('base64url');
}

function decodeToken(token: string): string {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith('v1:') || !text.includes('/')) throw new TokenError('page_token is not one this server issued');
  return text.slice(3);
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name (DNS-1123 label), or undefined when valid. */
export function namespaceProblem(ns: string): string | undefined {
  if (ns.length === 0) return 'namespace is required';
  if (ns.length > 63 || !DNS1123_LABEL.test(ns)) return `namespace "${ns.slice(0, 80)}" is not a valid DNS-1123 label`;
  return undefined;
}

/** A Deployment name (DNS-1123 subdomain), or undefined when valid. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'name is required';
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return `name "${name.slice(0, 80)}" is not a valid DNS-1123 subdomain`;
  }
  return undefined;
}
