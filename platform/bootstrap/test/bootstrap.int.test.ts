// The bootstrap command end to end, as a separate process: against the GitLab contract peer (with
// git http-backend for the push), the Rocket.Chat contract peer, and the run's real Kubernetes
// control plane for the runner's Secret.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startGitlabPeer, type GitlabPeer } from '@sre-platform/gitlab-peer';
import { startPeer, type Peer } from '@sre-platform/rocketchat-peer';
import { cluster, kubeConfig, REPO_ROOT, useNamespace } from '@sre-platform/test-platform';

const run = promisify(execFile);
const MAIN = join(REPO_ROOT, 'platform/bootstrap/src/main.ts');
const HOOK_URL = 'http://webhook-app.webhook-app.svc.cluster.local/webhooks/gitlab';

const ns = useNamespace('bootstrap');
let gitlab: GitlabPeer;
let chat: Peer;

beforeEach(async () => {
  gitlab = await startGitlabPeer();
  chat = await startPeer();
  chat.addUser('admin', 'rocketchat-admin-password', ['admin']);
});
afterEach(async () => {
  await gitlab.close();
  await chat.close();
});

/** Runs the command; its whole output (stdout and stderr) and exit code. */
async function bootstrap(): Promise<{ code: number; output: string; lines: string[] }> {
  const env = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    KUBECONFIG: cluster().kubeconfig,
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: gitlab.token,
    ROCKETCHAT_URL: chat.url,
    ROCKETCHAT_ADMIN_USERNAME: 'admin',
    ROCKETCHAT_ADMIN_PASSWORD: 'rocketchat-admin-password',
    RUNNER_NAMESPACE: ns.name,
    WEBHOOK_URL: HOOK_URL,
  };
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 240_000 });
    const output = stdout + stderr;
    return { code: 0, output, lines: stdout.trim().split('\n') };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    const output = (e.stdout ?? '') + (e.stderr ?? '');
    return { code: typeof e.code === 'number' ? e.code : -1, output, lines: (e.stdout ?? '').trim().split('\n') };
  }
}

const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, encoding: 'utf8' })).stdout.trim();

async function runnerSecret() {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  return api.readNamespacedSecret({ name: 'gitlab-runner-token', namespace: ns.name });
}

/** Every value that must never be printed. */
function secretsOf(): string[] {
  const project = gitlab.findProject('root/webhook-app')!;
  return [
    gitlab.token,
    'rocketchat-admin-password',
    project.variables.get('GITLAB_WEBHOOK_SECRET')!.value,
    project.variables.get('ROCKETCHAT_PASSWORD')!.value,
    ...[...gitlab.runners.values()].map((r) => r.token),
  ];
}

/** GitLab writes: every call but reads and the runner token check. */
const gitlabWrites = () => gitlab.calls.filter((c) => c.method !== 'GET' && c.route !== '/api/v4/runners/verify');

