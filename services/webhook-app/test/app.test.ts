// The webhook's HTTP behaviour in process, on the embedded PGlite: the same routes, parser and
// outbox as the service, driven through Fastify's inject (no socket; webhook.int.test.ts covers the
// real process on PostgreSQL).
import { hash } from 'node:crypto';

import { readContract } from '@sre-platform/contracts';
import { openDatabase, type Database } from '@sre-platform/database';
import { createLogger, createService } from '@sre-platform/service-kit';
import { testConfig } from '@sre-platform/service-kit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_JSON_DEPTH, MAX_KEY_LENGTH, registerRoutes, WEBHOOK_PATH } from '../src/app.ts';
import { createAppMetrics } from '../src/metrics.ts';
import { Outbox } from '../src/adapters/outbox.ts';
import { systemHookProjectCreate, systemHookPush } from './fixtures/system-hook.ts';

const SECRET = 'gitlab-webhook-secret-for-tests';
const PUSH = readContract('gitlab/push.json');
const TAG_PUSH = readContract('gitlab/tag_push.json');

let db: Database;
let service: ReturnType<typeof createService>;
let accepted = 0;

beforeAll(async () => {
  db = await openDatabase({});
  const outbox = new Outbox(db);
  await outbox.migrate();
  service = createService({
    name: 'webhook-app',
    version: 'test',
    config: testConfig({ BODY_LIMIT_BYTES: 1_048_576 }),
    logger: createLogger({ name: 'webhook-app', level: 'silent' }),
  });
  registerRoutes(service.app, {
    outbox,
    metrics: createAppMetrics(service.metrics.registry, outbox),
    recipients: { defaultRecipient: 'ops', byProject: {}, byAuthorEmail: {} },
    webhookSecret: SECRET,
    onAccepted: () => {
      accepted += 1;
    },
  });
  await service.app.ready();
});
afterAll(async () => {
  await service.app.close();
  await db.close();
});

function hook(body: string | Buffer, headers: Record<string, string> = {}) {
  return service.app.inject({
    method: 'POST',
    url: WEBHOOK_PATH,
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': SECRET,
      ...headers,
    },
    payload: body,
  });
}

async function stored(key: string) {
  const rows = await db.query<{ event_type: string; project: string; message: string }>(
    'select event_type, project, message from webhook_outbox where idempotency_key = $1',
    [key],
  );
  return rows[0];
}

const problemOf = (res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }) => {
  expect(res.headers['content-type']).toContain('application/problem+json');
  return res.json() as { status: number; detail: string };
};

describe('system hooks', () => {
  it('handles a push delivered as a System Hook like the project hook', async () => {
    const res = await hook(JSON.stringify(systemHookPush), {
      'x-gitlab-event': 'System Hook',
      'idempotency-key': 'system-push-1',
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'accepted', idempotencyKey: 'system-push-1' });
    const row = await stored('system-push-1');
    expect(row).toMatchObject({ event_type: 'push', project: 'jsmith/example' });
    // A system hook carries no commits: the message names the head and says nothing about a count.
    expect(row!.message).toBe(
      '*John Smith* pushed to branch `master` of [jsmith/example](http://example.com/jsmith/example), head `da1560886d4f094c3e6c9ef40349f7d38b5d27d7` ([view](http://example.com/jsmith/example/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7))',
    );
  });

  it('takes the kind from event_name when object_kind is absent, and handles a tag push', async () => {
    const { object_kind: _, ...withoutKind } = JSON.parse(TAG_PUSH) as Record<string, unknown>;
    const res = await hook(JSON.stringify(withoutKind), {
      'x-gitlab-event': 'System Hook',
      'idempotency-key': 'system-tag-1',
    });
    expect(res.statusCode).toBe(202);
    expect((await stored('system-tag-1'))?.message).toContain('pushed new tag `v1.0.0`');
  });

  it('ignores the other system hook events', async () => {
    const res = await hook(JSON.stringify(systemHookProjectCreate), { 'x-gitlab-event': 'System Hook' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'ignored', reason: 'system hook event project_create is not handled' });
  });
});

