// The executor: one run object per invocation holds what this run read and generated; each step
// reads, asks its pure decision function (steps.ts) what to do, applies it through an adapter and
// reports `created`, `updated` or `unchanged`. The first failure stops the run with the step's
// name and the upstream's answer; everything before it is done and a re-run reports it unchanged.
import { randomBytes } from 'node:crypto';

import type { Config } from './config.ts';
import type { GitClient } from './adapters/git.ts';
import type { GitlabClient } from './adapters/gitlab.ts';
import type { KubeClient } from './adapters/kube.ts';
import type { RocketChatClient } from './adapters/rocketchat.ts';
import {
  decideAllowlist,
  decideBot,
  decideHook,
  decideProject,
  decideRecipient,
  decideRunner,
  decideSource,
  decideVariable,
  desiredVariables,
  pushedPaths,
  resolveSecrets,
  type HookSpec,
  type ProjectView,
  type RunSecrets,
  type StepReport,
  type VariableView,
} from './steps.ts';

export interface Adapters {
  gitlab: GitlabClient;
  rocketchat: RocketChatClient;
  kube: KubeClient;
  git: GitClient;
}

export class StepFailed extends Error {
  override name = 'StepFailed';
  readonly step: string;
  constructor(step: string, cause: Error) {
    super(`step ${step} failed: ${cause.message}`);
    this.step = step;
  }
}

/** A secret for a new credential: 32 random bytes as hex (GitLab can mask it; safe in any header). */
export const generateSecret = () => randomBytes(32).toString('hex');

/** This run's state; dropped when the run ends. */
export class Run {
  readonly config: Config;
  readonly reports: StepReport[] = [];
  project?: ProjectView;
  variables = new Map<string, VariableView>();
  secrets?: RunSecrets;
  readonly #print: (line: string) => void;
  /** Every secret value this run knows: scrubbed from anything printed, whatever its source. */
  readonly #secretValues = new Set<string>();

  constructor(config: Config, print: (line: string) => void) {
    this.config = config;
    this.#print = print;
    this.addSecret(config.GITLAB_TOKEN);
    this.addSecret(config.ROCKETCHAT_ADMIN_PASSWORD);
  }

  addSecret(value: string): void {
    if (value.length >= 4) this.#secretValues.add(value);
  }

  print(line: string): void {
    let safe = line;
    for (const value of this.#secretValues) safe = safe.split(value).join('[REDACTED]');
    this.#print(safe);
  }

  report(step: string, outcome: StepReport['outcome'], detail: string): void {
    this.reports.push({ step, outcome, detail });
    this.print(`${step}: ${outcome}${detail ? ` (${detail})` : ''}`);
  }
}

async function step(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new StepFailed(name, err as Error);
  }
}

const project = (run: Run): ProjectView => {
  if (!run.project) throw new Error('the GitLab project step has not run');
  return run.project;
};
const secrets = (run: Run): RunSecrets => {
  if (!run.secrets) throw new Error('the secrets have not been resolved');
  return run.secrets;
};

