import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterEach, describe, expect, it } from 'vitest';

import { startGitlabPeer, type GitlabPeer } from '../src/peer.ts';

const peers: GitlabPeer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start() {
  const peer = await startGitlabPeer();
  peers.push(peer);
  const api = async (method: string, path: string, body?: unknown, token: string | null = peer.token) => {
    const res = await fetch(`${peer.url}/api/v4${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { 'private-token': token }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text,
    };
  };
  return { peer, api };
}

describe('gitlab-peer REST API', () => {
  it('answers 401 without a valid PRIVATE-TOKEN, and 404 "Project Not Found" for a missing project', async () => {
    const { api } = await start();
    expect(await api('GET', '/projects/1', undefined, null)).toMatchObject({
      status: 401,
      body: { message: '401 Unauthorized' },
    });
    expect(await api('GET', '/projects/1', undefined, 'glpat-wrong')).toMatchObject({ status: 401 });
    expect(await api('GET', '/projects/root%2Fnope')).toMatchObject({
      status: 404,
      body: { message: '404 Project Not Found' },
    });
    expect(await api('GET', '/no/such/route')).toMatchObject({ status: 404, body: { error: '404 Not Found' } });
  });

  it('creates a project once; a taken name or path is a 400 validation error', async () => {
    const { api } = await start();
    const created = await api('POST', '/projects', { name: 'webhook-app', path: 'webhook-app', namespace_id: 1 });
    expect(created).toMatchObject({
      status: 201,
      body: { id: 1, path_with_namespace: 'root/webhook-app', default_branch: null },
    });
    expect(await api('GET', '/projects/root%2Fwebhook-app')).toMatchObject({ status: 200, body: { id: 1 } });
    expect(await api('POST', '/projects', { name: 'webhook-app', path: 'webhook-app' })).toMatchObject({
      status: 400,
      body: { message: { name: ['has already been taken'], path: ['has already been taken'] } },
    });
    expect(await api('POST', '/projects', {})).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('missing') },
    });
  });

  it('keeps variables: masked values must be maskable, a duplicate key is refused, lists are paginated', async () => {
    const { api } = await start();
    await api('POST', '/projects', { name: 'p' });
    expect(
      await api('POST', '/projects/1/variables', { key: 'S', value: 'has spaces in it', masked: true }),
    ).toMatchObject({
      status: 400,
      body: { message: { value: ['is invalid'] } },
    });
    expect(
      await api('POST', '/projects/1/variables', {
        key: 'S',
        value: 'abcdef0123456789',
        masked: true,
        protected: true,
      }),
    ).toMatchObject({
      status: 201,
      body: { key: 'S', masked: true, protected: true, environment_scope: '*' },
    });
    expect(await api('POST', '/projects/1/variables', { key: 'S', value: 'abcdef0123456789' })).toMatchObject({
      status: 400,
      body: { message: { key: ['(S) has already been taken'] } },
    });
    expect(await api('PUT', '/projects/1/variables/NOPE', { value: 'x' })).toMatchObject({
      status: 404,
      body: { message: '404 Variable Not Found' },
    });
    for (let i = 0; i < 25; i++) await api('POST', '/projects/1/variables', { key: `K${i}`, value: 'v' });
    const first = await api('GET', '/projects/1/variables');
    expect(first.body).toHaveLength(20);
    expect(first.headers.get('x-total')).toBe('26');
    expect(first.headers.get('x-next-page')).toBe('2');
    expect((await api('GET', '/projects/1/variables?page=2')).body).toHaveLength(6);
  });

  it('refuses a webhook to a cluster-local URL until an administrator allows the host, and never returns the token', async () => {
    const { peer, api } = await start();
    await api('POST', '/projects', { name: 'p' });
    const hook = {
      url: 'http://webhook-app.webhook-app.svc.cluster.local/webhooks/gitlab',
      token: 'secret-token',
      push_events: true,
    };
    expect(await api('POST', '/projects/1/hooks', hook)).toMatchObject({
      status: 400,
      body: { message: { url: ['is blocked: Requests to the local network are not allowed'] } },
    });
    const nonAdmin = peer.addUserToken('dev');
    expect(
      await api('PUT', '/application/settings', { outbound_local_requests_whitelist: ['x'] }, nonAdmin),
    ).toMatchObject({ status: 403 });
    await api('PUT', '/application/settings', {
      outbound_local_requests_whitelist: ['webhook-app.webhook-app.svc.cluster.local'],
    });
    const created = await api('POST', '/projects/1/hooks', hook);
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('token');
    expect(peer.projects.get(1)!.hooks[0]!.token).toBe('secret-token');
  });

  it('creates a runner whose glrt- token verifies, once; a wrong token is 403', async () => {
    const { api } = await start();
    await api('POST', '/projects', { name: 'p' });
    expect(await api('POST', '/user/runners', {})).toMatchObject({
      status: 400,
      body: { error: 'runner_type is missing' },
    });
    expect(await api('POST', '/user/runners', { runner_type: 'project_type', project_id: 99 })).toMatchObject({
      status: 403,
    });
    const created = await api('POST', '/user/runners', { runner_type: 'project_type', project_id: 1 });
    expect(created).toMatchObject({ status: 201, body: { id: 1, token: expect.stringMatching(/^glrt-/) } });
    expect(await api('POST', '/runners/verify', { token: created.body.token }, null)).toMatchObject({
      status: 200,
      body: '200',
    });
    expect(await api('POST', '/runners/verify', { token: 'glrt-nope' }, null)).toMatchObject({
      status: 403,
      body: { message: '403 Forbidden' },
    });
  });

  it('fails an injected route the given number of times, then answers normally', async () => {
    const { peer, api } = await start();
    peer.failures.push({ method: 'POST', route: '/api/v4/projects', status: 500 });
    expect((await api('POST', '/projects', { name: 'p' })).status).toBe(500);
    expect((await api('POST', '/projects', { name: 'p' })).status).toBe(201);
  });
});

describe('gitlab-peer git smart HTTP', () => {
  it('accepts a real git push into the project bare repository, and refuses one without credentials', async () => {
    const { peer, api } = await start();
    await api('POST', '/projects', { name: 'app' });
    const work = mkdtempSync(join(tmpdir(), 'gitlab-peer-test-'));
    dirs.push(work);
    // Asynchronous: the peer serves the push from this same process.
    const git = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
      (
        await promisify(execFile)('git', args, {
          cwd: work,
          encoding: 'utf8',
          env: {
            ...process.env,
            GIT_TERMINAL_PROMPT: '0',
            GIT_AUTHOR_NAME: 't',
            GIT_AUTHOR_EMAIL: 't@e',
            GIT_COMMITTER_NAME: 't',
            GIT_COMMITTER_EMAIL: 't@e',
            ...env,
          },
        })
      ).stdout;
    await git(['init', '--quiet', '-b', 'main']);
    writeFileSync(join(work, 'README.md'), 'hello\n');
    await git(['add', '.']);
    await git(['commit', '--quiet', '-m', 'first']);
    const remote = `${peer.url}/root/app.git`;
    await expect(git(['push', remote, 'main'])).rejects.toThrow(/Authentication failed|could not read Username|401/);
    const auth = `Authorization: Basic ${Buffer.from(`oauth2:${peer.token}`).toString('base64')}`;
    await git(['push', '--quiet', remote, 'main'], {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: auth,
    });
    const head = (await git(['rev-parse', 'HEAD'])).trim();
    const repo = peer.projects.get(1)!.repoDir;
    expect(execFileSync('git', ['rev-parse', 'refs/heads/main'], { cwd: repo, encoding: 'utf8' }).trim()).toBe(head);
    expect(execFileSync('git', ['show', 'main:README.md'], { cwd: repo, encoding: 'utf8' })).toBe('hello\n');
    expect((await api('GET', '/projects/1')).body.default_branch).toBe('main');
    // and it reads back through the same route (upload-pack)
    expect(
      await git(['ls-remote', remote], {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: auth,
      }),
    ).toContain(`${head}\trefs/heads/main`);
  });
});
