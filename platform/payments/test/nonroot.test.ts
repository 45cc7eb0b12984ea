// No container in the repository may be able to run as root: the payments pair's original bug (runAsNonRoot on an
// image that ran as root, so no pod ever started) and its mirror image (a pod that really runs as root) both fail
// here. Covers every manifest under services/*/k8s and platform/, every Helm chart, every Dockerfile, so future
// services are checked without being listed. kube-score, a maintained linter, checks the rendered manifests too.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { REPO_ROOT } from '@sre-platform/test-platform';
import { get, kubeScore, kustomize, parseManifests } from '@sre-platform/test-platform/manifests';
import { describe, expect, it } from 'vitest';

import { checkDockerfile, checkManifestText, checkRepository, ROOT_EXCEPTIONS } from './nonroot.ts';

const FIXTURES = join(REPO_ROOT, 'platform/payments/test/fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

const rendered = () => kustomize('platform/payments');

describe('no container can run as root', () => {
  it('holds for every manifest, chart and Dockerfile in the repository', () => {
    const result = checkRepository();
    expect(result.findings).toEqual([]);
    // Not vacuous: the payments manifests and images are among what was checked.
    expect(result.files).toEqual(
      expect.arrayContaining([
        'services/invoice-app/k8s/deployment.yaml',
        'services/payment-provider/k8s/deployment.yaml',
        'platform/postgres/statefulset.yaml',
      ]),
    );
    expect(result.containers).toBeGreaterThanOrEqual(3);
    expect(result.dockerfiles).toEqual(
      expect.arrayContaining(['services/invoice-app/Dockerfile', 'services/payment-provider/Dockerfile']),
    );
  });

  it('holds for the rendered payments manifests (what deploy.sh applies)', () => {
    const checked = { containers: 0 };
    expect(checkManifestText(rendered(), 'kubectl kustomize platform/payments', checked)).toEqual([]);
    // invoice-app, payment-provider, and one PostgreSQL per namespace.
    expect(checked.containers).toBe(4);
  });

  it('lets root run only where an exception names it, in a namespace that does not enforce restricted', () => {
    for (const key of Object.keys(ROOT_EXCEPTIONS)) {
      const [file, subject] = key.split(' ') as [string, string];
      // The exception is not stale: without it, the checker does flag that container.
      const flagged = checkManifestText(readFileSync(join(REPO_ROOT, file), 'utf8'), file).map((f) => f.subject);
      expect(flagged, key).toContain(subject);
      // And the apiserver would admit it: its namespace's Pod Security level is not "restricted".
      const docs = parseManifests(kustomize(dirname(file)));
      const workload = docs.find(
        (d) => `${String(get(d, 'kind'))}/${String(get(d, 'metadata', 'name'))}` === subject.split(':')[0],
      );
      const namespace = docs.find(
        (d) => get(d, 'kind') === 'Namespace' && get(d, 'metadata', 'name') === get(workload, 'metadata', 'namespace'),
      );
      expect(get(namespace, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce'), key).toMatch(
        /^(baseline|privileged)$/,
      );
    }
  });

  it('catches the original bug: runAsNonRoot without a user, on an image without USER', () => {
    const manifest = checkManifestText(fixture('original-deployment.yaml'), 'original-deployment.yaml');
    expect(manifest).toContainEqual({
      source: 'original-deployment.yaml',
      subject: 'Deployment/invoice-app:main',
      problem: 'no runAsUser: the image decides, and an image without a numeric USER runs as root',
    });
    expect(checkDockerfile(fixture('original.Dockerfile'), 'original.Dockerfile')).toEqual([
      {
        source: 'original.Dockerfile',
        subject: 'final stage (alpine:3.22)',
        problem: 'no USER in the final stage: the container runs as root',
      },
    ]);
  });

  it('catches a container that overrides a safe pod, uid 0, and privilege escalation', () => {
    const pod = (container: string) => `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  containers:
    - {name: c, image: x, securityContext: ${container}}
`;
    const problems = (container: string) => checkManifestText(pod(container), 'inline').map((f) => f.problem);
    expect(problems('{allowPrivilegeEscalation: false}')).toEqual([]);
    expect(problems('{allowPrivilegeEscalation: false, runAsNonRoot: false}')).toEqual(['runAsNonRoot is not true']);
    expect(problems('{allowPrivilegeEscalation: false, runAsUser: 0}')).toEqual(['runAsUser is 0, not a non-zero uid']);
    expect(problems('{allowPrivilegeEscalation: false, runAsGroup: 0}')).toEqual([
      'runAsGroup is 0, not a non-zero gid',
    ]);
    expect(problems('{}')).toEqual(['allowPrivilegeEscalation is not false (setuid binaries could regain root)']);
    expect(problems('{allowPrivilegeEscalation: false, privileged: true}')).toEqual(['privileged']);
  });

  it('covers future services: their raw manifests, their rendered Helm charts and their Dockerfiles', () => {
    // A scratch repository with one service of each kind, each running as root in its own way.
    const root = mkdtempSync(join(tmpdir(), 'sre-platform-nonroot-'));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      write('services/raw-api/k8s/deployment.yaml', fixture('original-deployment.yaml'));
      write('services/raw-api/Dockerfile', fixture('original.Dockerfile'));
      write('services/charted-api/chart/Chart.yaml', 'apiVersion: v2\nname: charted-api\nversion: 0.1.0\n');
      write('services/charted-api/chart/values.yaml', 'runAsUser: 0\n');
      write(
        'services/charted-api/chart/templates/deployment.yaml',
        `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Chart.Name }}}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: {{ .Values.runAsUser }}}
      containers: [{name: api, image: x, securityContext: {allowPrivilegeEscalation: false}}]
`,
      );
      write('services/charted-api/Dockerfile', 'FROM gcr.io/distroless/nodejs24\nUSER 65532:65532\n');
      const { findings } = checkRepository(root);
      expect(findings.map((f) => `${f.source} ${f.subject}: ${f.problem}`).sort()).toEqual([
        'services/charted-api/chart (helm template) Deployment/charted-api:api: runAsUser is 0, not a non-zero uid',
        'services/raw-api/Dockerfile final stage (alpine:3.22): no USER in the final stage: the container runs as root',
        'services/raw-api/k8s/deployment.yaml Deployment/invoice-app:main: allowPrivilegeEscalation is not false (setuid binaries could regain root)',
        'services/raw-api/k8s/deployment.yaml Deployment/invoice-app:main: no runAsUser: the image decides, and an image without a numeric USER runs as root',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('checks init containers and CronJobs too', () => {
    const cron = `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: '@daily'
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: init, image: x}]
          containers: [{name: c, image: x}]
`;
    const subjects = new Set(checkManifestText(cron, 'inline').map((f) => f.subject));
    expect(subjects).toEqual(new Set(['CronJob/nightly:init', 'CronJob/nightly:c']));
  });

  it('accepts only a numeric, non-zero USER in the final stage of a Dockerfile', () => {
    const problem = (final: string) =>
      checkDockerfile(`FROM node:24 AS build\nUSER 1000\nFROM gcr.io/distroless/nodejs24\n${final}\n`, 'D').map(
        (f) => f.problem,
      );
    expect(problem('USER 65532:65532')).toEqual([]);
    expect(problem('USER 65532')).toEqual([]);
    // A USER in an earlier stage does not count.
    expect(problem('CMD ["main.js"]')).toEqual(['no USER in the final stage: the container runs as root']);
    expect(problem('USER nonroot')).toEqual(['USER nonroot: not numeric, so runAsNonRoot cannot verify it']);
    expect(problem('USER 0')).toEqual(['USER 0: uid 0 is root']);
    expect(problem('USER 65532:0')).toEqual(['USER 65532:0: the group must be a non-zero number']);
    expect(problem('USER 65532\nUSER root')).toEqual(['USER root: not numeric, so runAsNonRoot cannot verify it']);
  });
});

describe('kube-score', () => {
  // Two of its checks do not fit, on purpose: images built locally for kind and minikube need IfNotPresent
  // (releases pin digests, which makes the pull policy moot), and kwok nodes advertise no ephemeral storage;
  // read-only root filesystems with size-limited emptyDirs bound the pods' disk use instead.
  const IGNORED = ['container-image-pull-policy', 'container-ephemeral-storage-request-and-limit'];
  const score = (input: string) => kubeScore(input, IGNORED);

  it('finds nothing critical in the payments manifests', () => {
    const { code, out } = score(rendered());
    expect(out.split('\n').filter((l) => l.startsWith('[CRITICAL]'))).toEqual([]);
    expect(code).toBe(0);
    // It did look at the workloads and their NetworkPolicies.
    expect(out).toMatch(/\[OK\] invoice-app\/invoices apps\/v1\/Deployment/);
    expect(out).toMatch(/\[OK\] payment-provider\/payments apps\/v1\/Deployment/);
  });

  it('flags the original deployment as running with a low user id', () => {
    const { code, out } = score(fixture('original-deployment.yaml'));
    expect(code).not.toBe(0);
    expect(out).toContain(
      '[CRITICAL] invoice-app apps/v1/Deployment: (main) The container is running with a low user ID',
    );
  });
});
