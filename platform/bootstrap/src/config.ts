// The bootstrap's configuration: environment variables validated at start (the kit's loadConfig).
// Secrets come from the environment or from files (`<NAME>_FILE`, as Kubernetes and Docker mount
// them), never from argv, where `ps` and shell history would show them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError, isSecret, loadConfig, Secret, Type, type Static } from '@sre-platform/service-kit';

const Username = Type.String({ minLength: 1, maxLength: 120, pattern: '^[A-Za-z0-9_.@-]+$' });
const K8sName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' });

/** This repository's root: the default source of the tree pushed to GitLab. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

export const ConfigSchema = Type.Object({
  GITLAB_URL: Type.String({ format: 'uri', description: 'GitLab base URL, e.g. http://gitlab.gitlab.svc' }),
  // A personal access token of an administrator with the `api` scope (it creates a runner and
  // allows the webhook's in-cluster host in the outbound allowlist, both admin operations).
  GITLAB_TOKEN: Secret(Type.String({ minLength: 8 })),
  GITLAB_PROJECT: Type.String({ pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$', default: 'root/webhook-app' }),
  GITLAB_BRANCH: Type.String({ pattern: '^[A-Za-z0-9._/-]+$', default: 'main' }),
  // The pushed tree keeps the monorepo's paths, so the project points GitLab at the service's CI file.
  GITLAB_CI_CONFIG_PATH: Type.String({ minLength: 1, default: 'services/webhook-app/.gitlab-ci.yml' }),

  ROCKETCHAT_URL: Type.String({ format: 'uri', description: 'Rocket.Chat as the bootstrap reaches it' }),
  // What webhook-app (in the cluster) uses; set as a CI/CD variable for the deploy job.
  ROCKETCHAT_INTERNAL_URL: Type.Optional(Type.String({ format: 'uri' })),
  ROCKETCHAT_ADMIN_USERNAME: Username,
  ROCKETCHAT_ADMIN_PASSWORD: Secret(Type.String({ minLength: 1 })),
  ROCKETCHAT_BOT_USERNAME: Type.String({ ...Username, default: 'webhook-bot' }),
  ROCKETCHAT_BOT_EMAIL: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', default: 'webhook-bot@example.com' }),
  ROCKETCHAT_RECIPIENT: Type.String({ ...Username, default: 'ops' }),
  ROCKETCHAT_RECIPIENT_EMAIL: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', default: 'ops@example.com' }),

  // webhook-app's in-cluster Service (GitLab's project hook and the notify job call it).
  WEBHOOK_URL: Type.String({
    format: 'uri',
    default: 'http://webhook-app.webhook-app.svc.cluster.local:8080/webhooks/gitlab',
  }),
  DEPLOY_NAMESPACE: Type.String({ ...K8sName, default: 'webhook-app' }),

  RUNNER_NAMESPACE: Type.String({ ...K8sName, default: 'gitlab-runner' }),
  RUNNER_SECRET_NAME: Type.String({ ...K8sName, default: 'gitlab-runner-token' }),
  RUNNER_DESCRIPTION: Type.String({ minLength: 1, default: 'webhook-app kubernetes runner' }),
  RUNNER_TAGS: Type.String({ default: '', description: 'comma-separated runner tags; empty: runs untagged jobs' }),

  SOURCE_REPO: Type.String({ minLength: 1, default: REPO_ROOT }),
  SOURCE_REF: Type.String({ minLength: 1, default: 'HEAD' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 15_000 }),
});

export type Config = Static<typeof ConfigSchema> & { ROCKETCHAT_INTERNAL_URL: string; runnerTags: string[] };

/** `<NAME>_FILE` for every secret: the file's content (one trailing newline dropped) when NAME is unset. */
export function withFileSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    const file = env[`${name}_FILE`];
    if (!isSecret(schema) || !file || (env[name] ?? '') !== '') continue;
    try {
      out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`${name}_FILE cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return out;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, withFileSecrets(env));
  return {
    ...c,
    ROCKETCHAT_INTERNAL_URL: c.ROCKETCHAT_INTERNAL_URL ?? c.ROCKETCHAT_URL,
    runnerTags: c.RUNNER_TAGS.split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  };
}
