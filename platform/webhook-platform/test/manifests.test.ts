// Part A's manifests, checked statically with maintained tools: they render with kustomize (no Helm), every
// image is pinned, nothing secret is committed, the recommended labels are everywhere, kube-score finds nothing
// critical beyond the documented GitLab exception, and the NetworkPolicy matrix (netpol-analyzer) allows exactly
// the flows the READMEs describe. manifests.int.test.ts applies the same manifests to the local control plane.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT } from '@sre-platform/test-platform';
import {
  get,
  kubeScore,
  kustomize,
  netpolAllows as allowed,
  netpolConnections,
  parseManifests,
  permits,
  podSpecOf,
  type Connection,
} from '@sre-platform/test-platform/manifests';
import { beforeAll, describe, expect, it } from 'vitest';

import { PART_A } from '../part-a.ts';

const str = (v: unknown, ...path: string[]) => get(v, ...path) as string | undefined;
const list = (v: unknown, ...path: string[]) => (get(v, ...path) as unknown[] | undefined) ?? [];
const containersOf = (o: unknown): unknown[] => [
  ...list(podSpecOf(o), 'initContainers'),
  ...list(podSpecOf(o), 'containers'),
];
const what = (o: unknown, c?: unknown) =>
  `${str(o, 'kind')}/${str(o, 'metadata', 'name')}${c === undefined ? '' : `:${str(c, 'name')}`}`;

describe.each(PART_A)('%s', (dir) => {
  let docs: unknown[];
  beforeAll(() => {
    docs = parseManifests(kustomize(dir));
  });

  it('renders with kubectl kustomize, and commits no Secret', () => {
    expect(docs.length).toBeGreaterThan(5);
    expect(docs.filter((d) => str(d, 'kind') === 'Secret')).toEqual([]);
  });

  it('pins every third-party image by a tag, never latest', () => {
    const images = docs.flatMap(containersOf).map((c) => str(c, 'image') ?? '');
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      if (image.startsWith('sre-platform/')) continue; // ours: the pipeline sets the tag it built
      expect(image, image).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(image).not.toMatch(/:latest$/);
    }
  });

  it('labels every object with its name and what it is part of', () => {
    for (const d of docs.filter((d) => str(d, 'kind') !== 'Namespace')) {
      expect(str(d, 'metadata', 'labels', 'app.kubernetes.io/name'), what(d)).toBeTruthy();
      expect(str(d, 'metadata', 'labels', 'app.kubernetes.io/part-of'), what(d)).toBeTruthy();
    }
  });

  it('gives every container requests, limits and probes (init containers: requests and limits)', () => {
    const workloads = docs.filter((o) => podSpecOf(o));
    expect(workloads.length).toBeGreaterThan(0);
    for (const o of workloads) {
      for (const c of containersOf(o)) {
        expect(str(c, 'resources', 'requests', 'memory'), what(o, c)).toBeTruthy();
        expect(str(c, 'resources', 'limits', 'memory'), what(o, c)).toBeTruthy();
      }
      if (str(o, 'kind') === 'Job') continue;
      for (const c of list(podSpecOf(o), 'containers')) {
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
          expect(get(c, probe), `${what(o, c)} ${probe}`).toBeDefined();
      }
    }
  });

  it('has a default-deny NetworkPolicy in every namespace it creates', () => {
    const namespaces = docs.filter((d) => str(d, 'kind') === 'Namespace').map((d) => str(d, 'metadata', 'name'));
    expect(namespaces.length).toBeGreaterThan(0);
    for (const ns of namespaces) {
      const deny = docs.find(
        (d) =>
          str(d, 'kind') === 'NetworkPolicy' &&
          str(d, 'metadata', 'namespace') === ns &&
          Object.keys(get(d, 'spec', 'podSelector') ?? {}).length === 0 &&
          get(d, 'spec', 'ingress') === undefined &&
          get(d, 'spec', 'egress') === undefined,
      );
      expect(deny, `default-deny in ${ns}`).toBeDefined();
    }
  });
});

describe('kube-score', () => {
  // As for the payments manifests (platform/payments/test/nonroot.test.ts): IfNotPresent suits locally loaded
  // images (releases pin digests), and kwok nodes advertise no ephemeral storage.
  const IGNORED = ['container-image-pull-policy', 'container-ephemeral-storage-request-and-limit'];

  it.each(PART_A)('finds nothing critical in %s', (dir) => {
    const { code, out } = kubeScore(kustomize(dir), IGNORED);
    expect(out.split('\n').filter((l) => l.startsWith('[CRITICAL]'))).toEqual([]);
    expect(code).toBe(0);
    expect(out).toMatch(/\[OK\] /);
  });
});

