// The GitLab pipeline file and its notify job: the file validates against GitLab's own CI schema (vendored in
// packages/contracts), its jobs are wired as the README says, and the notify job sends a Push Hook that webhook-app
// accepts, with the headers GitLab sends and a key that keeps a retried job from sending a second DM.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

import { readContract } from '@sre-platform/contracts';
import { Value } from '@sre-platform/service-kit';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { notify, notifyRequest, pushEventFromCi } from '../ci/notify.ts';
import { PushEventSchema, renderMessage, summarize } from '../src/domain/push.ts';

const PIPELINE = parse(readFileSync(new URL('../.gitlab-ci.yml', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;

// GitLab's predefined variables for a push pipeline on main (values as GitLab fills them).
const SHA = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
const CI_ENV = {
  CI_COMMIT_SHA: SHA,
  CI_COMMIT_BEFORE_SHA: '95790bf891e76fee5e1747ab589903a6a1f80f22',
  CI_COMMIT_BRANCH: 'main',
  CI_COMMIT_TITLE: 'Add the `notify` job <https://evil.example|click> @all',
  CI_COMMIT_AUTHOR: 'Jane Doe <jane@example.com>',
  CI_PROJECT_PATH: 'platform/webhook-app',
  CI_PROJECT_URL: 'http://gitlab.sre-platform.test/platform/webhook-app',
  CI_PIPELINE_ID: '4242',
  GITLAB_USER_LOGIN: 'jane',
  GITLAB_USER_NAME: 'Jane Doe',
  GITLAB_WEBHOOK_SECRET: 'a-webhook-secret-of-enough-length',
};

describe('.gitlab-ci.yml', () => {
  it("validates against GitLab's CI schema", () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(JSON.parse(readContract('gitlab/ci-schema.json')) as object);
    expect(validate(PIPELINE), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('would catch a broken file: the schema refuses an unknown job keyword', () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(JSON.parse(readContract('gitlab/ci-schema.json')) as object);
    expect(validate({ ...PIPELINE, test: { ...PIPELINE['test'], scirpt: ['true'] } })).toBe(false);
  });

  it('runs test, build, deploy and notify in that order; deploy and notify on the default branch only', () => {
    expect(PIPELINE['stages']).toEqual(['test', 'build', 'deploy', 'notify']);
    expect(PIPELINE['build']!['needs']).toEqual(['test']);
    expect(PIPELINE['deploy']!['needs']).toEqual(['build']);
    expect(PIPELINE['notify']!['needs']).toEqual(['deploy']);
    for (const job of ['deploy', 'notify']) {
      expect(PIPELINE[job]!['rules'], job).toEqual([{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH' }]);
    }
    // The image is the commit's, built from the service's own Dockerfile and pushed to GitLab's registry.
    expect((PIPELINE['variables'] as Record<string, string>)['IMAGE']).toBe('$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA');
    expect(JSON.stringify(PIPELINE['build']!['script'])).toContain('--dockerfile services/webhook-app/Dockerfile');
    // A failed rollout is undone and fails the job.
    const deploy = JSON.stringify(PIPELINE['deploy']!['script']);
    expect(deploy).toContain('rollout undo deployment/webhook-app');
    expect(deploy).toContain('exit 1');
  });
});

describe('ci/gitlab-ci-local.yml, the file gitlab-ci-local runs here', () => {
  const LOCAL = parse(readFileSync(new URL('../ci/gitlab-ci-local.yml', import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

  it("includes the real file and replaces only the build job's script, with BuildKit into the real node", () => {
    expect(Object.keys(LOCAL).sort()).toEqual(['build', 'include']);
    expect(LOCAL['include']).toEqual([{ local: 'services/webhook-app/.gitlab-ci.yml' }]);
    expect(Object.keys(LOCAL['build'] as object)).toEqual(['script']);
    const script = JSON.stringify((LOCAL['build'] as { script: string[] }).script);
    expect(script).toContain('IMAGE_TAG=\\"$CI_COMMIT_SHA\\" IMPORT=1 tools/image/build webhook-app');
    expect(script).toContain('sre-platform.local/webhook-app:$CI_COMMIT_SHA');
  });

  it("validates against GitLab's CI schema", () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(JSON.parse(readContract('gitlab/ci-schema.json')) as object);
    expect(validate(LOCAL), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });
});

describe('the notify job', () => {
  it("builds a Push Hook that webhook-app's schema accepts, with the pipeline's commit first in the DM", () => {
    const event = pushEventFromCi(CI_ENV);
    expect(Value.Check(PushEventSchema, event), JSON.stringify([...Value.Errors(PushEventSchema, event)])).toBe(true);
    expect(event.after).toBe(SHA);
    expect(event.ref).toBe('refs/heads/main');
    expect(event.commits[0]!.author).toEqual({ name: 'Jane Doe', email: 'jane@example.com' });
    expect(renderMessage(summarize(event))).toContain(SHA);
  });

  it('says "new branch" (an all-zero before) when GitLab gives no previous commit', () => {
    const event = pushEventFromCi({ ...CI_ENV, CI_COMMIT_BEFORE_SHA: '0000000000000000000000000000000000000000' });
    expect(event.before).toBe('0'.repeat(40));
    expect(pushEventFromCi({ ...CI_ENV, CI_COMMIT_BEFORE_SHA: undefined }).before).toBe('0'.repeat(40));
  });

  it('refuses to run without the variables it needs, naming the missing one', () => {
    expect(() => notifyRequest({ ...CI_ENV, WEBHOOK_URL: 'http://x', GITLAB_WEBHOOK_SECRET: '' })).toThrow(
      /GITLAB_WEBHOOK_SECRET is not set/,
    );
    expect(() => pushEventFromCi({ ...CI_ENV, CI_COMMIT_BRANCH: undefined })).toThrow(/CI_COMMIT_BRANCH is not set/);
  });

  describe('against an HTTP server', () => {
    let close: (() => void) | undefined;
    afterEach(() => close?.());

    // Answers every request as webhook-app would: `status`, with `answer` as JSON of `type`.
    async function server(status: number, answer: object, type = 'application/json') {
      const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
      const srv = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push({ headers: req.headers, body });
          res.writeHead(status, { 'content-type': type }).end(JSON.stringify(answer));
        });
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      close = () => srv.close();
      return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/webhooks/gitlab`, seen };
    }

    it("sends GitLab's headers and the same Idempotency-Key when the job is retried", async () => {
      const { url, seen } = await server(202, { status: 'accepted', idempotencyKey: 'gitlab-ci-notify-4242' });
      const env = { ...CI_ENV, WEBHOOK_URL: url };
      expect(await notify(env)).toBe(0);
      expect(await notify(env)).toBe(0); // a retried job
      expect(seen).toHaveLength(2);
      for (const { headers } of seen) {
        expect(headers['x-gitlab-event']).toBe('Push Hook');
        expect(headers['x-gitlab-token']).toBe(CI_ENV.GITLAB_WEBHOOK_SECRET);
        expect(headers['content-type']).toBe('application/json');
      }
      expect(seen[0]!.headers['idempotency-key']).toBe('gitlab-ci-notify-4242');
      expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key']);
      expect(JSON.parse(seen[0]!.body)).toMatchObject({ after: SHA, object_kind: 'push' });
    });

    it('fails the job when webhook-app refuses the event', async () => {
      const { url } = await server(
        401,
        {
          type: 'about:blank',
          title: 'Unauthorized',
          status: 401,
          detail: 'missing or wrong X-Gitlab-Token',
          instance: '/webhooks/gitlab',
        },
        'application/problem+json',
      );
      expect(await notify({ ...CI_ENV, WEBHOOK_URL: url })).toBe(1);
    });
  });
});
