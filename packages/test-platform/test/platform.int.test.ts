// Proof that the test platform is real: the control plane schedules and "runs" pods, the
// apiserver validates, Prometheus scrapes, the AWS SDK talks to moto, PostgreSQL answers SQL.
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import {
  addScrapeTarget,
  awsClientConfig,
  cluster,
  eventually,
  kubeConfig,
  promQuery,
  uniqueName,
  useDatabase,
  useNamespace,
} from '../src/index.ts';

const run = promisify(execFile);

describe('Kubernetes control plane with kwok nodes', () => {
  const ns = useNamespace('platform');

  const deployment = (name: string, replicas: number): k8s.V1Deployment => ({
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  });

  async function readyPods(name: string): Promise<number> {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `app=${name}` });
    return pods.items.filter(
      (p) =>
        p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  }

  it('runs a Deployment of 3 replicas to 3 ready pods, then follows a scale to 5', async () => {
    const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: ns.name, body: deployment('web', 3) });
    await eventually('3 ready pods', async () => ((await readyPods('web')) === 3 ? true : undefined));
    const d = await eventually('deployment status', async () => {
      const got = await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name });
      return got.status?.readyReplicas === 3 ? got : undefined;
    });
    expect(d.status?.availableReplicas).toBe(3);

    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace: ns.name, body: { spec: { replicas: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually('5 ready pods', async () => ((await readyPods('web')) === 5 ? true : undefined));
    const scaled = await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name });
    expect(scaled.spec?.replicas).toBe(5);
  });

  it('accepts an HPA on a custom metric and a CustomResourceDefinition with objects of it', async () => {
    const autoscaling = kubeConfig().makeApiClient(k8s.AutoscalingV2Api);
    const hpa = await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: ns.name,
      body: {
        metadata: { name: 'web' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 2,
          maxReplicas: 10,
          metrics: [
            {
              type: 'Pods',
              pods: {
                metric: { name: 'http_requests_in_flight' },
                target: { type: 'AverageValue', averageValue: '10' },
              },
            },
          ],
        },
      },
    });
    expect(hpa.metadata?.uid).toBeTruthy();

    const group = `${uniqueName('widgets').replace('-', '')}.test.sre-platform.dev`;
    const ext = kubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } }, required: ['size'] },
                  },
                },
              },
            },
          ],
        },
      },
    });
    try {
      const custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
      const widget = await eventually('the CRD to be served', () =>
        custom
          .createNamespacedCustomObject({
            group,
            version: 'v1',
            namespace: ns.name,
            plural: 'widgets',
            body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
          })
          .then(
            (w) => w as { spec: { size: number } },
            () => undefined,
          ),
      );
      expect(widget.spec.size).toBe(3);
      // The CRD's schema is enforced by the apiserver.
      await expect(
        custom.createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace: ns.name,
          plural: 'widgets',
          body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w2' }, spec: { size: 0 } },
        }),
      ).rejects.toThrow(/spec.size/);
    } finally {
      await ext.deleteCustomResourceDefinition({ name: `widgets.${group}` });
    }
  });

  it("rejects an invalid manifest on server-side dry-run with the apiserver's own message", async () => {
    const { kubeconfig, kubernetesBin } = cluster();
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken', namespace: ns.name },
      spec: { replicas: -1, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [] } } },
    });
    const file = join(cluster().workdir, `${uniqueName('broken')}.json`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, manifest);
    const attempt = run(join(kubernetesBin, 'kubectl'), [
      '--kubeconfig',
      kubeconfig,
      'apply',
      '--dry-run=server',
      '-f',
      file,
    ]);
    const err = (await attempt.then(
      () => undefined,
      (e: unknown) => e,
    )) as { stderr: string } | undefined;
    expect(err, 'dry-run of an invalid Deployment succeeded').toBeDefined();
    expect(err!.stderr).toContain('The Deployment "broken" is invalid');
    expect(err!.stderr).toContain('spec.replicas: Invalid value: -1');
    expect(err!.stderr).toContain('spec.selector: Required value');
    // Dry-run means nothing was stored.
    const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
    await expect(apps.readNamespacedDeployment({ name: 'broken', namespace: ns.name })).rejects.toThrow();
  });
});

describe('Prometheus', () => {
  it('scrapes a target and answers a PromQL query about it', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'platform_test_events_total', help: 'test', registers: [registry] });
    counter.inc(7);
    const server = createServer((_req, res) => {
      void registry.metrics().then((text) => {
        res.setHeader('content-type', registry.contentType);
        res.end(text);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const instance = uniqueName('instance');
    const remove = addScrapeTarget(`127.0.0.1:${port}`, { instance_name: instance });
    try {
      const result = await eventually('a scraped sample', async () => {
        const r = await promQuery(`platform_test_events_total{instance_name="${instance}"}`);
        return r.length > 0 ? r : undefined;
      });
      expect(result[0]!.value[1]).toBe('7');
      const up = await promQuery(`up{instance_name="${instance}"}`);
      expect(up[0]!.value[1]).toBe('1');
    } finally {
      remove();
      server.close();
    }
  });
});

describe('AWS APIs on moto', () => {
  it('creates and reads a DynamoDB table item and an S3 object with the AWS SDK', async () => {
    const dynamo = new DynamoDBClient(awsClientConfig());
    const table = uniqueName('users');
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await dynamo.send(
      new PutItemCommand({ TableName: table, Item: { email: { S: 'ann@example.com' }, name: { S: 'Ann' } } }),
    );
    const item = await dynamo.send(new GetItemCommand({ TableName: table, Key: { email: { S: 'ann@example.com' } } }));
    expect(item.Item?.['name']).toEqual({ S: 'Ann' });

    const s3 = new S3Client(awsClientConfig());
    const bucket = uniqueName('avatars');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'ann.png', Body: Buffer.from([1, 2, 3]), ContentType: 'image/png' }),
    );
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ann.png' }));
    expect(object.ContentType).toBe('image/png');
    expect([...(await object.Body!.transformToByteArray())]).toEqual([1, 2, 3]);
  });
});

describe('PostgreSQL', () => {
  const db = useDatabase('platform');

  it('gives each test its own database on a real server', async () => {
    const [{ version }] = (await db.sql`select version()`) as unknown as [{ version: string }];
    expect(version).toMatch(/^PostgreSQL 1\d/);
    await db.sql`create table invoices (id text primary key, amount numeric(12,2) not null)`;
    await db.sql`insert into invoices values ('I1', 12.15)`;
    const rows = await db.sql`select amount from invoices where id = 'I1'`;
    expect(rows[0]!['amount']).toBe('12.15');
  });
});