describe('Part A NetworkPolicy matrix (netpol-analyzer)', () => {
  let list: Connection[];
  beforeAll(() => {
    const files: Record<string, string> = {
      'peers.yaml': readFileSync(join(REPO_ROOT, 'platform/webhook-platform/test/fixtures/peers.yaml'), 'utf8'),
    };
    for (const dir of PART_A) files[`${dir.replace(/\//g, '-')}.yaml`] = kustomize(dir);
    list = netpolConnections(files);
  });
  const internet = '1.1.1.1';
  const outside = '203.0.113.7';

  it.each([
    // MongoDB: Rocket.Chat (and the init Job) only.
    ['rocketchat/rocketchat', 'rocketchat/mongodb', 27017, true],
    ['rocketchat/mongodb-init', 'rocketchat/mongodb', 27017, true],
    ['webhook-app/webhook-app', 'rocketchat/mongodb', 27017, false],
    ['gitlab/gitlab', 'rocketchat/mongodb', 27017, false],
    ['other-team/impostor', 'rocketchat/mongodb', 27017, false],
    ['default/curl', 'rocketchat/mongodb', 27017, false],
    ['monitoring/prometheus', 'rocketchat/mongodb', 27017, false],
    [outside, 'rocketchat/mongodb', 27017, false],
    ['rocketchat/mongodb', internet, 443, false],
    // Rocket.Chat: the ingress controller and webhook-app in; MongoDB, DNS and HTTPS out.
    ['ingress-nginx/ingress-nginx-controller', 'rocketchat/rocketchat', 3000, true],
    ['webhook-app/webhook-app', 'rocketchat/rocketchat', 3000, true],
    ['default/curl', 'rocketchat/rocketchat', 3000, false],
    ['gitlab/gitlab', 'rocketchat/rocketchat', 3000, false],
    ['rocketchat/rocketchat', internet, 443, true],
    ['rocketchat/rocketchat', internet, 80, false],
    ['rocketchat/rocketchat', 'webhook-app/postgres', 5432, false],
    // webhook-app: GitLab, CI jobs and Prometheus in; Rocket.Chat, its database and DNS out.
    ['gitlab/gitlab', 'webhook-app/webhook-app', 8080, true],
    ['gitlab-ci/ci-job', 'webhook-app/webhook-app', 8080, true],
    ['monitoring/prometheus', 'webhook-app/webhook-app', 8080, true],
    ['monitoring/grafana', 'webhook-app/webhook-app', 8080, false],
    ['default/curl', 'webhook-app/webhook-app', 8080, false],
    ['rocketchat/rocketchat', 'webhook-app/webhook-app', 8080, false],
    [outside, 'webhook-app/webhook-app', 8080, false],
    ['webhook-app/webhook-app', 'webhook-app/postgres', 5432, true],
    ['webhook-app/webhook-app', 'kube-system/coredns', 53, true],
    ['webhook-app/webhook-app', internet, 443, false],
    ['webhook-app/webhook-app', 'gitlab/gitlab', 80, false],
    // webhook-app's PostgreSQL: webhook-app only.
    ['gitlab-ci/ci-job', 'webhook-app/postgres', 5432, false],
    ['monitoring/prometheus', 'webhook-app/postgres', 5432, false],
    ['webhook-app/postgres', internet, 443, false],
    // GitLab: the runner, CI jobs and the ingress controller over HTTP; the registry and SSH from anywhere.
    ['gitlab-runner/gitlab-runner', 'gitlab/gitlab', 80, true],
    ['gitlab-ci/ci-job', 'gitlab/gitlab', 80, true],
    ['gitlab-ci/ci-job', 'gitlab/gitlab', 5050, true],
    [outside, 'gitlab/gitlab', 5050, true],
    [outside, 'gitlab/gitlab', 22, true],
    ['default/curl', 'gitlab/gitlab', 80, false],
    ['gitlab/gitlab', 'webhook-app/postgres', 5432, false],
    // The runner: GitLab and the Kubernetes API out; Prometheus in; nothing else.
    ['gitlab-runner/gitlab-runner', internet, 443, true],
    ['gitlab-runner/gitlab-runner', 'rocketchat/rocketchat', 3000, false],
    ['monitoring/prometheus', 'gitlab-runner/gitlab-runner', 9252, true],
    ['default/curl', 'gitlab-runner/gitlab-runner', 9252, false],
  ] as const)('%s -> %s:%i allowed: %s', (src, dst, port, expected) => {
    expect(allowed(list, src, dst, port)).toBe(expected);
  });
});

describe("reading netpol-analyzer's connection lists", () => {
  it('applies a protocol to the ports after it, and reads ranges', () => {
    expect(permits('TCP 22,5050', 'TCP', 5050)).toBe(true);
    expect(permits('TCP 53,UDP 53', 'UDP', 53)).toBe(true);
    expect(permits('TCP 80,UDP 53,5353', 'UDP', 5353)).toBe(true);
    expect(permits('TCP 80,UDP 53,5353', 'TCP', 5353)).toBe(false);
    expect(permits('TCP 8000-9000', 'TCP', 8500)).toBe(true);
    expect(permits('TCP 8000-9000', 'TCP', 9001)).toBe(false);
    expect(permits('All Connections', 'SCTP', 1)).toBe(true);
  });
});
