// The pipeline's notify job: sends webhook-app the push event of the pipeline's commit, shaped and delivered as
// GitLab's own Push Hook (its headers, the shared token, and an Idempotency-Key that stays the same when the job is
// retried, so a retry never produces a second DM). Reads GitLab's predefined CI/CD variables and the bootstrap's
// WEBHOOK_URL and GITLAB_WEBHOOK_SECRET. Node's own fetch: nothing to install in the job image.
import type { PushEvent } from '../src/domain/push.ts';

type Env = Record<string, string | undefined>;

const ZERO_SHA = '0'.repeat(40);

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`notify: ${name} is not set`);
  return value;
}

/** The Push Hook body GitLab would send for the pipeline's commit, from GitLab's predefined variables. */
export function pushEventFromCi(env: Env): PushEvent {
  const sha = required(env, 'CI_COMMIT_SHA');
  const projectUrl = env['CI_PROJECT_URL'];
  // "Name <email>": GitLab's CI_COMMIT_AUTHOR.
  const author = /^(.*?)\s*<([^>]*)>$/.exec(env['CI_COMMIT_AUTHOR'] ?? '');
  return {
    object_kind: 'push',
    ref: `refs/heads/${required(env, 'CI_COMMIT_BRANCH')}`,
    before: /^[0-9a-f]{40}$/.test(env['CI_COMMIT_BEFORE_SHA'] ?? '') ? env['CI_COMMIT_BEFORE_SHA']! : ZERO_SHA,
    after: sha,
    checkout_sha: sha,
    user_name: env['GITLAB_USER_NAME'],
    user_username: env['GITLAB_USER_LOGIN'],
    project: { path_with_namespace: required(env, 'CI_PROJECT_PATH'), web_url: projectUrl },
    commits: [
      {
        id: sha,
        title: env['CI_COMMIT_TITLE'] ?? '',
        ...(projectUrl ? { url: `${projectUrl}/-/commit/${sha}` } : {}),
        ...(author ? { author: { name: author[1]!, email: author[2]! } } : {}),
      },
    ],
    total_commits_count: 1,
  };
}

/** The request to send: URL, headers and body. The key is per pipeline, so retries of this job share it. */
export function notifyRequest(env: Env): { url: string; headers: Record<string, string>; body: string } {
  return {
    url: required(env, 'WEBHOOK_URL'),
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': required(env, 'GITLAB_WEBHOOK_SECRET'),
      'idempotency-key': `gitlab-ci-notify-${required(env, 'CI_PIPELINE_ID')}`,
      'user-agent': 'sre-platform-ci-notify',
    },
    body: JSON.stringify(pushEventFromCi(env)),
  };
}

export async function notify(env: Env): Promise<number> {
  const req = notifyRequest(env);
  const res = await fetch(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  // Never the token; the answer is webhook-app's problem+json or its acceptance, safe to print.
  process.stdout.write(`notify: ${req.url} answered ${res.status} ${text.slice(0, 500)}\n`);
  return res.ok ? 0 : 1;
}

if (import.meta.main) process.exitCode = await notify(process.env);
