// The chart on the real node against an AWS emulator its pods reach: a moto server of this file's own on the node's
// bridge address (pods reach this machine there, and nothing outside it does), the table and bucket created by
// platform/aws's IaC (deploy-local: the CDK template through moto's CloudFormation, with the names the chart's
// defaults use), the image built from the Dockerfile, and `helm install` with values only: the endpoint, the
// emulator's credentials Secret, the node's selector and toleration, and the egress rule to moto's address and port
// that the chart's README gives for an emulator. (The node enforces NetworkPolicies, but by their definition
// traffic between a pod and its own node is always allowed: moto on the node address is reached with or without
// that rule, as a run without it showed. The rule is what an emulator elsewhere needs; here it is only checked to
// be in the policy the apiserver holds.) Pass: every pod Ready (readiness is DescribeTable plus HeadBucket,
// answered by moto to each pod's own address), no restart, a POST /user with a real PNG through the Service is 201,
// GET /users lists the user, the item and the object are in moto (read with the AWS SDK), the avatar redirect
// serves the same bytes, and `helm test` passes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { deployLocal, type DeployedStack } from '@sre-platform/aws/deploy-local';
import {
  awsClientConfig,
  cluster,
  eventually,
  kubeConfig,
  REAL_NODE,
  startMoto,
  startRealNode,
  uniqueName,
  type MotoServer,
} from '@sre-platform/test-platform';
import { helm as helmIn, isPodReady, kubectl } from '@sre-platform/test-platform/kubectl';
import { describeContainerMemory } from '@sre-platform/test-platform/pods';
import { serviceImage, type ServiceImage } from '@sre-platform/test-platform/service-images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { form, listKeys, png, postUser } from './harness.ts';

const CHART = join(import.meta.dirname, '..', 'chart');
const RELEASE = 'users';
const NAME = `${RELEASE}-users-api`;
const SELECTOR = `app.kubernetes.io/name=users-api,app.kubernetes.io/instance=${RELEASE}`;
const REPLICAS = 2;

let scratch: string;
let namespace = '';
let emulator: MotoServer;
let stack: DeployedStack;
let image: ServiceImage;
let base: string;
let aws: { dynamodb: DynamoDBClient; s3: S3Client };
/** How long each step of the set-up took (ms), for the figures the test prints. */
const steps: string[] = [];
async function timed<T>(step: string, run: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const out = await run();
  steps.push(`${step} ${Date.now() - t0} ms`);
  return out;
}
const helm = (...args: string[]) => helmIn(scratch, ...args);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const pods = async () =>
  (await core().listNamespacedPod({ namespace, labelSelector: SELECTOR })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'sre-platform-users-real-'));
  await timed('real node', () => startRealNode(cluster()));
  // The node's bridge exists now: moto listens on its address.
  emulator = await timed('moto', () => startMoto({ host: REAL_NODE.ip }));
  const [built, deployed] = await Promise.all([
    timed('image', () => serviceImage(cluster(), 'users-api')),
    timed('IaC', () => deployLocal({ endpoint: emulator.info.endpoint, region: emulator.info.region })),
  ]);
  image = built;
  stack = deployed;
  aws = {
    dynamodb: new DynamoDBClient(awsClientConfig(emulator.info)),
    s3: new S3Client(awsClientConfig(emulator.info)),
  };

  namespace = uniqueName('users-real');
  await core().createNamespace({ body: { metadata: { name: namespace, labels: { 'sre-platform/test': 'true' } } } });
  await core().createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'emulator-credentials' },
      stringData: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
    },
  });
  const [repository, tag] = image.ref.split(/:(?=[^:]+$)/);
  const values = {
    image: { repository, tag, pullPolicy: 'Never' },
    aws: {
      region: emulator.info.region,
      endpointUrl: emulator.info.endpoint,
      credentialsSecret: 'emulator-credentials',
    },
    // A fixed count (the HPA's floor and behaviour are chart.int.test.ts's): two pods, both probed, both serving.
    replicaCount: REPLICAS,
    autoscaling: { enabled: false },
    nodeSelector: REAL_NODE.nodeSelector,
    tolerations: REAL_NODE.tolerations,
    networkPolicy: {
      extraEgress: [
        {
          to: [{ ipBlock: { cidr: `${REAL_NODE.ip}/32` } }],
          ports: [{ port: Number(new URL(emulator.info.endpoint).port), protocol: 'TCP' }],
        },
      ],
    },
  };
  const file = join(scratch, 'values.json');
  writeFileSync(file, JSON.stringify(values)); // JSON is YAML
  await timed('helm install --wait', () =>
    helm('install', RELEASE, CHART, '--namespace', namespace, '--values', file, '--wait', '--timeout', '300s'),
  ).catch(async (err: unknown) => {
    // What helm's "timed out" does not say: the pods' state, their logs, and what moto saw.
    const show = (...args: string[]) => kubectl(...args).catch((e: unknown) => String(e));
    throw new Error(
      `${String(err)}\n${await show('get', 'pods,events', '-n', namespace, '-o', 'wide')}\n` +
        `${await show('logs', '-n', namespace, '-l', SELECTOR, '--tail', '20', '--prefix')}\n` +
        `moto:\n${emulator.output().slice(-2000)}`,
      { cause: err },
    );
  });
  const svc = await core().readNamespacedService({ namespace, name: NAME });
  base = `http://${svc.spec!.clusterIP!}:${svc.spec!.ports![0]!.port}`;
}, 1_500_000);