export async function bootstrap(run: Run, a: Adapters, generate: () => string = generateSecret): Promise<StepReport[]> {
  const c = run.config;
  const repoUrl = `${c.GITLAB_URL.replace(/\/+$/, '')}/${c.GITLAB_PROJECT}.git`;

  await step('gitlab-project', async () => {
    const current = await a.gitlab.project(c.GITLAB_PROJECT);
    const decision = decideProject(current, c.GITLAB_CI_CONFIG_PATH);
    if (decision.action === 'create') {
      run.project = await a.gitlab.createProject(c.GITLAB_PROJECT, c.GITLAB_CI_CONFIG_PATH);
      run.report('gitlab-project', 'created', `${run.project.pathWithNamespace}, id ${run.project.id}, private`);
      return;
    }
    run.project = current!;
    if (decision.action === 'update') {
      await a.gitlab.setCiConfigPath(run.project.id, decision.ciConfigPath);
      run.report('gitlab-project', 'updated', `ci_config_path ${decision.ciConfigPath}`);
    } else run.report('gitlab-project', 'unchanged', `${run.project.pathWithNamespace}, id ${run.project.id}`);
  });

  await step('gitlab-secrets', async () => {
    run.variables = await a.gitlab.variables(project(run).id);
    run.secrets = resolveSecrets(run.variables, generate);
    run.addSecret(run.secrets.webhookSecret.value);
    run.addSecret(run.secrets.botPassword.value);
  });

  await step('rocketchat-admin', () => a.rocketchat.signIn(c.ROCKETCHAT_ADMIN_USERNAME, c.ROCKETCHAT_ADMIN_PASSWORD));
  try {
    await step('rocketchat-recipient', async () => {
      const current = await a.rocketchat.user(c.ROCKETCHAT_RECIPIENT);
      if (decideRecipient(current).action === 'none') {
        run.report('rocketchat-recipient', 'unchanged', c.ROCKETCHAT_RECIPIENT);
        return;
      }
      // A person: the password is random and thrown away; they set their own through Rocket.Chat's
      // "forgot password" or an administrator.
      const password = generate();
      run.addSecret(password);
      await a.rocketchat.createUser({
        username: c.ROCKETCHAT_RECIPIENT,
        name: c.ROCKETCHAT_RECIPIENT,
        email: c.ROCKETCHAT_RECIPIENT_EMAIL,
        password,
        roles: ['user'],
      });
      run.report('rocketchat-recipient', 'created', `${c.ROCKETCHAT_RECIPIENT}, role user`);
    });

    await step('rocketchat-bot', async () => {
      const password = secrets(run).botPassword;
      const current = await a.rocketchat.user(c.ROCKETCHAT_BOT_USERNAME);
      let login: 'ok' | 'refused' | undefined;
      if (current && !password.generated) {
        // The only way to know a stored password still works is to use it; the session is ended at once.
        const session = await a.rocketchat.login(c.ROCKETCHAT_BOT_USERNAME, password.value);
        login = session ? 'ok' : 'refused';
        if (session) await a.rocketchat.logout(session);
      }
      const decision = decideBot(current, password, login);
      if (decision.action === 'create') {
        await a.rocketchat.createUser({
          username: c.ROCKETCHAT_BOT_USERNAME,
          name: 'webhook-app',
          email: c.ROCKETCHAT_BOT_EMAIL,
          password: password.value,
          roles: ['bot'],
        });
        run.report('rocketchat-bot', 'created', `${c.ROCKETCHAT_BOT_USERNAME}, role bot`);
      } else if (decision.action === 'update') {
        await a.rocketchat.updateUser(current!.id, {
          ...(decision.setPassword ? { password: password.value } : {}),
          ...(decision.roles ? { roles: decision.roles } : {}),
        });
        run.report('rocketchat-bot', 'updated', `${c.ROCKETCHAT_BOT_USERNAME}: ${decision.reason}`);
      } else run.report('rocketchat-bot', 'unchanged', `${c.ROCKETCHAT_BOT_USERNAME}, login checked`);
    });
  } finally {
    await a.rocketchat.signOut();
  }

  await step('gitlab-source', async () => {
    const manifests = await a.git.manifests(c.SOURCE_REPO, c.SOURCE_REF);
    const paths = pushedPaths('services/webhook-app', manifests);
    const local = await a.git.buildTree(c.SOURCE_REPO, c.SOURCE_REF, paths);
    const remote = await a.git.remoteBranch(repoUrl, c.GITLAB_BRANCH);
    const decision = decideSource(remote, local.tree);
    const from = `${local.files} files from ${local.source.slice(0, 12)}`;
    if (decision.action === 'none') {
      run.report('gitlab-source', 'unchanged', `${c.GITLAB_BRANCH} already holds the tree of ${from}`);
      return;
    }
    const commit = await a.git.push(
      repoUrl,
      c.GITLAB_BRANCH,
      local.tree,
      decision.parent,
      `webhook-app: source from sre-platform ${local.source}\n\nPushed by platform/bootstrap.`,
    );
    run.report('gitlab-source', decision.outcome, `${c.GITLAB_BRANCH} at ${commit.slice(0, 12)}, ${from}`);
  });

  await step('gitlab-variables', async () => {
    const desired = desiredVariables({
      secrets: secrets(run),
      webhookUrl: c.WEBHOOK_URL,
      rocketchatUrl: c.ROCKETCHAT_INTERNAL_URL,
      botUsername: c.ROCKETCHAT_BOT_USERNAME,
      recipient: c.ROCKETCHAT_RECIPIENT,
      deployNamespace: c.DEPLOY_NAMESPACE,
    });
    for (const v of desired) {
      const flags = [v.masked ? 'masked' : '', v.protected ? 'protected' : ''].filter(Boolean).join(', ');
      const decision = decideVariable(run.variables.get(v.key), v);
      if (decision.action === 'create') {
        await a.gitlab.createVariable(project(run).id, v);
        run.report(`gitlab-variable ${v.key}`, 'created', flags);
      } else if (decision.action === 'update') {
        await a.gitlab.updateVariable(project(run).id, v);
        run.report(`gitlab-variable ${v.key}`, 'updated', `${decision.changed.join(', ')} changed; ${flags}`);
      } else run.report(`gitlab-variable ${v.key}`, 'unchanged', flags);
    }
  });

  const hookHost = new URL(c.WEBHOOK_URL).hostname;
  await step('gitlab-outbound-allowlist', async () => {
    const decision = decideAllowlist(await a.gitlab.outboundSettings(), hookHost);
    if (decision.action === 'none') {
      run.report('gitlab-outbound-allowlist', 'unchanged', `${hookHost} allowed`);
      return;
    }
    await a.gitlab.setOutboundAllowlist(decision.allowlist);
    run.report('gitlab-outbound-allowlist', 'updated', `${hookHost} added`);
  });

  await step('gitlab-webhook', async () => {
    const spec: HookSpec = {
      url: c.WEBHOOK_URL,
      pushEvents: true,
      tagPushEvents: true,
      enableSslVerification: c.WEBHOOK_URL.startsWith('https:'),
    };
    const id = project(run).id;
    const decision = decideHook(await a.gitlab.hooks(id), spec, secrets(run).webhookSecret.generated);
    const token = secrets(run).webhookSecret.value;
    if (decision.action === 'create') {
      await a.gitlab.createHook(id, spec, token);
      run.report('gitlab-webhook', 'created', `${spec.url}, push and tag push events, secret token set`);
    } else if (decision.action === 'update') {
      await a.gitlab.updateHook(id, decision.id, spec, token);
      run.report('gitlab-webhook', 'updated', `hook ${decision.id}: ${decision.changed.join(', ')}`);
    } else run.report('gitlab-webhook', 'unchanged', `hook ${decision.id}, ${spec.url}`);
  });

  await step('gitlab-runner', async () => {
    const where = `${c.RUNNER_NAMESPACE}/${c.RUNNER_SECRET_NAME}`;
    const stored = await a.kube.readRunnerSecret(c.RUNNER_NAMESPACE, c.RUNNER_SECRET_NAME);
    if (stored?.token) run.addSecret(stored.token);
    const valid = stored?.token ? await a.gitlab.runnerTokenValid(stored.token) : undefined;
    const decision = decideRunner(stored, valid);
    if (decision.action === 'none') {
      run.report('gitlab-runner', 'unchanged', `runner ${stored?.runnerId ?? '?'}, token in ${where} accepted`);
      return;
    }
    const runner = await a.gitlab.createRunner(project(run).id, {
      description: c.RUNNER_DESCRIPTION,
      tags: c.runnerTags,
    });
    run.addSecret(runner.token);
    await a.kube.applyRunnerSecret(c.RUNNER_NAMESPACE, c.RUNNER_SECRET_NAME, runner.token, runner.id);
    run.report('gitlab-runner', decision.outcome, `runner ${runner.id} (${decision.reason}), token stored in ${where}`);
  });

  return run.reports;
}
