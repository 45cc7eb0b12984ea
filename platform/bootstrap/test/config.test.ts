import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { readConfig } from '../src/config.ts';

const base = {
  GITLAB_URL: 'http://gitlab.example',
  GITLAB_TOKEN: 'glpat-0123456789',
  ROCKETCHAT_URL: 'http://chat.example',
  ROCKETCHAT_ADMIN_USERNAME: 'admin',
  ROCKETCHAT_ADMIN_PASSWORD: 'admin-password',
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('readConfig', () => {
  it('applies the defaults and derives the internal Rocket.Chat URL and the runner tags', () => {
    const c = readConfig({ ...base, RUNNER_TAGS: 'k8s, webhook ,' });
    expect(c).toMatchObject({
      GITLAB_PROJECT: 'root/webhook-app',
      GITLAB_BRANCH: 'main',
      ROCKETCHAT_BOT_USERNAME: 'webhook-bot',
      ROCKETCHAT_INTERNAL_URL: 'http://chat.example',
      WEBHOOK_URL: 'http://webhook-app.webhook-app.svc.cluster.local:8080/webhooks/gitlab',
      runnerTags: ['k8s', 'webhook'],
    });
  });

  it('names the missing variable in one line, without echoing a secret', () => {
    expect(() => readConfig({ ...base, GITLAB_TOKEN: undefined })).toThrow(/GITLAB_TOKEN is required/);
    expect(() => readConfig({ ...base, GITLAB_PROJECT: 'no-namespace' })).toThrow(/GITLAB_PROJECT must be/);
    let message = '';
    try {
      readConfig({ ...base, GITLAB_TOKEN: 'short' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/GITLAB_TOKEN/);
    expect(message).not.toContain('short');
  });

  it('reads a secret from <NAME>_FILE when NAME is unset, and says which file could not be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootstrap-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'token'), 'glpat-from-a-file\n');
    const c = readConfig({ ...base, GITLAB_TOKEN: undefined, GITLAB_TOKEN_FILE: join(dir, 'token') });
    expect(c.GITLAB_TOKEN).toBe('glpat-from-a-file');
    expect(() =>
      readConfig({
        ...base,
        ROCKETCHAT_ADMIN_PASSWORD: undefined,
        ROCKETCHAT_ADMIN_PASSWORD_FILE: join(dir, 'missing'),
      }),
    ).toThrow(/ROCKETCHAT_ADMIN_PASSWORD_FILE cannot be read \(ENOENT\)/);
  });
});
