// webhook-app's GitLab pipeline (services/webhook-app/.gitlab-ci.yml) really run, by gitlab-ci-local in shell mode,
// against Part A as deploy.int.test.ts deployed it: webhook-app and PostgreSQL on the real node, the Rocket.Chat
// contract peer on this machine. The pipeline runs on a copy of the checkout committed to a git repository of its
// own (gitlab-ci-local reads the commit and writes its state there), with GitLab's predefined variables, so that its
// four jobs run as on a push to main: test (the unit tests), build (BuildKit: tools/image/build, into the real node's
// containerd), deploy (kubectl set image + rollout status against the run's cluster) and notify (the Push Hook to
// webhook-app, which sends the DM). It is registered by deploy.int.test.ts after its own suite: both use Part A's
// fixed namespaces, so they take turns in one file.
//
// What runs differently here than on GitLab's Kubernetes runner (services/webhook-app/ci/gitlab-ci-local.yml says
// the same): every job's image is ignored (--force-shell-executor: shell jobs on this machine, with the project's
// node and kubectl); build's script is replaced (BuildKit instead of kaniko, an import into the real node instead of
// a push to the registry); deploy authenticates with the test cluster's kubeconfig (KUBECONFIG) instead of the job
// pod's ServiceAccount; the test job's npm cache is this machine's; notify reaches webhook-app at its Service's
// ClusterIP (this machine has no cluster DNS) instead of its DNS name.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

import type { Peer } from '@sre-platform/rocketchat-peer';
import { cluster, eventually, REAL_NODE, REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { isPodReady, kubectl, kubectlItems, secretData } from '@sre-platform/test-platform/kubectl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const GITLAB_CI_LOCAL = join(REPO_ROOT, 'node_modules/.bin/gitlab-ci-local');
const LOCAL_PIPELINE = 'services/webhook-app/ci/gitlab-ci-local.yml';
const NS = 'webhook-app';
// The project the bootstrap creates (platform/bootstrap, GITLAB_PROJECT) on Part A's GitLab: gitlab-ci-local derives
// CI_PROJECT_PATH, CI_PROJECT_URL and CI_SERVER_* from the remote's URL.
const REMOTE = 'http://gitlab.sre-platform.test/root/webhook-app.git';
// The image name tools/image/build gives webhook-app on the real node: the pipeline's $IMAGE must be it.
const REGISTRY_IMAGE = 'sre-platform.local/webhook-app';

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { image: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
interface Run {
  code: number;
  output: string;
  ms: number;
}

/** git (gitlab-ci-local runs it); a missing one fails the suite, naming the install command. */
function requireCommand(name: string, install: string): void {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`${name} is not installed; gitlab-ci-local needs it: ${install}`);
  }
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** The checkout's files (tracked, and untracked ones not ignored) committed to a new repository on main. */
function projectCopy(): { dir: string; sha: string; title: string; author: string } {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-app-pipeline-'));
  execFileSync(
    'bash',
    [
      '-c',
      'set -o pipefail; git -C "$1" ls-files -z -co --exclude-standard | tar -C "$1" --null -T - -cf - | tar -C "$2" -xf -',
      'copy',
      REPO_ROOT,
      dir,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // The checkout's last commit's title and author, as the commit pushed to GitLab would carry them.
  const title = git(REPO_ROOT, 'log', '-1', '--format=%s');
  const [name, email] = git(REPO_ROOT, 'log', '-1', '--format=%an%x00%ae').split('\0') as [string, string];
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(
    dir,
    '-c',
    `user.name=${name}`,
    '-c',
    `user.email=${email}`,
    'commit',
    '-q',
    '-m',
    title,
    '-m',
    `${git(REPO_ROOT, 'rev-parse', 'HEAD')} of the checkout, and its uncommitted changes, for gitlab-ci-local`,
  );
  git(dir, 'remote', 'add', 'origin', REMOTE);
  return { dir, sha: git(dir, 'rev-parse', 'HEAD'), title, author: `${name} <${email}>` };
}

/** gitlab-ci-local in `dir` with `variables` (a file, never the command line: the webhook token is one). */
function gitlabCiLocal(dir: string, variables: Record<string, string>, jobs: string[] = []): Promise<Run> {
  // Beside the project, not in it: the build job sends the project directory to BuildKit as its context.
  const state = `${dir}.gitlab-ci-local`;
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const file = join(state, 'variables.yml');
  // Each as an explicit variable: in gitlab-ci-local's YAML format a bare value that names an existing path (the
  // project directory, the npm cache) becomes a file variable.
  writeFileSync(
    file,
    stringify(
      Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, { type: 'variable', values: { '*': v } }])),
    ),
  );
  chmodSync(file, 0o600);
  // The predefined variables set here on purpose (gitlab-ci-local warns about each otherwise).
  const predefined = Object.keys(variables).filter((k) => k.startsWith('CI_'));
  // This process's environment without vitest's own (the test job starts a vitest of its own).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      GITLAB_CI_LOCAL,
      [
        '--file',
        LOCAL_PIPELINE,
        '--variables-file',
        file,
        '--home',
        join(state, 'home'),
        '--force-shell-executor',
        '--no-color',
        '--ignore-predefined-vars',
        predefined.join(','),
        ...jobs,
      ],
      {
        cwd: dir,
        env: {
          ...env,
          // The project's node and the pinned kubectl, where a runner's job image would have them, and the pinned
          // rsync (gitlab-ci-local copies the project with it, even in shell mode).
          PATH: `${dirname(process.execPath)}:${cluster().kubernetesBin}:${toolBin('rsync')}:${env['PATH'] ?? ''}`,
          // deploy's credentials: the test cluster's kubeconfig instead of the job pod's ServiceAccount.
          KUBECONFIG: cluster().kubeconfig,
          // build: tools/image/build imports only into the real node of this run's cluster.
          NODE_CLUSTER_ONLY: cluster().kubeconfig,
        },
        maxBuffer: 256 << 20,
        timeout: 1_200_000,
      },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          // Without colours (the test job's vitest prints them).
          output: stripVTControlCharacters(`${stdout}${stderr}`),
          ms: Date.now() - t0,
        }),
    );
  });
}

