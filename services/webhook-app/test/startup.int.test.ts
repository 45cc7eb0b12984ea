// webhook-app before its PostgreSQL and through a database outage (the shared scenario in
// packages/test-platform): it waits instead of exiting, and no accepted event is lost.
import { fileURLToPath } from 'node:url';

import { freePort } from '@sre-platform/service-kit/testing';
import { describeDatabaseStartup } from '@sre-platform/test-platform';

const SECRET = 'gitlab-webhook-secret-for-tests';
const sha = (n: number) => n.toString(16).padStart(40, '0');

describeDatabaseStartup('webhook-app', {
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  // Rocket.Chat is not needed: accepting (durably) is what is under test; delivery just waits.
  env: async () => ({
    GITLAB_WEBHOOK_SECRET: SECRET,
    ROCKETCHAT_URL: `http://127.0.0.1:${await freePort()}`,
    ROCKETCHAT_USER_ID: 'bot',
    ROCKETCHAT_AUTH_TOKEN: 'token',
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
    DELIVERY_POLL_MS: '1000',
  }),
  write: async (url, n) => {
    const key = `startup-${n}`;
    const res = await fetch(`${url}/webhooks/gitlab`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-token': SECRET,
        'x-gitlab-event': 'Push Hook',
        'idempotency-key': key,
      },
      body: JSON.stringify({
        object_kind: 'push',
        ref: 'refs/heads/main',
        before: sha(n),
        after: sha(n + 1),
        project: { path_with_namespace: 'group/project' },
        commits: [{ id: sha(n + 1), title: `commit ${n}` }],
        total_commits_count: 1,
      }),
    });
    const body = (await res.json()) as { status?: string };
    return { ids: res.status === 202 && body.status === 'accepted' ? [key] : [], status: res.status };
  },
  stored: async (sql) => (await sql<{ k: string }[]>`select idempotency_key as k from webhook_outbox`).map((r) => r.k),
});
