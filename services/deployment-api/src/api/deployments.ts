// The DeploymentService handlers. Reads come from the watch-fed ClusterStore only; writes go to
// the apiserver as desired state (the reconciler scales). Every failure is a ConnectError with one
// of: INVALID_ARGUMENT (400), NOT_FOUND (404), ABORTED (409, with a ConflictDetail), UNAVAILABLE
// (503); anything unexpected is INTERNAL without internals in the message.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';

import type { Logger } from '@sre-platform/service-kit';

import {
  assess,
  compareKeys,
  diffItem,
  nameProblem,
  namespaceProblem,
  paginate,
  TokenError,
  versionOf,
  type DeploymentView,
  type ManagedDeployment,
} from '../domain/model.ts';
import { parseSelector, SelectorError } from '../domain/selector.ts';
import type { DeploymentService } from '../gen/sre_platform/deployments/v1/deployments_pb.js';
import {
  ConflictDetailSchema,
  DeploymentSchema,
  type Deployment,
  type DeploymentRef,
  DiffEntrySchema,
} from '../gen/sre_platform/deployments/v1/deployments_pb.js';
import { KubeError } from '../kube/client.ts';
import type { ClusterStore } from '../kube/store.ts';
import type { KubeWrites } from '../kube/writes.ts';

export interface DeploymentHandlersOptions {
  store: ClusterStore;
  writes: KubeWrites;
  maxReplicas: number;
  logger: Logger;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 500;

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function conflict(message: string, reason: 'hpa' | 'stale_version', subject: string): ConnectError {
  return new ConnectError(message, Code.Aborted, undefined, [
    { desc: ConflictDetailSchema, value: { reason, subject } },
  ]);
}

function checkRef(ref: DeploymentRef | undefined): { namespace: string; name: string } {
  const namespace = ref?.namespace ?? '';
  const name = ref?.name ?? '';
  const problem = namespaceProblem(namespace) ?? nameProblem(name);
  if (problem) throw invalid(`ref: ${problem}`);
  return { namespace, name };
}

export function toMessage(
  view: DeploymentView,
  managed: ManagedDeployment | undefined,
  hpa: string | undefined,
): Deployment {
  const desired = managed?.spec?.replicas;
  const a = desired === undefined ? undefined : assess(desired, view, hpa);
  return create(DeploymentSchema, {
    ref: { namespace: view.namespace, name: view.name },
    labels: view.labels,
    specReplicas: view.specReplicas,
    currentReplicas: view.currentReplicas,
    readyReplicas: view.readyReplicas,
    availableReplicas: view.availableReplicas,
    updatedReplicas: view.updatedReplicas,
    ...(desired !== undefined && a
      ? {
          management: {
            desiredReplicas: desired,
            version: versionOf(managed),
            state: a.state,
            reason: a.reason,
            driftRestorations: BigInt(managed?.status?.driftRestorations ?? 0),
          },
        }
      : {}),
  });
}

/** Maps an apiserver failure during a write to the API's error vocabulary. */
function fromKube(err: unknown, what: string, expectedVersion: string, logger: Logger): ConnectError {
  if (!(err instanceof KubeError)) {
    logger.error({ err }, `${what} failed`);
    return new ConnectError(`${what} failed unexpectedly`, Code.Internal);
  }
  if (err.status === 0 || err.status >= 500 || err.status === 429) {
    return new ConnectError(`${what}: kubernetes apiserver unavailable: ${err.message}`, Code.Unavailable);
  }
  if (err.status === 409 || (err.status === 404 && expectedVersion !== '')) {
    return conflict(
      `${what}: expected_version ${expectedVersion || '(none)'} is stale: the desired state changed since it was read`,
      'stale_version',
      '',
    );
  }
  if (err.status === 400 || err.status === 422) return invalid(`${what}: ${err.message}`);
  logger.error({ status: err.status, reason: err.reason, err: err.message }, `${what} refused by the apiserver`);
  return new ConnectError(`${what}: refused by the apiserver (${err.reason})`, Code.Internal);
}

export function deploymentHandlers(o: DeploymentHandlersOptions): ServiceImpl<typeof DeploymentService> {
  const { store, writes, maxReplicas, logger } = o;
  const message = (view: DeploymentView) =>
    toMessage(view, store.managedFor(view.namespace, view.name), store.hpaFor(view.namespace, view.name));

  return {
    listDeployments(req) {
      if (req.namespace !== '') {
        const p = namespaceProblem(req.namespace);
        if (p) throw invalid(p);
      }
      if (req.pageSize < 0 || req.pageSize > MAX_PAGE) throw invalid(`page_size must be from 0 to ${MAX_PAGE}`);
      let matches;
      try {
        matches = parseSelector(req.labelSelector);
      } catch (err) {
        if (err instanceof SelectorError) throw invalid(`label_selector: ${err.message}`);
        throw err;
      }
      const items = store
        .listDeployments(req.namespace)
        .filter((d) => matches(d.labels))
        .sort(compareKeys);
      try {
        const { page, next } = paginate(items, req.pageSize || DEFAULT_PAGE, req.pageToken);
        return { deployments: page.map(message), nextPageToken: next };
      } catch (err) {
        if (err instanceof TokenError) throw invalid(err.message);
        throw err;
      }
    },

    getDeployment(req) {
      const { namespace, name } = checkRef(req.ref);
      const view = store.deployment(namespace, name);
      if (!view) throw new ConnectError(`deployment ${namespace}/${name} not found`, Code.NotFound);
      return { deployment: message(view) };
    },

    async setDesiredReplicas(req) {
      const { namespace, name } = checkRef(req.ref);
      // Required, never defaulted: a request without a count must not scale anything to zero.
      if (req.replicas === undefined) throw invalid(`replicas is required (0 to ${maxReplicas})`);
      const replicas = req.replicas;
      if (replicas < 0 || replicas > maxReplicas) {
        throw invalid(`replicas must be from 0 to ${maxReplicas} (got ${replicas})`);
      }
      const view = store.deployment(namespace, name);
      if (!view) throw new ConnectError(`deployment ${namespace}/${name} not found`, Code.NotFound);
      const hpa = store.hpaFor(namespace, name);
      if (hpa !== undefined) {
        throw conflict(
          `deployment ${namespace}/${name} is scaled by HorizontalPodAutoscaler ${hpa}; it cannot be managed`,
          'hpa',
          hpa,
        );
      }
      let managed: ManagedDeployment;
      try {
        managed = await writes.applyManaged(namespace, name, replicas, req.expectedVersion || undefined);
      } catch (err) {
        throw fromKube(err, `set ${namespace}/${name}`, req.expectedVersion, logger);
      }
      return { deployment: toMessage(view, managed, undefined) };
    },

    async unmanage(req) {
      const { namespace, name } = checkRef(req.ref);
      const view = store.deployment(namespace, name);
      const managed = store.managedFor(namespace, name);
      if (!view && !managed) throw new ConnectError(`deployment ${namespace}/${name} not found`, Code.NotFound);
      try {
        await writes.deleteManaged(namespace, name, req.expectedVersion || undefined);
        return { wasManaged: true };
      } catch (err) {
        if (err instanceof KubeError && err.status === 404 && req.expectedVersion === '') return { wasManaged: false };
        throw fromKube(err, `unmanage ${namespace}/${name}`, req.expectedVersion, logger);
      }
    },

    diff(req) {
      if (req.namespace !== '') {
        const p = namespaceProblem(req.namespace);
        if (p) throw invalid(p);
      }
      const entries = store
        .listManaged(req.namespace)
        .map((m) => {
          const ns = m.metadata?.namespace ?? '';
          const name = m.metadata?.name ?? '';
          return diffItem(ns, name, m.spec?.replicas ?? 0, store.deployment(ns, name), store.hpaFor(ns, name));
        })
        .filter((d) => d !== undefined)
        .sort(compareKeys)
        .map((d) =>
          create(DiffEntrySchema, {
            ref: { namespace: d.namespace, name: d.name },
            desiredReplicas: d.desired,
            specReplicas: d.spec,
            difference: d.difference,
            state: d.state,
            reason: d.reason,
          }),
        );
      return { entries };
    },
  };
}