/** The job summary gitlab-ci-local prints last: job name -> PASS / FAIL / WARN. */
function summary(output: string): Record<string, string> {
  return Object.fromEntries(
    [...output.matchAll(/^\s*(PASS|FAIL|WARN)\s+(\S+)/gm)].map((m) => [m[2]!, m[1]!] as [string, string]),
  );
}

/** What `job` printed: gitlab-ci-local prefixes each line with the job's name, padded, and "> ". */
const jobOutput = (output: string, job: string) =>
  output.split('\n').flatMap((l) => {
    const m = new RegExp(`^${job}\\s+> (.*)$`).exec(l);
    return m ? [m[1]!.trimEnd()] : [];
  });

const tail = (run: Run) => run.output.split('\n').slice(-80).join('\n');
const deploymentImage = async () =>
  kubectl('get', 'deployment', '-n', NS, 'webhook-app', '-o', 'jsonpath={.spec.template.spec.containers[0].image}');
const appPods = async () =>
  (await kubectlItems<Pod>('pods', '-n', NS, '-l', 'app.kubernetes.io/name=webhook-app')).filter(
    (p) => !p.metadata.deletionTimestamp,
  );

export function pipelineSuite(context: () => { peer: Peer; bot: string }): void {
  describe("webhook-app's pipeline, run by gitlab-ci-local in shell mode against the deployed platform", () => {
    let project: ReturnType<typeof projectCopy>;
    let variables: Record<string, string>;
    let run: Run;
    let imageBefore: string;

    beforeAll(async () => {
      requireCommand('git', 'apt-get install git');
      project = projectCopy();
      imageBefore = await deploymentImage();
      const clusterIP = await kubectl('get', 'service', '-n', NS, 'webhook-app', '-o', 'jsonpath={.spec.clusterIP}');
      variables = {
        // GitLab's predefined variables that gitlab-ci-local does not set, or sets to values of its own: the
        // commit's title, message and author (it says "Commit Title"), the first push of a new branch's before SHA,
        // the project directory (its /builds/... is a container's; shell jobs run here), a pipeline ID of this
        // run (webhook-app keys a delivery on it), and the registry image (the name tools/image/build gives it).
        CI_COMMIT_TITLE: project.title,
        CI_COMMIT_MESSAGE: project.title,
        CI_COMMIT_AUTHOR: project.author,
        CI_COMMIT_BEFORE_SHA: '0'.repeat(40),
        CI_PROJECT_DIR: project.dir,
        CI_PIPELINE_ID: String(randomBytes(3).readUIntBE(0, 3) + 1_000_000),
        CI_REGISTRY_IMAGE: REGISTRY_IMAGE,
        // The project's CI/CD variables, as the bootstrap sets them, for this cluster.
        DEPLOY_NAMESPACE: NS,
        WEBHOOK_URL: `http://${clusterIP}:8080/webhooks/gitlab`,
        GITLAB_WEBHOOK_SECRET: (await secretData(NS, 'webhook-app'))['GITLAB_WEBHOOK_SECRET']!,
        // The runner's npm cache (the job's cache: key) is this machine's.
        npm_config_cache: execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim(),
      };
      run = await gitlabCiLocal(project.dir, variables);
      process.stdout.write(
        `gitlab-ci-local pipeline: exit ${run.code} in ${run.ms} ms\n${run.output
          .split('\n')
          .filter((l) =>
            /finished in|PASS|FAIL|WARN|==> images|successfully rolled out|notify: |Test Files|Tests /.test(l),
          )
          .join('\n')}\n`,
      );
    }, 1_500_000);

    afterAll(() => {
      if (!project) return;
      rmSync(project.dir, { recursive: true, force: true });
      rmSync(`${project.dir}.gitlab-ci-local`, { recursive: true, force: true });
    });

    it('runs test, build, deploy and notify, in that order, each passing', () => {
      expect(run.code, tail(run)).toBe(0);
      expect(summary(run.output), tail(run)).toEqual({ test: 'PASS', build: 'PASS', deploy: 'PASS', notify: 'PASS' });
      // gitlab-ci-local pads job names to the longest one.
      const starts = ['test', 'build', 'deploy', 'notify'].map((job) =>
        run.output.search(new RegExp(`^${job}\\s+starting shell`, 'm')),
      );
      expect(
        starts.every((s) => s >= 0),
        tail(run),
      ).toBe(true);
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
      // The jobs' own work: the unit tests passed, BuildKit built and imported the commit's image, the rollout
      // finished, webhook-app accepted the push.
      expect(
        jobOutput(run.output, 'test').some((l) => /Test Files\s+\d+ passed/.test(l)),
        tail(run),
      ).toBe(true);
      expect(jobOutput(run.output, 'build')).toContain(
        `==> images: ${REGISTRY_IMAGE}:${project.sha} imported into the real node`,
      );
      expect(jobOutput(run.output, 'deploy')).toContain('deployment "webhook-app" successfully rolled out');
      const url = variables['WEBHOOK_URL']!;
      expect(jobOutput(run.output, 'notify').some((l) => l.startsWith(`notify: ${url} answered 202 `))).toBe(true);
    });

    it("rolls webhook-app out on the real node with the commit's image", async () => {
      expect(imageBefore).not.toBe(`${REGISTRY_IMAGE}:${project.sha}`);
      expect(await deploymentImage()).toBe(`${REGISTRY_IMAGE}:${project.sha}`);
      const status = JSON.parse(await kubectl('get', 'deployment', '-n', NS, 'webhook-app', '-o', 'json')) as {
        metadata: { generation: number };
        status: { observedGeneration: number; updatedReplicas: number; readyReplicas: number; replicas: number };
        spec: { replicas: number };
      };
      expect(status.status.observedGeneration).toBe(status.metadata.generation);
      expect(status.status.updatedReplicas).toBe(status.spec.replicas);
      expect(status.status.readyReplicas).toBe(status.spec.replicas);
      const pods = await eventually('only the new pods to be left', async () => {
        const now = await appPods();
        return now.every((p) => p.spec.containers[0]!.image === `${REGISTRY_IMAGE}:${project.sha}`) ? now : undefined;
      });
      expect(pods.length).toBeGreaterThanOrEqual(2);
      for (const p of pods) {
        expect(p.spec.nodeName, p.metadata.name).toBe(REAL_NODE.name);
        expect(isPodReady(p), p.metadata.name).toBe(true);
      }
    });

    it("makes webhook-app DM the commit's push, naming its SHA, in the Rocket.Chat peer", async () => {
      const { peer, bot } = context();
      const dm = await eventually('the DM in the Rocket.Chat peer', async () =>
        peer.messages.find((m) => m.msg.includes(project.sha)),
      );
      expect(dm).toMatchObject({ to: 'ops', from: bot });
      // The project and branch GitLab's variables named, and the commit listed with its short SHA.
      expect(dm.msg).toContain('root/webhook-app');
      expect(dm.msg).toContain(`\`${project.sha.slice(0, 8)}\``);
      expect(peer.messages.filter((m) => m.msg.includes(project.sha))).toHaveLength(1);
      expect(peer.violations, 'requests or responses outside the Rocket.Chat contract').toEqual([]);
    });

    it('fails the deploy job on a rollout that cannot finish, and undoes it: the previous image keeps running', async () => {
      const good = `${REGISTRY_IMAGE}:${project.sha}`;
      // The Deployment's progress deadline shortened for this check (600 s by default): an image the node lacks
      // (and cannot pull: sre-platform.local is no registry) fails the rollout in seconds instead of 10 minutes.
      await kubectl('patch', 'deployment', '-n', NS, 'webhook-app', '-p', '{"spec":{"progressDeadlineSeconds":20}}');
      try {
        const missing = `${REGISTRY_IMAGE}:missing-${randomBytes(4).toString('hex')}`;
        // Only the deploy job, with the pipeline's IMAGE pointing at that image (a CI/CD variable beats the file's).
        const failed = await gitlabCiLocal(project.dir, { ...variables, IMAGE: missing }, ['deploy']);
        expect(failed.code, tail(failed)).not.toBe(0);
        expect(summary(failed.output), tail(failed)).toEqual({ deploy: 'FAIL' });
        expect(failed.output).toContain(`rollout of ${missing} failed: undoing it`);
        expect(failed.output).toMatch(/exceeded its progress deadline/);
        expect(jobOutput(failed.output, 'deploy')).toContain('deployment "webhook-app" successfully rolled out');
        expect(await deploymentImage()).toBe(good);
        const pods = await eventually('only pods of the previous image to be left', async () => {
          const now = await appPods();
          return now.every((p) => p.spec.containers[0]!.image === good) ? now : undefined;
        });
        expect(pods.filter((p) => isPodReady(p)).length).toBeGreaterThanOrEqual(2);
      } finally {
        // The default again.
        await kubectl('patch', 'deployment', '-n', NS, 'webhook-app', '-p', '{"spec":{"progressDeadlineSeconds":600}}');
      }
    }, 600_000);
  });
}
