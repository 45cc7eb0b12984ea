// webhook-app as a real process, on real PostgreSQL, delivering to the Rocket.Chat contract peer.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { readContract } from '@sre-platform/contracts';
import { startPeer, type Peer } from '@sre-platform/rocketchat-peer';
import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { toolBin, useDatabase } from '@sre-platform/test-platform';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PUSH = readContract('gitlab/push.json');
const TAG_PUSH = readContract('gitlab/tag_push.json');
const SECRET = 'gitlab-webhook-secret-for-tests';
const ADMIN = 'admin-token-for-the-tests-0001';

const db = useDatabase('webhook');
let peer: Peer;
const processes: StartedProcess[] = [];

beforeEach(async () => {
  peer = await startPeer();
  peer.addUser('ops');
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  expect(peer.violations, 'requests or responses that break the Rocket.Chat contract').toEqual([]);
  await peer.close();
});

async function startApp(env: Record<string, string> = {}): Promise<StartedProcess> {
  const bot = peer.tokenFor('webhook-bot');
  const proc = await startProcess(MAIN, {
    PORT: String(await freePort()),
    GITLAB_WEBHOOK_SECRET: SECRET,
    ADMIN_TOKEN: ADMIN,
    DATABASE_URL: db.url,
    ROCKETCHAT_URL: peer.url,
    ROCKETCHAT_USER_ID: bot.userId,
    ROCKETCHAT_AUTH_TOKEN: bot.authToken,
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
    ROCKETCHAT_TIMEOUT_MS: '1000',
    DELIVERY_BACKOFF_BASE_MS: '50',
    DELIVERY_BACKOFF_CAP_MS: '400',
    DELIVERY_POLL_MS: '50',
    BODY_LIMIT_BYTES: '65536',
    ...env,
  });
  processes.push(proc);
  return proc;
}

function hook(app: StartedProcess, body: string, headers: Record<string, string> = {}) {
  return fetch(`${app.url}/webhooks/gitlab`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': SECRET,
      ...headers,
    },
    body,
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const pushWith = (after: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...(JSON.parse(PUSH) as object), after, checkout_sha: after, ...extra });
const sha = (i: number) => i.toString(16).padStart(40, 'a');