describe('bodies that are not JSON, or too deep', () => {
  it('answers 415 problem+json, naming the header to send, to a text/plain body or none', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const res = await service.app.inject({
        method: 'POST',
        url: WEBHOOK_PATH,
        headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET, ...(type ? { 'content-type': type } : {}) },
        payload: PUSH,
      });
      expect(res.statusCode).toBe(415);
      expect(problemOf(res).detail).toContain('Content-Type: application/json');
    }
  });

  it('answers 400 problem+json naming the limit to a valid push with a 50,000-deep extra field and no key header', async () => {
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const res = await hook(PUSH.replace(/^\{/, `{"extra": ${deep},`));
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).detail).toBe(`the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`);
    // Brackets inside strings are text, not nesting.
    const inString = await hook(PUSH.replace(/^\{/, `{"extra": ${JSON.stringify(deep)},`));
    expect(inString.statusCode).toBe(202);
  });

  it('derives the key of a push without key headers from the SHA-256 of its raw bytes', async () => {
    const body = Buffer.from(PUSH.replace(/^\{/, '{"note": "derived",'));
    const res = await hook(body);
    expect(res.json()).toEqual({ status: 'accepted', idempotencyKey: `sha256:${hash('sha256', body, 'hex')}` });
    expect((await hook(body)).json()).toMatchObject({ status: 'duplicate' });
  });
});

describe('idempotency keys', () => {
  it(`never ignores a key longer than ${MAX_KEY_LENGTH} characters: a re-send is a duplicate (one DM)`, async () => {
    const key = `long-${'k'.repeat(400)}`;
    const before = accepted;
    const first = await hook(PUSH, { 'idempotency-key': key });
    const again = await hook(PUSH.replace(/^\{/, '{"resent": true,'), { 'idempotency-key': key });
    const expected = `idempotency-key-sha256:${hash('sha256', key, 'hex')}`;
    expect(first.json()).toEqual({ status: 'accepted', idempotencyKey: expected });
    expect(again.json()).toEqual({ status: 'duplicate', idempotencyKey: expected });
    expect(accepted - before).toBe(1);
  });

  it('refuses a key holding a control character with a 400 naming the header', async () => {
    const res = await hook(PUSH, { 'idempotency-key': 'tab\there' });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).detail).toBe('header Idempotency-Key contains a control character');
  });
});

