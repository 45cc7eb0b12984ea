// Part A deployed by its one command (deploy.sh, `make webhook-platform-deploy`) on the run's cluster with its real
// node. webhook-app and its PostgreSQL run for real there, from images built from their Dockerfiles; a GitLab push
// webhook sent from this machine to webhook-app's Service is delivered as a DM to the Rocket.Chat contract peer,
// which runs on this machine and which the pods reach at the node IP. Rocket.Chat, MongoDB and GitLab cannot run
// here (their images are out of reach): the apiserver validates them, Pod Security admits their pods onto kwok
// nodes, and nothing runs them. A second run changes nothing; Secrets are generated once and never printed.
// The checks of the manifests on the apiserver live here too, and so does webhook-app's pipeline run by
// gitlab-ci-local against this deployment (pipeline.suite.ts, after this file's own suite): they use the same
// namespaces, so two files applying and deleting them would race.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { readContract } from '@sre-platform/contracts';
import { startPeer, type Peer } from '@sre-platform/rocketchat-peer';
import { cluster, eventually, REAL_NODE, REPO_ROOT, startRealNode, uniqueName } from '@sre-platform/test-platform';
import { get, kustomize, parseManifests } from '@sre-platform/test-platform/manifests';
import { isPodReady, kubectl, kubectlItems, kubectlOutput, secretData } from '@sre-platform/test-platform/kubectl';
import { describeContainerMemory } from '@sre-platform/test-platform/pods';
import { serviceImage } from '@sre-platform/test-platform/service-images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { PART_A } from '../part-a.ts';
import { pipelineSuite } from './pipeline.suite.ts';

const run = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'platform/webhook-platform/deploy.sh');
const PUSH = readContract('gitlab/push.json');
const PUSH_SHA = (JSON.parse(PUSH) as { checkout_sha: string }).checkout_sha;
// The bootstrap's values for webhook-app's Secret (its CI/CD variables): the bot it created in Rocket.Chat.
const BOT = { username: 'webhook-bot', password: randomBytes(16).toString('hex') };

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface PodObj extends Obj {
  spec: { nodeName?: string };
  status: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; restartCount: number; ready: boolean }[];
  };
}

const env = () => ({ ...process.env, KUBECONFIG: cluster().kubeconfig });
const items = <T = Obj>(...args: string[]) => kubectlItems<T>(...args);

const str = (v: unknown, ...path: string[]) => get(v, ...path) as string;
const rendered = Object.fromEntries(PART_A.map((dir) => [dir, parseManifests(kustomize(dir))]));
const NAMESPACES = PART_A.flatMap((dir) =>
  rendered[dir]!.filter((o) => str(o, 'kind') === 'Namespace').map((o) => str(o, 'metadata', 'name')),
);
const workloads = (dir: string) =>
  rendered[dir]!.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(str(o, 'kind')));
