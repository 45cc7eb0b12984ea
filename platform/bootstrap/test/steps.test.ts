import { describe, expect, it } from 'vitest';

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
  type Manifest,
  type VariableView,
} from '../src/steps.ts';

const variable = (key: string, value: string, masked = true, prot = true): VariableView => ({
  key,
  value,
  masked,
  protected: prot,
});

describe('decideProject', () => {
  it('creates a missing project, points an existing one at the CI file, else leaves it', () => {
    const ci = 'services/webhook-app/.gitlab-ci.yml';
    expect(decideProject(undefined, ci)).toEqual({ action: 'create' });
    expect(decideProject({ id: 1, pathWithNamespace: 'root/a', ciConfigPath: null }, ci)).toEqual({
      action: 'update',
      ciConfigPath: ci,
    });
    expect(decideProject({ id: 1, pathWithNamespace: 'root/a', ciConfigPath: ci }, ci)).toEqual({ action: 'none' });
  });
});

describe('resolveSecrets', () => {
  it('reuses the secrets stored in the masked variables and generates only what is missing', () => {
    let n = 0;
    const generate = () => `generated-secret-${++n}`;
    const stored = new Map([['GITLAB_WEBHOOK_SECRET', variable('GITLAB_WEBHOOK_SECRET', 'abcdef0123456789')]]);
    expect(resolveSecrets(stored, generate)).toEqual({
      webhookSecret: { value: 'abcdef0123456789', generated: false },
      botPassword: { value: 'generated-secret-1', generated: true },
    });
  });

  it('replaces a stored value GitLab could not mask (too short), rather than write it back', () => {
    const stored = new Map([['ROCKETCHAT_PASSWORD', variable('ROCKETCHAT_PASSWORD', 'short')]]);
    expect(resolveSecrets(stored, () => 'a-new-long-secret').botPassword).toEqual({
      value: 'a-new-long-secret',
      generated: true,
    });
  });
});

describe('decideBot and decideRecipient', () => {
  const bot = { id: 'u1', username: 'webhook-bot', roles: ['bot'] };
  const stored = { value: 'stored-password', generated: false };

  it('creates a missing bot', () => {
    expect(decideBot(undefined, stored, undefined)).toEqual({ action: 'create' });
  });

  it('leaves a bot whose stored password logs in and that has the bot role', () => {
    expect(decideBot(bot, stored, 'ok')).toEqual({ action: 'none' });
  });

  it('sets the password again when it was generated now or the stored one is refused', () => {
    expect(decideBot(bot, { value: 'new', generated: true }, undefined)).toMatchObject({
      action: 'update',
      setPassword: true,
    });
    expect(decideBot(bot, stored, 'refused')).toMatchObject({
      action: 'update',
      setPassword: true,
      reason: 'stored password refused',
    });
  });

  it('adds the bot role, keeping the others, without touching a working password', () => {
    expect(decideBot({ ...bot, roles: ['user'] }, stored, 'ok')).toEqual({
      action: 'update',
      setPassword: false,
      roles: ['user', 'bot'],
      reason: 'bot role added',
    });
  });

  it('creates the recipient once and never changes a person afterwards', () => {
    expect(decideRecipient(undefined)).toEqual({ action: 'create' });
    expect(decideRecipient({ id: 'u2', username: 'ops', roles: ['user', 'admin'] })).toEqual({ action: 'none' });
  });
});

describe('decideSource', () => {
  it('pushes to a missing branch, on top of a branch with another tree, and not at all for the same tree', () => {
    expect(decideSource(undefined, 't1')).toEqual({ action: 'push', outcome: 'created' });
    expect(decideSource({ head: 'c1', tree: 't0' }, 't1')).toEqual({
      action: 'push',
      parent: 'c1',
      outcome: 'updated',
    });
    expect(decideSource({ head: 'c1', tree: 't1' }, 't1')).toEqual({ action: 'none' });
  });
});