describe('text that reaches the database', () => {
  it('refuses a control character in the ref or the project path with a 400 naming the field', async () => {
    const push = JSON.parse(PUSH) as { ref: string; project: Record<string, unknown> };
    const badRef = await hook(JSON.stringify({ ...push, ref: 'refs/heads/a\u0000b' }));
    expect(problemOf(badRef)).toMatchObject({ status: 400, detail: '/ref contains a control character' });
    const badPath = await hook(
      JSON.stringify({ ...push, project: { ...push.project, path_with_namespace: 'a/b\u0001' } }),
    );
    expect(problemOf(badPath)).toMatchObject({
      status: 400,
      detail: '/project/path_with_namespace contains a control character',
    });
  });

  it('accepts a NUL in commit titles and names (GitLab cannot be asked to resend) and stores it neutralised', async () => {
    const push = JSON.parse(PUSH) as { commits: { author: { name: string } }[] };
    push.commits[0]!.author.name = 'Dev\u0000Null';
    const body = JSON.stringify({
      ...push,
      user_username: 'nul\u0000user',
      commits: push.commits.map((c, i) => ({ ...c, title: `title ${i}\u0000\u001b[31m` })),
    });
    const res = await hook(body, { 'idempotency-key': 'nul-in-text' });
    expect(res.statusCode).toBe(202);
    const message = (await stored('nul-in-text'))!.message;
    expect(message).toContain('title 0\ufffd\ufffd\uff3b31m');
    expect(message).toContain('nul\ufffduser');
    expect(message).not.toContain('\u0000');
  });

  // Every body the push schema can describe, with any text in every field (NUL, other control
  // characters, lone surrogates, markup) and fields missing or of the wrong type, through the real
  // routes into the real database: no answer is ever a 5xx.
  it('property: no push body reaches a 5xx', async () => {
    const unit = fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
      fc.constantFrom(
        '\u0000',
        '\u0001',
        '\u001b',
        '\u007f',
        '\u0085',
        '\ud800',
        '\udfff',
        '`',
        '*',
        '@',
        '<',
        '|',
        '\n',
        'é',
      ),
    );
    const text = fc.string({ unit, maxLength: 40 });
    // Mostly what GitLab sends, sometimes anything: most bodies must get past the schema to reach the
    // database, and some must not.
    const mostly = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) =>
      fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: other });
    const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
    const anyValue = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean());
    const sha = mostly(fc.oneof(hex(40), hex(64), fc.constant('0'.repeat(40))), text);
    const commit = fc.record(
      {
        id: hex(40),
        title: text,
        message: text,
        url: text,
        author: fc.record({ name: text, email: text }, { requiredKeys: [] }),
        extra: anyValue,
      },
      { requiredKeys: ['id'] },
    );
    const body = fc.record(
      {
        object_kind: mostly(fc.constantFrom('push', 'tag_push'), text),
        event_name: fc.constantFrom('push', 'tag_push', 'project_create'),
        // Refs and project paths with a control character are refused (400): mostly printable ones,
        // so that most bodies reach the database.
        ref: mostly(
          fc.string().map((t) => `refs/heads/${t}`),
          text,
        ),
        before: sha,
        after: sha,
        checkout_sha: fc.oneof(sha, fc.constant(null)),
        user_name: text,
        user_username: text,
        user_email: fc.oneof(text, fc.constant(null)),
        project: mostly(
          fc.record(
            {
              path_with_namespace: mostly(fc.string({ minLength: 1 }), text),
              web_url: fc.oneof(text, fc.constant('http://example.com/a/b')),
              name: text,
            },
            { requiredKeys: ['path_with_namespace'] },
          ),
          anyValue,
        ),
        commits: mostly(fc.array(commit, { maxLength: 12 }), anyValue),
        total_commits_count: mostly(fc.nat(1_000_000), anyValue),
      },
      { requiredKeys: ['object_kind', 'ref', 'before', 'after', 'project', 'commits', 'total_commits_count'] },
    );
    const partial = mostly(body, fc.dictionary(text, anyValue));
    const headers = fc.record(
      {
        'x-gitlab-event': mostly(
          fc.constantFrom('Push Hook', 'Tag Push Hook', 'System Hook'),
          fc.constant('Note Hook'),
        ),
        'idempotency-key': fc.string({ maxLength: 300 }),
        'x-gitlab-event-uuid': fc.string({ maxLength: 60 }),
      },
      { requiredKeys: ['x-gitlab-event'] },
    );
    let reachedTheDatabase = 0;
    await fc.assert(
      fc.asyncProperty(partial, headers, async (payload, extra) => {
        const res = await hook(JSON.stringify(payload), extra);
        expect(res.statusCode, res.body).toBeLessThan(500);
        expect([202, 400]).toContain(res.statusCode);
        if (res.statusCode === 202 && res.json<{ status: string }>().status === 'accepted') reachedTheDatabase += 1;
      }),
      { numRuns: 200 },
    );
    // The property is about the database: a good share of the bodies must have been stored (about
    // three in eight are).
    expect(reachedTheDatabase).toBeGreaterThan(30);
  }, 300_000); // 200 requests into PGlite: seconds on a quiet machine, far longer on a shared one
});
