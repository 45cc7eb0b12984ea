// Every write the server makes to the apiserver, in one place: desired state (server-side apply of
// the ManagedDeployment, delete with a precondition, status), the Deployment's scale subresource,
// and Events.
import { randomBytes } from 'node:crypto';

import {
  MANAGED_GROUP,
  MANAGED_KIND,
  MANAGED_PLURAL,
  MANAGED_VERSION,
  type ManagedDeployment,
  type ManagedStatus,
  versionOf,
} from '../domain/model.ts';
import { APPLY_PATCH, KubeError, MERGE_PATCH, type KubeClient } from './client.ts';

export const FIELD_MANAGER = 'deployment-api';

const managedPath = (ns: string, name?: string) =>
  `/apis/${MANAGED_GROUP}/${MANAGED_VERSION}/namespaces/${encodeURIComponent(ns)}/${MANAGED_PLURAL}` +
  (name === undefined ? '' : `/${encodeURIComponent(name)}`);

/** A Kubernetes Event about one Deployment (deployment-api records drift restored, scaled, HPA conflict). */
export interface DeploymentEvent {
  namespace: string;
  name: string;
  uid: string | undefined;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class KubeWrites {
  #client: KubeClient;
  constructor(client: KubeClient) {
    this.#client = client;
  }

  /**
   * Declares the desired count: a server-side apply, last writer wins. With expectedVersion, the
   * current object is read and compared, then replaced carrying the resourceVersion that was read,
   * so the apiserver rejects the write (409) if anything changed in between: no lost update.
   */
  async applyManaged(ns: string, name: string, replicas: number, expectedVersion?: string): Promise<ManagedDeployment> {
    if (expectedVersion) {
      return this.#withVersion(ns, name, expectedVersion, (current) =>
        this.#client.request<ManagedDeployment>({
          method: 'PUT',
          path: managedPath(ns, name),
          query: { fieldManager: FIELD_MANAGER },
          body: { ...current, spec: { ...current.spec, replicas } },
        }),
      );
    }
    const body: ManagedDeployment = {
      apiVersion: `${MANAGED_GROUP}/${MANAGED_VERSION}`,
      kind: MANAGED_KIND,
      metadata: { name, namespace: ns },
      spec: { replicas },
    };
    return this.#client.request<ManagedDeployment>({
      method: 'PATCH',
      path: managedPath(ns, name),
      query: { fieldManager: FIELD_MANAGER, force: true },
      body,
      contentType: APPLY_PATCH,
    });
  }

  async deleteManaged(ns: string, name: string, expectedVersion?: string): Promise<void> {
    const remove = (preconditions?: { uid?: string; resourceVersion?: string }) =>
      this.#client.request({
        method: 'DELETE',
        path: managedPath(ns, name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', ...(preconditions ? { preconditions } : {}) },
      });
    if (!expectedVersion) {
      await remove();
      return;
    }
    await this.#withVersion(ns, name, expectedVersion, (current) =>
      remove({ uid: current.metadata?.uid, resourceVersion: current.metadata?.resourceVersion }),
    );
  }

  /**
   * Runs `write` (which must carry the read object's resourceVersion) if the desired state is at
   * `expected`. A 409 from the write means the object changed after the read: when only its status
   * changed (the reconciler writes it), the version is still `expected` and the write is retried
   * on a fresh read; when the spec changed, the fresh read reports the stale version.
   */
  async #withVersion<T>(
    ns: string,
    name: string,
    expected: string,
    write: (current: ManagedDeployment) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#checkVersion(ns, name, expected);
      try {
        return await write(current);
      } catch (err) {
        if (!(err instanceof KubeError && err.status === 409) || attempt >= 5) throw err;
      }
    }
  }

  /** The current object if its version is `expected`; a 409 KubeError (stale) otherwise. */
  async #checkVersion(ns: string, name: string, expected: string): Promise<ManagedDeployment> {
    const current = await this.#client.request<ManagedDeployment>({ method: 'GET', path: managedPath(ns, name) });
    const version = versionOf(current);
    if (version !== expected) {
      throw new KubeError(409, 'StaleVersion', `the desired state is at version ${version}, not ${expected}`);
    }
    return current;
  }

  async patchManagedStatus(ns: string, name: string, status: ManagedStatus): Promise<void> {
    await this.#client.request({
      method: 'PATCH',
      path: `${managedPath(ns, name)}/status`,
      body: { status },
      contentType: MERGE_PATCH,
    });
  }

  /**
   * Through the scale subresource: the only part of the Deployment this server ever writes.
   * Resolves to the Deployment's resourceVersion after the write.
   */
  async scaleDeployment(ns: string, name: string, replicas: number): Promise<string> {
    const scale = await this.#client.request<{ metadata?: { resourceVersion?: string } }>({
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}/scale`,
      query: { fieldManager: FIELD_MANAGER },
      body: { spec: { replicas } },
      contentType: MERGE_PATCH,
    });
    return scale.metadata?.resourceVersion ?? '';
  }

  async deploymentEvent(event: DeploymentEvent, reporter: string): Promise<void> {
    const { namespace: ns, name, uid, type, reason, message } = event;
    const now = new Date().toISOString();
    await this.#client.request({
      method: 'POST',
      path: `/api/v1/namespaces/${encodeURIComponent(ns)}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace: ns },
        involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name, ...(uid ? { uid } : {}) },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: reporter,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