const podsOf = (w: unknown) =>
  items<PodObj>(
    'pods',
    '-n',
    str(w, 'metadata', 'namespace'),
    '-l',
    Object.entries(get(w, 'spec', 'template', 'metadata', 'labels') as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  );
const isReady = (p: PodObj) => isPodReady(p);

let peer: Peer;
let images: { app: string; postgres: string };
let first: { stdout: string; stderr: string; ms: number };
let second: { stdout: string; stderr: string; ms: number };
let before: Map<string, string>;
let after: Map<string, string>;
let secretsBefore: Record<string, Record<string, string>>;

async function deploy(extra: Record<string, string>) {
  const t0 = Date.now();
  const out = await run(DEPLOY, [], {
    env: {
      ...env(),
      // A fixed tag (the default derives from the worktree, which may change mid-test), built once per run below.
      IMAGE_TAG: images.app.split(':').pop()!,
      BUILD: 'never',
      POSTGRES_IMAGE: images.postgres,
      ROCKETCHAT_URL: peer.url,
      ...extra,
    },
    timeout: 600_000,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`deploy.sh failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  return { ...out, ms: Date.now() - t0 };
}

/** Every object deploy.sh manages, with its resourceVersion: any write changes it. */
async function snapshot(): Promise<Map<string, string>> {
  const kinds =
    'deployments,statefulsets,jobs,services,configmaps,secrets,networkpolicies,poddisruptionbudgets,ingresses,serviceaccounts,roles,rolebindings,persistentvolumeclaims';
  const objects = [
    ...(await items('namespaces', ...NAMESPACES)),
    ...(await Promise.all(NAMESPACES.map((ns) => items(kinds, '-n', ns)))).flat(),
  ];
  return new Map(
    objects
      // The root CA ConfigMap is the controller-manager's own, rewritten on its schedule.
      .filter((o) => o.metadata.name !== 'kube-root-ca.crt')
      .map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion]),
  );
}

const SECRETS = [
  ['rocketchat', 'mongodb-auth'],
  ['rocketchat', 'rocketchat-admin'],
  ['gitlab', 'gitlab-root'],
  ['webhook-app', 'postgres-credentials'],
  ['webhook-app', 'webhook-app-database'],
  ['webhook-app', 'webhook-app'],
] as const;
const allSecrets = async () =>
  Object.fromEntries(
    await Promise.all(SECRETS.map(async ([ns, name]) => [`${ns}/${name}`, await secretData(ns, name)] as const)),
  );

beforeAll(async () => {
  const existing = (await items('namespaces')).map((n) => n.metadata.name);
  const taken = NAMESPACES.filter((n) => existing.includes(n));
  if (taken.length > 0) throw new Error(`namespaces ${taken.join(', ')} already exist: refusing to deploy over them`);
  await startRealNode(cluster());
  const [app, postgres] = await Promise.all([
    serviceImage(cluster(), 'webhook-app'),
    serviceImage(cluster(), 'postgres'),
  ]);
  images = { app: app.ref, postgres: postgres.ref };
  // On the node's bridge address: pods reach this machine there, and nothing else does.
  peer = await startPeer({ host: REAL_NODE.ip });
  peer.addUser(BOT.username, BOT.password, ['bot']);
  peer.addUser('ops');
  const bootstrapValues = { ROCKETCHAT_USERNAME: BOT.username, ROCKETCHAT_PASSWORD: BOT.password };
  first = await deploy(bootstrapValues);
  before = await snapshot();
  secretsBefore = await allSecrets();
  // Without the bootstrap's values this time: the stored ones are kept.
  second = await deploy({});
  after = await snapshot();
  process.stdout.write(`deploy.sh with the real node: first run ${first.ms} ms, second run ${second.ms} ms\n`);
}, 1_800_000);

afterAll(async () => {
  await peer?.close();
  await kubectl('delete', 'namespace', '--ignore-not-found', '--wait=false', ...NAMESPACES).catch(() => undefined);
});

describe('deploy.sh on the local cluster with its real node', () => {
  it('says what runs where: webhook-app on the real node, Rocket.Chat and GitLab applied but not run', () => {
    expect(first.stderr).toMatch(/context \S+ \(local control plane, real node real-node\)/);
    expect(first.stderr).toMatch(
      /Rocket\.Chat, MongoDB, GitLab and the runner: applied, validated by the apiserver, their pods admitted by Pod Security onto kwok nodes; not run/,
    );
    expect(first.stderr).toMatch(/deployment "webhook-app" successfully rolled out/);
  });

  it('gets every object accepted by the apiserver with no Pod Security warning', () => {
    for (const out of [first, second]) {
      expect(out.stderr).not.toMatch(/would violate PodSecurity/);
      expect(out.stderr).not.toMatch(/^Warning:/m);
    }
  });

  it.each(PART_A)('%s: every workload gets its pods, admitted by Pod Security', async (dir) => {
    for (const w of workloads(dir)) {
      const name = `${str(w, 'kind')}/${str(w, 'metadata', 'name')}`;
      const pods = await podsOf(w);
      expect(pods.length, name).toBeGreaterThan(0);
      // Only webhook-app and its database asked for the real node; the products' pods are on kwok nodes.
      const onRealNode = dir === 'services/webhook-app/k8s';
      for (const p of pods.filter((q) => q.spec.nodeName)) {
        expect(p.spec.nodeName === REAL_NODE.name, `${name}: ${p.metadata.name} on ${p.spec.nodeName}`).toBe(
          onRealNode,
        );
      }
    }
  });

  it('runs webhook-app 2/2 and PostgreSQL 1/1 Ready on the real node, with 0 restarts', async () => {
    const app = await items<PodObj>('pods', '-n', 'webhook-app', '-l', 'app.kubernetes.io/name=webhook-app');
    const db = await items<PodObj>('pods', '-n', 'webhook-app', '-l', 'app.kubernetes.io/name=postgres');
    expect(app.filter(isReady)).toHaveLength(2);
    expect(db.filter(isReady)).toHaveLength(1);
    for (const p of [...app, ...db]) {
      expect(p.spec.nodeName, p.metadata.name).toBe(REAL_NODE.name);
      expect(
        p.status.containerStatuses?.map((c) => c.restartCount),
        p.metadata.name,
      ).toEqual([0]);
    }
  });

  it('generates every Secret in the cluster, takes the bootstrap values given, and prints none', () => {
    const app = secretsBefore['webhook-app/webhook-app']!;
    expect(app).toMatchObject({ ROCKETCHAT_USERNAME: BOT.username, ROCKETCHAT_PASSWORD: BOT.password });
    expect(app['GITLAB_WEBHOOK_SECRET']).toMatch(/^[0-9a-f]{64}$/);
    expect(app['ADMIN_TOKEN']).toMatch(/^[0-9a-f]{64}$/);
    const pg = secretsBefore['webhook-app/postgres-credentials']!;
    expect(secretsBefore['webhook-app/webhook-app-database']).toEqual({
      DATABASE_URL: `postgres://${pg['POSTGRES_USER']}:${pg['POSTGRES_PASSWORD']}@postgres.webhook-app.svc.cluster.local:5432/${pg['POSTGRES_DB']}`,
    });
    const mongo = secretsBefore['rocketchat/mongodb-auth']!;
    expect(Object.keys(mongo).sort()).toEqual([
      'MONGO_URL',
      'keyfile',
      'rocketchat-password',
      'root-password',
      'root-username',
    ]);
    expect(mongo['MONGO_URL']).toContain(`rocketchat:${mongo['rocketchat-password']}@mongodb-0.mongodb.rocketchat`);
    expect(Buffer.from(mongo['keyfile']!, 'base64')).toHaveLength(756);
    expect(secretsBefore['gitlab/gitlab-root']!['root-password']).toMatch(/^[0-9a-f]{32}$/);
    const values = Object.values(secretsBefore)
      .flatMap((s) => Object.entries(s))
      .filter(
        ([k]) => k !== 'ROCKETCHAT_USERNAME' && !k.endsWith('USER') && !k.endsWith('DB') && !k.endsWith('username'),
      )
      .map(([, v]) => v)
      .filter((v) => v.length >= 8 && !v.includes('@sre-platform.test'));
    expect(values.length).toBeGreaterThan(8);
    for (const out of [first, second]) {
      for (const v of values) expect(out.stdout + out.stderr).not.toContain(v);
    }
  });

  it('changes nothing on a second run, and keeps every Secret when the bootstrap values are not given again', async () => {
    expect(after).toEqual(before);
    expect(await allSecrets()).toEqual(secretsBefore);
    expect(second.stderr).not.toMatch(/generating|writing/);
  });

  it("delivers a GitLab push sent to webhook-app's Service as a DM to the Rocket.Chat peer", async () => {
    const svc = JSON.parse(await kubectl('get', 'service', '-n', 'webhook-app', 'webhook-app', '-o', 'json')) as Obj;
    const clusterIP = get(svc, 'spec', 'clusterIP') as string;
    const token = secretsBefore['webhook-app/webhook-app']!['GITLAB_WEBHOOK_SECRET']!;
    // From this machine to the ClusterIP, through kube-proxy, to one of the two pods. The Idempotency-Key makes a
    // re-sent request (while kube-proxy's rules are being written) one event.
    const answer = await eventually('webhook-app to accept the push through its Service', async () => {
      const res = await fetch(`http://${clusterIP}:8080/webhooks/gitlab`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-gitlab-event': 'Push Hook',
          'x-gitlab-token': token,
          'idempotency-key': 'real-node-push-1',
        },
        body: PUSH,
        signal: AbortSignal.timeout(10_000),
      });
      return res.status === 202 ? ((await res.json()) as { status: string }) : undefined;
    });
    expect(['accepted', 'duplicate']).toContain(answer.status);
    const dm = await eventually('the DM in the Rocket.Chat peer', async () =>
      peer.messages.find((m) => m.msg.includes(PUSH_SHA)),
    );
    expect(dm).toMatchObject({ to: 'ops', from: BOT.username });
    expect(peer.messages.filter((m) => m.msg.includes(PUSH_SHA))).toHaveLength(1);
    expect(peer.violations, 'requests or responses outside the Rocket.Chat contract').toEqual([]);
    // Still 2/2 Ready with 0 restarts after serving it.
    const app = await items<PodObj>('pods', '-n', 'webhook-app', '-l', 'app.kubernetes.io/name=webhook-app');
    expect(app.filter(isReady)).toHaveLength(2);
    expect(app.flatMap((p) => p.status.containerStatuses!.map((c) => c.restartCount))).toEqual([0, 0]);
    process.stdout.write(`webhook-app on the real node:\n${await describeContainerMemory('webhook-app')}\n`);
  });

  it("rewrites webhook-app's Secret with a new bootstrap value, restarts its pods with it, and keeps the rest", async () => {
    const app = () => items<PodObj>('pods', '-n', 'webhook-app', '-l', 'app.kubernetes.io/name=webhook-app');
    const oldPods = (await app()).map((p) => p.metadata.name);
    const rotated = randomBytes(32).toString('hex');
    const third = await deploy({ GITLAB_WEBHOOK_SECRET: rotated });
    expect(third.stderr).toContain("writing webhook-app's Secret (keys set: GITLAB_WEBHOOK_SECRET )");
    expect(third.stderr).not.toContain(rotated);
    const stored = await allSecrets();
    expect(stored['webhook-app/webhook-app']).toEqual({
      ...secretsBefore['webhook-app/webhook-app'],
      GITLAB_WEBHOOK_SECRET: rotated,
    });
    expect({ ...stored, 'webhook-app/webhook-app': undefined }).toEqual({
      ...secretsBefore,
      'webhook-app/webhook-app': undefined,
    });
    // deploy.sh waited for the rollout: two new pods, Ready, that never restarted, and only they are left.
    const pods = await eventually('only the new pods to be left', async () => {
      const now = await app();
      return now.every((p) => !oldPods.includes(p.metadata.name)) ? now : undefined;
    });
    expect(pods.filter(isReady)).toHaveLength(2);
    expect(pods.flatMap((p) => p.status.containerStatuses!.map((c) => c.restartCount))).toEqual([0, 0]);
    // The new token is the one webhook-app checks now.
    const clusterIP = get(
      JSON.parse(await kubectl('get', 'service', '-n', 'webhook-app', 'webhook-app', '-o', 'json')),
      'spec',
      'clusterIP',
    ) as string;
    const send = (token: string) =>
      fetch(`http://${clusterIP}:8080/webhooks/gitlab`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': token },
        body: PUSH,
        signal: AbortSignal.timeout(10_000),
      });
    expect((await send(secretsBefore['webhook-app/webhook-app']!['GITLAB_WEBHOOK_SECRET']!)).status).toBe(401);
    expect((await send(rotated)).status).toBe(202);
  });

  it('refuses GitLab omnibus in a namespace that enforces restricted, with the apiserver own reason', async () => {
    const ns = uniqueName('restricted');
    await kubectl('create', 'namespace', ns);
    try {
      await kubectl('label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted');
      const gitlab = structuredClone(workloads('platform/gitlab').find((w) => str(w, 'metadata', 'name') === 'gitlab'));
      (get(gitlab, 'metadata') as Record<string, unknown>)['namespace'] = ns;
      await kubectlOutput(['apply', '--server-side', '-f', '-'], stringify(gitlab));
      const message = await eventually('a FailedCreate event', async () => {
        const events = await items('events', '-n', ns, '--field-selector', 'reason=FailedCreate');
        return events.length > 0 ? str(events[0], 'message') : undefined;
      });
      expect(message).toMatch(/violates PodSecurity "restricted:latest"/);
      expect(await items('pods', '-n', ns, '-l', 'app.kubernetes.io/name=gitlab')).toEqual([]);
    } finally {
      await kubectl('delete', 'namespace', ns, '--wait=false');
    }
  });
});

// Last: the pipeline's deploy job changes webhook-app's image, which the suite above checks.
pipelineSuite(() => ({ peer, bot: BOT.username }));
