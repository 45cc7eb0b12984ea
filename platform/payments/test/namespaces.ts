// The payments pair has fixed names: namespaces invoices and payments, NodePort 30081, the ClusterRole
// payments-team-service-owner. The suites that deploy it (on the kwok nodes, on the real node; both in
// payments.int.test.ts) take turns on one run's cluster: a lock directory in the run's cluster directory, taken
// before deploying and given back once everything the deploy made is gone.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { cluster, eventually } from '@sre-platform/test-platform';

const run = promisify(execFile);
export const NAMESPACES = ['invoices', 'payments'];

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(join(cluster().kubernetesBin, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
    maxBuffer: 32 << 20,
  });
  return stdout;
}

/**
 * Waits until no other test file of the run holds the payments pair's names, then holds them. Resolves to the
 * release: it deletes the namespaces and the cluster-wide objects deploy.sh made and waits until the namespaces are
 * gone (their pods stopped) before letting the next file in.
 */
export async function holdPaymentsNamespaces(): Promise<() => Promise<void>> {
  const lock = join(cluster().workdir, 'payments-namespaces.lock');
  await eventually(
    'the payments namespaces to be free (another test file of this run deploys the pair)',
    async () => {
      try {
        mkdirSync(lock);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw err;
      }
    },
    1_800_000,
    1_000,
  );
  return async () => {
    try {
      await kubectl('delete', 'namespace', ...NAMESPACES, '--ignore-not-found', '--wait=false');
      await kubectl(
        'delete',
        'clusterrole/payments-team-service-owner',
        'persistentvolume/payments-postgres-invoices',
        'persistentvolume/payments-postgres-payments',
        '--ignore-not-found',
        '--wait=false',
      );
      await eventually(
        'the payments namespaces to be deleted',
        async () =>
          (await kubectl('get', 'namespace', ...NAMESPACES, '--ignore-not-found', '-o', 'name')).trim()
            ? undefined
            : true,
        300_000,
        1_000,
      );
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  };
}
