// The runner's Kubernetes Secret through @kubernetes/client-node: read it, and write it with a
// server-side apply (field manager `sre-platform-bootstrap`), so that the keys the bootstrap owns are
// set and whatever else other managers wrote into the Secret stays.
import * as k8s from '@kubernetes/client-node';

import type { RunnerSecretView } from '../steps.ts';
import { UpstreamError } from './errors.ts';

export const FIELD_MANAGER = 'sre-platform-bootstrap';
/** The key GitLab Runner's configuration reads the `glrt-` token from (its Helm chart's name too). */
export const TOKEN_KEY = 'runner-token';
/** The runner's id in GitLab, kept beside the token so that people can find it. Not a secret. */
export const RUNNER_ID_ANNOTATION = 'sre-platform/gitlab-runner-id';

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export class KubeClient {
  readonly #core: k8s.CoreV1Api;
  readonly #objects: k8s.KubernetesObjectApi;

  constructor(kc: k8s.KubeConfig = defaultKubeConfig()) {
    this.#core = kc.makeApiClient(k8s.CoreV1Api);
    this.#objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  }

  async readRunnerSecret(namespace: string, name: string): Promise<RunnerSecretView | undefined> {
    try {
      const secret = await this.#core.readNamespacedSecret({ name, namespace });
      const raw = secret.data?.[TOKEN_KEY];
      const runnerId = secret.metadata?.annotations?.[RUNNER_ID_ANNOTATION];
      return {
        ...(raw ? { token: Buffer.from(raw, 'base64').toString('utf8') } : {}),
        ...(runnerId ? { runnerId } : {}),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new UpstreamError('Kubernetes', `GET secret ${namespace}/${name}`, statusOf(err), shortMessage(err));
    }
  }

  async applyRunnerSecret(namespace: string, name: string, token: string, runnerId: number): Promise<void> {
    const secret: k8s.V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace,
        labels: {
          'app.kubernetes.io/name': 'gitlab-runner',
          'app.kubernetes.io/component': 'runner-token',
          'app.kubernetes.io/part-of': 'sre-platform',
          'app.kubernetes.io/managed-by': FIELD_MANAGER,
        },
        annotations: { [RUNNER_ID_ANNOTATION]: String(runnerId) },
      },
      type: 'Opaque',
      stringData: { [TOKEN_KEY]: token },
    };
    try {
      await this.#objects.patch(secret, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    } catch (err) {
      const status = statusOf(err);
      const hint = status === 404 ? ` (does the namespace ${namespace} exist? apply platform/gitlab first)` : '';
      throw new UpstreamError('Kubernetes', `apply secret ${namespace}/${name}`, status, shortMessage(err) + hint);
    }
  }
}

function defaultKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault(); // KUBECONFIG, ~/.kube/config, or the in-cluster service account
  return kc;
}

/** The apiserver's Status message when there is one; never the request (it carries the token). */
function shortMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON
    }
  }
  const message = (err as Error).message ?? String(err);
  return message.split('\n')[0]!.slice(0, 300);
}