afterAll(async () => {
  aws?.dynamodb.destroy();
  aws?.s3.destroy();
  if (namespace)
    await core()
      .deleteNamespace({ name: namespace })
      .catch(() => undefined);
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 180_000);

describe('users-api chart on the real node, against moto on the node address', () => {
  it("creates the table and bucket with platform/aws's IaC, under the names the chart's defaults use", () => {
    expect(stack.tableName).toBe('users');
    expect(stack.bucketName).toBe('users-api-avatars');
    expect(Object.values(stack.resources).map((r) => r.type)).toEqual(
      expect.arrayContaining(['AWS::DynamoDB::Table', 'AWS::S3::Bucket']),
    );
  });

  it('runs every pod Ready on the real node, with 0 restarts, its readiness answered by moto to its own address', async () => {
    const running = await pods();
    expect(running).toHaveLength(REPLICAS);
    for (const p of running) {
      const name = p.metadata!.name!;
      expect(p.spec?.nodeName, name).toBe(REAL_NODE.name);
      expect(isPodReady(p), name).toBe(true);
      expect(
        p.status?.containerStatuses?.map((c) => c.restartCount),
        name,
      ).toEqual([0]);
    }
    // Each pod's readiness checks (DescribeTable, HeadBucket) arrived at moto from the pod's own IP (pods on the
    // bridge reach the node address unmasqueraded).
    const clients = new Set([...emulator.output().matchAll(/^(\d+\.\d+\.\d+\.\d+) - - /gm)].map((m) => m[1]));
    for (const p of running) expect(clients, p.metadata?.name).toContain(p.status?.podIP);
    const policy = await kubeConfig()
      .makeApiClient(k8s.NetworkingV1Api)
      .readNamespacedNetworkPolicy({ namespace, name: NAME });
    expect(policy.spec?.egress?.at(-1)).toEqual({
      to: [{ ipBlock: { cidr: `${REAL_NODE.ip}/32` } }],
      ports: [{ port: Number(new URL(emulator.info.endpoint).port), protocol: 'TCP' }],
    });

    const readyAfter = running.map((p) => {
      const ready = p.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime!;
      return (new Date(ready).getTime() - new Date(p.metadata!.creationTimestamp!).getTime()) / 1000;
    });
    process.stdout.write(
      `users-api on the real node: ${steps.join(', ')}; pods Ready ${readyAfter.join(' s, ')} s ` +
        `after creation (apiserver timestamps, 1 s resolution)\n${await describeContainerMemory(namespace)}\n`,
    );
  });

  it('creates a user with a real PNG through the Service: 201, listed by GET /users, the item and object in moto', async () => {
    // Through the Service's ClusterIP (kube-proxy on this machine): its rules may trail the endpoints briefly.
    await eventually('the Service to answer /readyz', async () =>
      (await fetch(`${base}/readyz`)).ok ? true : undefined,
    );
    const avatar = png(96, 64, 42);
    const email = `real-node-${process.pid}@example.com`;
    const res = await postUser(
      base,
      form([
        ['name', 'Real Node'],
        ['email', email],
        ['avatar', { bytes: avatar, filename: 'avatar.png', type: 'image/png' }],
      ]),
    );
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toEqual({ success: 'User created' });

    const listed = await fetch(`${base}/users`);
    expect(listed.status).toBe(200);
    const users = (await listed.json()) as { name: string; email: string; avatar_url: string }[];
    expect(users).toEqual([
      {
        name: 'Real Node',
        email,
        avatar_url: expect.stringMatching(
          /^https:\/\/users-api-avatars\.s3\.us-east-1\.amazonaws\.com\/avatars\/[0-9a-f-]{36}\.png$/,
        ),
      },
    ]);

    // Behind the service, in the emulator the pods wrote to.
    const item = await aws.dynamodb.send(
      new GetItemCommand({ TableName: stack.tableName, Key: { email: { S: email } }, ConsistentRead: true }),
    );
    expect(item.Item).toEqual({
      name: { S: 'Real Node' },
      email: { S: email },
      avatar_url: { S: users[0]!.avatar_url },
    });
    const key = new URL(users[0]!.avatar_url).pathname.slice(1);
    const object = await aws.s3.send(new GetObjectCommand({ Bucket: stack.bucketName, Key: key }));
    expect(object.ContentType).toBe('image/png');
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(avatar)).toBe(true);
    expect(await listKeys(aws.s3, stack.bucketName, 'avatars/')).toContain(key);

    // The avatar route's presigned URL names the endpoint the pods were given, and serves the same bytes.
    const redirect = await fetch(`${base}/users/${encodeURIComponent(email)}/avatar`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    expect(location.startsWith(`${emulator.info.endpoint}/${stack.bucketName}/${key}?`)).toBe(true);
    const fetched = await fetch(location);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(avatar)).toBe(true);
  });

  it("passes `helm test`: the chart's test pod runs on the real node and gets 200 from /readyz through the Service", async () => {
    // No --logs: the hook's delete policy (hook-succeeded) removes the pod before helm could read them. Its exit
    // status is helm's verdict; the events, which outlive the pod, say where it ran.
    const out = await helm('test', RELEASE, '--namespace', namespace, '--timeout', '180s');
    expect(out).toMatch(new RegExp(`TEST SUITE:\\s+${NAME}-test\\n(?:.*\\n)*?Phase:\\s+Succeeded`));
    // The kubelet and the scheduler send their events asynchronously: wait for both.
    const events = await eventually("the test pod's Scheduled and Started events", async () => {
      const list = await core().listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${NAME}-test`,
      });
      const reasons = list.items.map((e) => e.reason);
      return reasons.includes('Scheduled') && reasons.includes('Started') ? list : undefined;
    });
    expect(events.items.find((e) => e.reason === 'Scheduled')?.message).toMatch(new RegExp(`to ${REAL_NODE.name}$`));
    expect(events.items.filter((e) => e.reason === 'Started').map((e) => e.source?.host)).toEqual([REAL_NODE.name]);
  });

  it('uninstalls: no pod of the release is left', async () => {
    await helm('uninstall', RELEASE, '--namespace', namespace, '--wait', '--timeout', '120s');
    await eventually('the pods to be gone', async () => ((await pods()).length === 0 ? true : undefined), 120_000);
    expect((await helm('list', '--namespace', namespace, '--short')).trim()).toBe('');
  });
});