describe('accepting webhooks', () => {
  it('turns a push into a DM with the commit SHA, and a tag push into another', async () => {
    const app = await startApp();
    const res = await hook(app, PUSH, { 'idempotency-key': 'push-1' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: 'accepted', idempotencyKey: 'push-1' });
    const tag = await hook(app, TAG_PUSH, { 'x-gitlab-event': 'Tag Push Hook', 'idempotency-key': 'tag-1' });
    expect(tag.status).toBe(202);
    await until('two DMs', () => peer.messages.length === 2);
    // Both events may be sent at once (DELIVERY_CONCURRENCY), so the DMs may arrive in either order.
    const pushDm = peer.messages.find((m) => m.msg.includes('da1560886d4f094c3e6c9ef40349f7d38b5d27d7'));
    const tagDm = peer.messages.find((m) => m.msg.includes('pushed new tag `v1.0.0`'));
    expect(pushDm).toMatchObject({ to: 'ops', from: 'webhook-bot' });
    expect(tagDm).toMatchObject({ to: 'ops', from: 'webhook-bot' });
    expect(pushDm).not.toBe(tagDm);
    // Graceful shutdown stops the delivery thread and the pools, then exits 0.
    expect(await app.stop('SIGTERM')).toBe(0);
    expect(app.stdout()).toContain('"drained":true');
  });

  it('says so when a branch is deleted', async () => {
    const app = await startApp();
    await hook(app, pushWith('0'.repeat(40), { checkout_sha: null, commits: [], total_commits_count: 0 }));
    await until('the DM', () => peer.messages.length === 1);
    expect(peer.messages[0]!.msg).toContain('deleted branch `master`');
  });

  it('refuses a missing or wrong token with 401, stores nothing, and never logs the token', async () => {
    const app = await startApp();
    const wrong = await hook(app, PUSH, { 'x-gitlab-token': 'not-the-secret-value' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toContain('application/problem+json');
    const missing = await fetch(`${app.url}/webhooks/gitlab`, {
      method: 'POST',
      body: PUSH,
      headers: { 'content-type': 'application/json' },
    });
    expect(missing.status).toBe(401);
    const [{ n }] = (await db.sql`select count(*)::int as n from webhook_outbox`) as unknown as [{ n: number }];
    expect(n).toBe(0);
    expect(app.stdout()).not.toContain('not-the-secret-value');
    expect(app.stdout()).not.toContain(SECRET);
  });

  it('answers 400 to malformed JSON or a body that is not a push, 413 to an oversize body, 202 to other events', async () => {
    const app = await startApp();
    expect((await hook(app, '{"object_kind": "push",')).status).toBe(400);
    const notPush = await hook(app, JSON.stringify({ object_kind: 'push', ref: 'x' }));
    expect(notPush.status).toBe(400);
    expect(((await notPush.json()) as { detail: string }).detail).toMatch(/not a GitLab Push Hook body/);
    expect((await hook(app, JSON.stringify({ big: 'x'.repeat(70_000) }))).status).toBe(413);
    const other = await hook(app, '{"object_kind":"merge_request"}', { 'x-gitlab-event': 'Merge Request Hook' });
    expect(other.status).toBe(202);
    expect(((await other.json()) as { status: string }).status).toBe('ignored');
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_events_received_total\{event="push",result="invalid"\} 3/);
    expect(metrics).toMatch(/webhook_events_received_total\{event="other",result="ignored"\} 1/);
  });

  it('exposes metrics that pass promtool check metrics', async () => {
    const app = await startApp();
    await hook(app, PUSH, { 'idempotency-key': 'metrics-1' });
    await until('the DM', () => peer.messages.length === 1);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    for (const name of [
      'webhook_events_received_total',
      'webhook_delivery_latency_seconds_bucket',
      'webhook_outbox_pending',
      'webhook_outbox_oldest_age_seconds',
      'webhook_outbox_dead',
      'http_requests_in_flight',
    ]) {
      expect(text).toContain(name);
    }
    const check = spawnSync(join(toolBin('prometheus'), 'promtool'), ['check', 'metrics'], {
      input: text,
      encoding: 'utf8',
    });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('delivers a re-sent event (same Idempotency-Key) once', async () => {
    const app = await startApp();
    const first = await hook(app, PUSH, { 'idempotency-key': 'resend-me' });
    const again = await hook(app, PUSH, { 'idempotency-key': 'resend-me' });
    expect(((await first.json()) as { status: string }).status).toBe('accepted');
    expect(((await again.json()) as { status: string }).status).toBe('duplicate');
    await until('the DM', () => peer.messages.length === 1);
    await sleep(500);
    expect(peer.messages).toHaveLength(1);
  });

  it('group-commits a concurrent burst: every distinct event stored and delivered once, re-sends counted once', async () => {
    const app = await startApp();
    // 12 distinct events, each sent 4 times at once: the copies race each other into shared INSERTs.
    const sends = Array.from({ length: 48 }, (_, i) => i % 12).map((n) =>
      hook(app, pushWith(sha(500 + n)), { 'idempotency-key': `burst-${n}` }),
    );
    const bodies = await Promise.all(
      sends.map(async (send) => {
        const r = await send;
        expect(r.status).toBe(202);
        return (await r.json()) as { status: string; idempotencyKey: string };
      }),
    );
    const accepted = bodies.filter((b) => b.status === 'accepted').map((b) => b.idempotencyKey);
    expect(accepted.sort()).toEqual(Array.from({ length: 12 }, (_, n) => `burst-${n}`).sort());
    expect(bodies.filter((b) => b.status === 'duplicate')).toHaveLength(36);
    const [{ rows }] = (await db.sql`select count(*)::int as rows from webhook_outbox`) as unknown as [
      { rows: number },
    ];
    expect(rows).toBe(12);
    await until('12 DMs', () => peer.messages.length === 12);
    await sleep(500);
    expect(peer.messages).toHaveLength(12);
  });
});

describe('delivering through failures', () => {
  it('keeps events while Rocket.Chat is down and delivers each exactly once when it is back', async () => {
    const app = await startApp();
    peer.behaviour.failWith = 503;
    for (let i = 0; i < 10; i++)
      expect((await hook(app, pushWith(sha(i)), { 'idempotency-key': `down-${i}` })).status).toBe(202);
    await sleep(1500);
    expect(peer.messages).toHaveLength(0);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(
      /webhook_delivery_failures_total\{reason="server_error"\} [1-9]/,
    );
    peer.behaviour.failWith = undefined;
    await until('10 DMs', () => peer.messages.length === 10);
    await sleep(500);
    expect(new Set(peer.messages.map((m) => m.msg)).size).toBe(10);
    expect(peer.messages).toHaveLength(10);
  });

  it('waits for the rate limit to reset instead of spending its retry budget', async () => {
    const app = await startApp({ DELIVERY_MAX_ATTEMPTS: '2' });
    peer.behaviour.rateLimit = { limit: 2, windowMs: 1500 };
    for (let i = 0; i < 5; i++) await hook(app, pushWith(sha(100 + i)), { 'idempotency-key': `rl-${i}` });
    await until('5 DMs', () => peer.messages.length === 5, 30_000);
    const [{ dead }] =
      (await db.sql`select count(*)::int as dead from webhook_outbox where status = 'dead'`) as unknown as [
        { dead: number },
      ];
    expect(dead).toBe(0);
    expect(app.stdout()).toContain('"reason":"rate_limited"');
  });

  it('loses nothing and duplicates nothing when killed mid-backlog', async () => {
    const first = await startApp();
    peer.behaviour.failWith = 503;
    for (let i = 0; i < 20; i++) await hook(first, pushWith(sha(200 + i)), { 'idempotency-key': `kill-${i}` });
    await first.stop('SIGKILL');
    peer.behaviour.failWith = undefined;
    await startApp();
    await until('20 DMs', () => peer.messages.length === 20);
    await sleep(500);
    expect(peer.messages).toHaveLength(20);
  });

  it('never delivers an event twice with two processes on one database', async () => {
    const a = await startApp();
    const b = await startApp();
    for (let i = 0; i < 40; i++) await hook(i % 2 ? a : b, pushWith(sha(300 + i)), { 'idempotency-key': `two-${i}` });
    await until('40 DMs', () => peer.messages.length === 40);
    await sleep(800);
    expect(peer.messages).toHaveLength(40);
    expect(new Set(peer.messages.map((m) => m._id)).size).toBe(40);
    const delivered =
      (a.stdout().match(/"msg":"delivered"/g) ?? []).length + (b.stdout().match(/"msg":"delivered"/g) ?? []).length;
    expect(delivered).toBe(40);
  });

  it('dead-letters an unknown recipient, lists it on the admin API, and replays it once fixed', async () => {
    const app = await startApp({ ROCKETCHAT_DEFAULT_RECIPIENT: 'nobody-yet' });
    await hook(app, PUSH, { 'idempotency-key': 'dead-1' });
    const auth = { authorization: `Bearer ${ADMIN}` };
    let items: { id: string; lastError: string }[] = [];
    async function poll() {
      items = (
        (await (await fetch(`${app.url}/admin/dead-letters`, { headers: auth })).json()) as { items: typeof items }
      ).items;
    }
    const deadline = Date.now() + 10_000;
    while (items.length === 0 && Date.now() < deadline) {
      await poll();
      await sleep(100);
    }
    expect(items[0]!.lastError).toContain('no user "nobody-yet"');
    expect((await fetch(`${app.url}/admin/dead-letters`)).status).toBe(401);
    peer.addUser('nobody-yet');
    const replay = await fetch(`${app.url}/admin/dead-letters/replay`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [items[0]!.id] }),
    });
    expect(await replay.json()).toEqual({ replayed: 1 });
    await until('the DM', () => peer.messages.length === 1);
    expect(peer.messages[0]!.to).toBe('nobody-yet');
  });
});
