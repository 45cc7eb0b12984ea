// The local stand-in for postgres:18.1-bookworm (tools/image/postgres), run on the real node as our PostgreSQL
// StatefulSets run it: uid 999, read-only root filesystem, the official image's environment contract, probes by
// psql over the socket, and password connections over TCP.
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';

import { cluster, startRealNode, uniqueName, useNamespace } from '../src/index.ts';
import { onRealNode, RESTRICTED, runPodUntilReady } from '../src/pods.ts';
import { serviceImage, type ServiceImage } from '../src/service-images.ts';

describe('the postgres stand-in image', () => {
  const ns = useNamespace('postgres-image');
  let image: ServiceImage;
  beforeAll(async () => {
    await startRealNode(cluster());
    image = await serviceImage(cluster(), 'postgres');
  }, 1_200_000);

  it('initialises its database from the environment and serves it by password over TCP', async () => {
    const password = uniqueName('pw');
    const pod = await runPodUntilReady(ns.name, {
      metadata: { name: 'db' },
      spec: onRealNode({
        securityContext: { ...RESTRICTED.pod, runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
        containers: [
          {
            name: 'postgres',
            image: image.ref,
            env: [
              { name: 'PGDATA', value: '/var/lib/postgresql/18/docker' },
              { name: 'POSTGRES_USER', value: 'app' },
              { name: 'POSTGRES_PASSWORD', value: password },
              { name: 'POSTGRES_DB', value: 'invoices' },
            ],
            readinessProbe: {
              exec: { command: ['sh', '-c', 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "select 1"'] },
              periodSeconds: 1,
              failureThreshold: 300,
            },
            securityContext: RESTRICTED.container,
            volumeMounts: [
              { name: 'data', mountPath: '/var/lib/postgresql' },
              { name: 'run', mountPath: '/var/run/postgresql' },
              { name: 'tmp', mountPath: '/tmp' },
            ],
          },
        ],
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'run', emptyDir: {} },
          { name: 'tmp', emptyDir: {} },
        ],
      }),
    });
    expect(image.config.User).toBe('999:999');
    const sql = postgres({ host: pod.status!.podIP!, port: 5432, user: 'app', password, database: 'invoices', max: 1 });
    try {
      const [row] = await sql<{ version: string; user: string }[]>`select version(), current_user as user`;
      expect(row!.version).toMatch(/^PostgreSQL 18\./);
      expect(row!.user).toBe('app');
    } finally {
      await sql.end();
    }
    // A wrong password is refused: TCP connections are never trusted.
    const wrong = postgres({
      host: pod.status!.podIP!,
      port: 5432,
      user: 'app',
      password: 'nope',
      database: 'invoices',
      max: 1,
    });
    await expect(wrong`select 1`).rejects.toThrow(/password authentication failed/);
    await wrong.end();
  }, 300_000);
});