describe('bootstrap against fresh GitLab and Rocket.Chat', () => {
  it('creates everything on a first run, and a second run reports every step unchanged and writes nothing', async () => {
    const first = await bootstrap();
    expect(first.output).not.toContain('FAILED');
    expect(first.code).toBe(0);

    // GitLab: the project, pointed at the service's CI file.
    const project = gitlab.findProject('root/webhook-app')!;
    expect(project).toMatchObject({ visibility: 'private', ci_config_path: 'services/webhook-app/.gitlab-ci.yml' });

    // The pushed tree: a real commit in the bare repository whose files are the source's at HEAD.
    const head = await git(project.repoDir, 'rev-parse', 'refs/heads/main');
    expect(await git(project.repoDir, 'log', '--format=%an', '-1', head)).toBe('sre-platform bootstrap');
    const files = (await git(project.repoDir, 'ls-tree', '-r', '--name-only', head)).split('\n');
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'services/webhook-app/package.json',
        'services/webhook-app/Dockerfile',
        'services/webhook-app/src/main.ts',
        'packages/service-kit/src/index.ts',
        'packages/database/package.json',
        'services/invoice-app/package.json',
      ]),
    );
    expect(files.filter((f) => f.startsWith('services/invoice-app/src/'))).toEqual([]);
    expect(files.filter((f) => f.includes('node_modules/'))).toEqual([]);
    expect(await git(project.repoDir, 'rev-parse', `${head}:services/webhook-app/src/main.ts`)).toBe(
      await git(REPO_ROOT, 'rev-parse', 'HEAD:services/webhook-app/src/main.ts'),
    );

    // CI/CD variables: all protected, the two secrets masked.
    const variables = [...project.variables.values()];
    expect(variables.map((v) => v.key).sort()).toEqual([
      'DEPLOY_NAMESPACE',
      'GITLAB_WEBHOOK_SECRET',
      'ROCKETCHAT_DEFAULT_RECIPIENT',
      'ROCKETCHAT_PASSWORD',
      'ROCKETCHAT_URL',
      'ROCKETCHAT_USERNAME',
      'WEBHOOK_URL',
    ]);
    expect(variables.every((v) => v.protected)).toBe(true);
    expect(
      variables
        .filter((v) => v.masked)
        .map((v) => v.key)
        .sort(),
    ).toEqual(['GITLAB_WEBHOOK_SECRET', 'ROCKETCHAT_PASSWORD']);
    const webhookSecret = project.variables.get('GITLAB_WEBHOOK_SECRET')!.value;
    expect(webhookSecret).toMatch(/^[0-9a-f]{64}$/);

    // The hook: the in-cluster URL (its host allowed for local requests), push and tag events, the secret.
    expect(gitlab.settings.outbound_local_requests_whitelist).toEqual(['webhook-app.webhook-app.svc.cluster.local']);
    expect(project.hooks).toHaveLength(1);
    expect(project.hooks[0]).toMatchObject({
      url: HOOK_URL,
      push_events: true,
      tag_push_events: true,
      token: webhookSecret,
    });

    // The runner, and its glrt- token in the Secret on the real apiserver.
    expect(gitlab.runners.size).toBe(1);
    const runner = [...gitlab.runners.values()][0]!;
    expect(runner).toMatchObject({
      runner_type: 'project_type',
      project_id: project.id,
      token: expect.stringMatching(/^glrt-/),
    });
    const secret = await runnerSecret();
    expect(Buffer.from(secret.data!['runner-token']!, 'base64').toString()).toBe(runner.token);
    expect(secret.metadata?.annotations?.['sre-platform/gitlab-runner-id']).toBe(String(runner.id));
    expect(secret.metadata?.managedFields?.map((f) => f.manager)).toContain('sre-platform-bootstrap');

    // Rocket.Chat: the bot (role bot, the password the pipeline gets) and the recipient.
    expect(chat.userInfo('webhook-bot')).toMatchObject({
      roles: ['bot'],
      password: project.variables.get('ROCKETCHAT_PASSWORD')!.value,
    });
    expect(chat.userInfo('ops')).toMatchObject({ roles: ['user'] });
    expect(chat.violations).toEqual([]);
    // Every login the run made (the administrator, the bot's check) was ended.
    expect(chat.sessions('admin')).toBe(0);
    expect(chat.sessions('webhook-bot')).toBe(0);

    const reported = first.lines.filter((l) => !l.startsWith('bootstrap:'));
    expect(reported.every((l) => /: (created|updated)\b/.test(l))).toBe(true);
    expect(reported.map((l) => l.split(':')[0])).toEqual(
      expect.arrayContaining([
        'gitlab-project',
        'rocketchat-recipient',
        'rocketchat-bot',
        'gitlab-source',
        'gitlab-webhook',
        'gitlab-runner',
      ]),
    );
    for (const s of secretsOf()) expect(first.output).not.toContain(s);

    // --- the second run ---
    const writesBefore = gitlabWrites().length;
    const chatCalls = new Map(chat.calls);
    const second = await bootstrap();
    expect(second.code).toBe(0);
    const steps = second.lines.filter((l) => !l.startsWith('bootstrap:'));
    expect(steps.length).toBe(reported.length);
    for (const line of steps) expect(line).toMatch(/: unchanged\b/);
    expect(second.lines.at(-1)).toMatch(/0 created, 0 updated, \d+ unchanged/);
    expect(gitlabWrites()).toHaveLength(writesBefore);
    expect(await git(project.repoDir, 'rev-parse', 'refs/heads/main')).toBe(head);
    expect(chat.calls.get('/api/v1/users.create')).toBe(chatCalls.get('/api/v1/users.create'));
    expect(chat.calls.get('/api/v1/users.update')).toBeUndefined();
    expect(gitlab.runners.size).toBe(1);
    expect((await runnerSecret()).metadata?.resourceVersion).toBe(secret.metadata?.resourceVersion);
    expect(chat.sessions('webhook-bot')).toBe(0);
    expect(chat.violations).toEqual([]);
    for (const s of secretsOf()) expect(second.output).not.toContain(s);
  }, 300_000);

  it('fails clearly when GitLab answers 500 to the hook creation, and a re-run completes', async () => {
    gitlab.failures.push({ method: 'POST', route: '/api/v4/projects/:id/hooks', status: 500 });
    const failed = await bootstrap();
    expect(failed.code).toBe(1);
    expect(failed.output).toContain(
      'bootstrap: FAILED step gitlab-webhook failed: GitLab answered 500 to POST /projects/1/hooks: 500 Internal Server Error',
    );
    expect(failed.output).not.toMatch(/gitlab-runner:/); // nothing after the failed step ran
    expect(gitlab.findProject('root/webhook-app')!.hooks).toEqual([]);

    const again = await bootstrap();
    expect(again.code).toBe(0);
    expect(again.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^gitlab-project: unchanged/),
        expect.stringMatching(/^gitlab-source: unchanged/),
        expect.stringMatching(/^gitlab-variable GITLAB_WEBHOOK_SECRET: unchanged/),
        expect.stringMatching(/^gitlab-webhook: created/),
        expect.stringMatching(/^gitlab-runner: created/),
      ]),
    );
    const project = gitlab.findProject('root/webhook-app')!;
    // The hook got the secret the first run stored, not a new one.
    expect(project.hooks[0]!.token).toBe(project.variables.get('GITLAB_WEBHOOK_SECRET')!.value);
    for (const s of secretsOf()) {
      expect(failed.output).not.toContain(s);
      expect(again.output).not.toContain(s);
    }
  }, 300_000);

  it('creates a new runner when the stored token is no longer accepted, and sets a refused bot password again', async () => {
    expect((await bootstrap()).code).toBe(0);
    gitlab.runners.clear(); // the runner was deleted in GitLab
    const bot = chat.userInfo('webhook-bot')!;
    // someone changed the bot's password in Rocket.Chat
    chat.behaviour.failWith = undefined;
    await fetch(`${chat.url}/api/v1/users.update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authOf(chat.tokenFor('admin')) },
      body: JSON.stringify({ userId: bot._id, data: { password: 'changed-by-hand' } }),
    });
    const again = await bootstrap();
    expect(again.code).toBe(0);
    expect(again.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^rocketchat-bot: updated \(webhook-bot: stored password refused\)/),
        expect.stringMatching(/^gitlab-runner: updated \(runner 2 \(the stored token is no longer accepted\)/),
      ]),
    );
    const runner = gitlab.runners.get(2)!;
    expect(Buffer.from((await runnerSecret()).data!['runner-token']!, 'base64').toString()).toBe(runner.token);
    expect(chat.userInfo('webhook-bot')!.password).toBe(
      gitlab.findProject('root/webhook-app')!.variables.get('ROCKETCHAT_PASSWORD')!.value,
    );
  }, 300_000);
});

const authOf = (t: { userId: string; authToken: string }) => ({ 'x-user-id': t.userId, 'x-auth-token': t.authToken });