describe('variables', () => {
  const secrets = {
    webhookSecret: { value: 'w'.repeat(64), generated: false },
    botPassword: { value: 'p'.repeat(64), generated: false },
  };
  const desired = desiredVariables({
    secrets,
    webhookUrl: 'http://webhook-app.webhook-app.svc.cluster.local/webhooks/gitlab',
    rocketchatUrl: 'http://rocketchat.rocketchat.svc:3000',
    botUsername: 'webhook-bot',
    recipient: 'ops',
    deployNamespace: 'webhook-app',
  });

  it('protects every variable and masks exactly the two secrets', () => {
    expect(desired.every((v) => v.protected)).toBe(true);
    expect(desired.filter((v) => v.masked).map((v) => v.key)).toEqual(['GITLAB_WEBHOOK_SECRET', 'ROCKETCHAT_PASSWORD']);
    expect(desired.find((v) => v.key === 'ROCKETCHAT_PASSWORD')?.value).toBe(secrets.botPassword.value);
  });

  it('creates, updates exactly what differs, or leaves a variable', () => {
    const spec = desired[0]!;
    expect(decideVariable(undefined, spec)).toEqual({ action: 'create' });
    expect(decideVariable({ ...spec }, spec)).toEqual({ action: 'none' });
    expect(decideVariable({ ...spec, masked: false, value: 'old' }, spec)).toEqual({
      action: 'update',
      changed: ['value', 'masked'],
    });
    expect(decideVariable({ ...spec, protected: false }, spec)).toEqual({ action: 'update', changed: ['protected'] });
  });
});

describe('decideAllowlist', () => {
  it('adds the hook host once, keeping the list, unless local requests are allowed for every hook', () => {
    expect(decideAllowlist({ allowLocalRequests: false, allowlist: ['a.example'] }, 'h.svc')).toEqual({
      action: 'update',
      allowlist: ['a.example', 'h.svc'],
    });
    expect(decideAllowlist({ allowLocalRequests: false, allowlist: ['h.svc'] }, 'h.svc')).toEqual({ action: 'none' });
    expect(decideAllowlist({ allowLocalRequests: true, allowlist: [] }, 'h.svc')).toEqual({ action: 'none' });
  });
});

describe('decideHook', () => {
  const spec: HookSpec = {
    url: 'http://h/webhooks/gitlab',
    pushEvents: true,
    tagPushEvents: true,
    enableSslVerification: false,
  };
  const hook = { id: 7, url: spec.url, pushEvents: true, tagPushEvents: true, enableSslVerification: false };

  it('creates a hook for a URL not yet hooked (another hook is left alone)', () => {
    expect(decideHook([{ ...hook, url: 'http://other' }], spec, false)).toEqual({ action: 'create' });
  });

  it('leaves a matching hook, and updates one whose events drifted or whose secret was regenerated', () => {
    expect(decideHook([hook], spec, false)).toEqual({ action: 'none', id: 7 });
    expect(decideHook([{ ...hook, tagPushEvents: false }], spec, false)).toEqual({
      action: 'update',
      id: 7,
      changed: ['tag_push_events'],
    });
    expect(decideHook([hook], spec, true)).toEqual({ action: 'update', id: 7, changed: ['token'] });
  });
});

describe('decideRunner', () => {
  it('keeps a stored token GitLab accepts; otherwise creates a runner, saying why', () => {
    expect(decideRunner({ token: 'glrt-x', runnerId: '1' }, true)).toEqual({ action: 'none' });
    expect(decideRunner(undefined, undefined)).toMatchObject({ action: 'create', outcome: 'created' });
    expect(decideRunner({ token: 'glrt-x' }, false)).toMatchObject({
      action: 'create',
      outcome: 'updated',
      reason: 'the stored token is no longer accepted',
    });
    expect(decideRunner({}, undefined)).toMatchObject({ action: 'create', outcome: 'updated' });
  });
});

describe('pushedPaths', () => {
  const manifests = new Map<string, Manifest>([
    [
      'services/webhook-app',
      { name: '@x/webhook-app', dependencies: { '@x/kit': '1', undici: '8' }, devDependencies: { '@x/peer': '1' } },
    ],
    ['packages/kit', { name: '@x/kit' }],
    ['packages/peer', { name: '@x/peer', devDependencies: { '@x/contracts': '1' } }],
    ['packages/contracts', { name: '@x/contracts' }],
    ['services/invoice-app', { name: '@x/invoice-app', dependencies: { '@x/kit': '1' } }],
  ]);

  it('takes the service and its workspace dependencies whole, and only the manifest of every other workspace', () => {
    const paths = pushedPaths('services/webhook-app', manifests);
    expect(paths).toEqual(
      expect.arrayContaining([
        'services/webhook-app',
        'packages/kit',
        'packages/peer',
        'packages/contracts',
        'services/invoice-app/package.json',
        'package-lock.json',
        'tools',
      ]),
    );
    expect(paths).not.toContain('services/invoice-app');
  });

  it('refuses a service that is not a workspace', () => {
    expect(() => pushedPaths('services/nope', manifests)).toThrow(/not a workspace/);
  });
});
