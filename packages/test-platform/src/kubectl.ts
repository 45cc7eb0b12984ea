// kubectl and helm against the run's cluster (the pinned kubectl, the control plane's version; the pinned helm), for
// tests that drive the cluster as an operator or a deploy script would: stdin for manifests, failures with kubectl's
// own message.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { cluster } from './index.ts';
import { toolBin } from './tools.ts';

const run = promisify(execFile);

/** Runs kubectl with `args` (and `input` on stdin) against the run's cluster; rejects with kubectl's stderr. */
export async function kubectlOutput(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = run(join(cluster().kubernetesBin, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
    maxBuffer: 64 << 20,
  });
  child.child.stdin!.end(input ?? '');
  return child.catch((err: { stderr?: string; message: string }) => {
    throw new Error(`kubectl ${args.join(' ')}: ${err.stderr || err.message}`);
  });
}

/** The pinned helm's stdout, against the run's cluster, with its cache and configuration under `scratch` (the test's). */
export async function helm(scratch: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(join(toolBin('helm'), 'helm'), args, {
    env: {
      ...process.env,
      KUBECONFIG: cluster().kubeconfig,
      HELM_CACHE_HOME: join(scratch, 'helm-cache'),
      HELM_CONFIG_HOME: join(scratch, 'helm-config'),
    },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** kubectl's stdout. */
export const kubectl = async (...args: string[]): Promise<string> => (await kubectlOutput(args)).stdout;

/** The items of `kubectl get <args> -o json`. */
export const kubectlItems = async <T>(...args: string[]): Promise<T[]> =>
  (JSON.parse(await kubectl('get', ...args, '-o', 'json')) as { items: T[] }).items;

/** A Secret's data, decoded. */
export const secretData = async (namespace: string, name: string): Promise<Record<string, string>> =>
  Object.fromEntries(
    Object.entries(
      (
        JSON.parse(await kubectl('get', 'secret', '-n', namespace, name, '-o', 'json')) as {
          data?: Record<string, string>;
        }
      ).data ?? {},
    ).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );

/** A pod whose Ready condition is True. */
export const isPodReady = (p: { status?: { conditions?: { type: string; status: string }[] } }): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
