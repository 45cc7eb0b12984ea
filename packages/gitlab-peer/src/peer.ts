// A GitLab contract peer: the REST endpoints the bootstrap (platform/bootstrap) uses, answering with
// the request and response shapes, status codes and error bodies of GitLab's API documentation and
// source (each handler names its source), plus a real git smart-HTTP server (git-http.ts) behind
// `/<namespace>/<project>.git/`. GitLab itself needs 8 GB and its image is out of reach here; this is
// what the bootstrap's tests talk to. Failures (a 500 on one route) are switched on by tests.
//
// GitLab's conventions, from lib/api/helpers.rb: an error is `{"message": ...}`, where `message` is
// a string ("404 Project Not Found", "401 Unauthorized", "403 Forbidden") or, for a model that did
// not validate (render_validation_error!), an object of field -> messages; a parameter Grape's
// declared params reject is `{"error": "<param> is missing"}` with 400. Lists are paginated
// (`page`, `per_page` = 20 by default, at most 100) with `x-total`, `x-next-page` and `link` headers.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createService, type Logger, type Service } from '@sre-platform/service-kit';
import { testConfig } from '@sre-platform/service-kit/testing';

import { serveGit } from './git-http.ts';

type Json = Record<string, unknown>;

export interface PeerNamespace {
  id: number;
  path: string;
  kind: 'user' | 'group';
}

export interface PeerVariable {
  key: string;
  value: string;
  protected: boolean;
  masked: boolean;
  variable_type: 'env_var' | 'file';
  environment_scope: string;
}

export interface PeerHook {
  id: number;
  url: string;
  /** Write-only in GitLab's API: never returned, kept here for the tests to assert. */
  token: string;
  push_events: boolean;
  tag_push_events: boolean;
  merge_requests_events: boolean;
  pipeline_events: boolean;
  enable_ssl_verification: boolean;
  created_at: string;
}

export interface PeerProject {
  id: number;
  name: string;
  path: string;
  namespace: PeerNamespace;
  visibility: string;
  ci_config_path: string | null;
  created_at: string;
  /** The bare repository the git route serves. */
  repoDir: string;
  variables: Map<string, PeerVariable>;
  hooks: PeerHook[];
}

export interface PeerRunner {
  id: number;
  token: string;
  runner_type: 'instance_type' | 'group_type' | 'project_type';
  project_id?: number;
  description: string;
  tag_list: string[];
  run_untagged: boolean;
  locked: boolean;
  paused: boolean;
}

export interface PeerFailure {
  method: string;
  /** The route template, e.g. `/api/v4/projects/:id/hooks`. */
  route: string;
  status: number;
  /** How many calls fail before the route answers normally again (default 1). */
  times?: number;
}

export interface GitlabPeer {
  service: Service;
  url: string;
  /** The admin's personal access token (root). */
  token: string;
  projects: Map<number, PeerProject>;
  runners: Map<number, PeerRunner>;
  settings: { allow_local_requests_from_web_hooks_and_services: boolean; outbound_local_requests_whitelist: string[] };
  /** Every API call: method and route template, in order. */
  calls: { method: string; route: string }[];
  /** Failures to inject, consumed as they fire. */
  failures: PeerFailure[];
  /** A token for a user who is not an administrator. */
  addUserToken(username: string): string;
  findProject(fullPath: string): PeerProject | undefined;
  close(): Promise<void>;
}

/**
 * GitLab's mask rule for variable values (app/models/concerns/ci/maskable.rb): one line of at least
 * 8 characters from the Base64 alphabet plus `@ : . ~` (and `-` `_` of the URL-safe alphabet).
 */
const MASKABLE = /^[a-zA-Z0-9_+=/@:.~-]{8,}$/;

/**
 * What GitLab's UrlBlocker refuses for webhooks unless an administrator allows it: loopback, private
 * and link-local addresses. GitLab resolves the name and checks the address; the peer cannot resolve
 * cluster DNS, so it treats the names that only resolve inside a cluster or a LAN as local too.
 */
function isLocalHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || !h.includes('.')) return true;
  if (/\.(local|internal|svc|cluster\.local|svc\.cluster\.local)$/.test(h)) return true;
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a === 169;
}

const now = () => new Date().toISOString();
const bool = (v: unknown, fallback: boolean) =>
  typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : fallback;

export async function startGitlabPeer(
  options: { port?: number; host?: string; logger?: Logger } = {},
): Promise<GitlabPeer> {
  const config = testConfig({
    HOST: options.host ?? '127.0.0.1',
    PORT: options.port ?? 0,
    LOG_LEVEL: 'warn',
    SHUTDOWN_TIMEOUT_MS: 2000,
  });
  const service = createService({ name: 'gitlab-peer', version: '18.x-contract', config, logger: options.logger });
  const { app } = service;
  const reposRoot = mkdtempSync(join(tmpdir(), 'gitlab-peer-repos-'));

  const adminToken = `glpat-${randomBytes(15).toString('base64url')}`;
  const tokens = new Map<string, { username: string; admin: boolean }>([
    [adminToken, { username: 'root', admin: true }],
  ]);
  const namespaces = new Map<string, PeerNamespace>([['root', { id: 1, path: 'root', kind: 'user' }]]);
  const projects = new Map<number, PeerProject>();
  const runners = new Map<number, PeerRunner>();
  const settings = {
    allow_local_requests_from_web_hooks_and_services: false,
    outbound_local_requests_whitelist: [] as string[],
  };
  const calls: { method: string; route: string }[] = [];
  const failures: PeerFailure[] = [];
  const seq = { project: 0, hook: 0, runner: 0, namespace: 1 };
  let url = '';

  const findProject = (idOrPath: string): PeerProject | undefined => {
    const key = idOrPath.includes('%') ? decodeURIComponent(idOrPath) : idOrPath;
    if (/^\d+$/.test(key)) return projects.get(Number(key));
    return [...projects.values()].find((p) => `${p.namespace.path}/${p.path}` === key);
  };

  // lib/api/entities/basic_project_details.rb / project.rb (the fields the bootstrap reads, and a few more).
  const projectEntity = (p: PeerProject, baseUrl: string) => {
    // GitLab makes the first pushed branch the default; until a push there is none.
    const heads = execFileSync('git', ['for-each-ref', '--format=%(refname:short)', 'refs/heads'], {
      cwd: p.repoDir,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean);
    const defaultBranch = heads.find((h) => h === 'main') ?? heads[0] ?? null;
    const fullPath = `${p.namespace.path}/${p.path}`;
    return {
      id: p.id,
      name: p.name,
      path: p.path,
      name_with_namespace: `${p.namespace.path} / ${p.name}`,
      path_with_namespace: fullPath,
      namespace: {
        id: p.namespace.id,
        name: p.namespace.path,
        path: p.namespace.path,
        kind: p.namespace.kind,
        full_path: p.namespace.path,
      },
      default_branch: defaultBranch,
      visibility: p.visibility,
      ci_config_path: p.ci_config_path,
      http_url_to_repo: `${baseUrl}/${fullPath}.git`,
      web_url: `${baseUrl}/${fullPath}`,
      created_at: p.created_at,
    };
  };
  // lib/api/entities/ci/variable.rb (doc/api/project_level_variables.md).
  const variableEntity = (v: PeerVariable) => ({
    variable_type: v.variable_type,
    key: v.key,
    value: v.value,
    hidden: false,
    protected: v.protected,
    masked: v.masked,
    raw: false,
    environment_scope: v.environment_scope,
    description: null,
  });
  // lib/api/entities/project_hook.rb (doc/api/project_webhooks.md): the token is never returned.
  const hookEntity = (h: PeerHook, projectId: number) => ({
    id: h.id,
    url: h.url,
    project_id: projectId,
    push_events: h.push_events,
    push_events_branch_filter: null,
    tag_push_events: h.tag_push_events,
    merge_requests_events: h.merge_requests_events,
    pipeline_events: h.pipeline_events,
    issues_events: false,
    note_events: false,
    job_events: false,
    wiki_page_events: false,
    enable_ssl_verification: h.enable_ssl_verification,
    alert_status: 'executable',
    disabled_until: null,
    created_at: h.created_at,
  });

  /** GitLab's offset pagination (doc/api/rest/_index.md#offset-based-pagination). */
  const paginate = <T>(items: T[], query: Json, reply: { header: (k: string, v: string) => unknown }, path: string) => {
    const perPage = Math.min(100, Math.max(1, Number(query['per_page'] ?? 20) || 20));
    const page = Math.max(1, Number(query['page'] ?? 1) || 1);
    const totalPages = Math.max(1, Math.ceil(items.length / perPage));
    reply.header('x-page', String(page));
    reply.header('x-per-page', String(perPage));
    reply.header('x-total', String(items.length));
    reply.header('x-total-pages', String(totalPages));
    reply.header('x-next-page', page < totalPages ? String(page + 1) : '');
    reply.header('x-prev-page', page > 1 ? String(page - 1) : '');
    const links = [
      `<${path}?page=1&per_page=${perPage}>; rel="first"`,
      `<${path}?page=${totalPages}&per_page=${perPage}>; rel="last"`,
    ];
    if (page < totalPages) links.unshift(`<${path}?page=${page + 1}&per_page=${perPage}>; rel="next"`);
    reply.header('link', links.join(', '));
    return items.slice((page - 1) * perPage, page * perPage);
  };

  await app.register(
    async (api) => {
      // Unknown API routes: Grape's 404 (lib/api/api.rb route_not_found).
      api.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: '404 Not Found' }));

      api.addHook('preHandler', async (request, reply) => {
        const route = request.routeOptions.url ?? '';
        calls.push({ method: request.method, route });
        const failure = failures.find((f) => f.method === request.method && f.route === route);
        if (failure) {
          failure.times = (failure.times ?? 1) - 1;
          if (failure.times <= 0) failures.splice(failures.indexOf(failure), 1);
          return reply.code(failure.status).send({ message: `${failure.status} Internal Server Error` });
        }
        // POST /runners/verify authenticates with the runner's token, not a user's (lib/api/ci/runner.rb).
        if (route === '/api/v4/runners/verify') return;
        // lib/api/helpers.rb: PRIVATE-TOKEN header (or an OAuth-style Bearer); unauthorized! otherwise.
        const header = request.headers['private-token'];
        const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
        const user = tokens.get(typeof header === 'string' ? header : (bearer ?? ''));
        if (!user) return reply.code(401).send({ message: '401 Unauthorized' });
        (request as unknown as { user: typeof user }).user = user;
      });
      const userOf = (request: unknown) => (request as { user: { username: string; admin: boolean } }).user;
      const baseUrl = () => url;

      // doc/api/users.md "Get the current user".
      api.get('/user', (request) => {
        const u = userOf(request);
        return { id: u.username === 'root' ? 1 : 2, username: u.username, is_admin: u.admin, state: 'active' };
      });

      // doc/api/namespaces.md "Get details on a namespace": the id or URL-encoded path.
      api.get('/namespaces/:id', (request, reply) => {
        const { id } = request.params as { id: string };
        const key = decodeURIComponent(id);
        const ns = /^\d+$/.test(key) ? [...namespaces.values()].find((n) => n.id === Number(key)) : namespaces.get(key);
        if (!ns) return reply.code(404).send({ message: '404 Namespace Not Found' });
        return { id: ns.id, name: ns.path, path: ns.path, kind: ns.kind, full_path: ns.path, parent_id: null };
      });

      // doc/api/projects.md "Get a single project"; lib/api/helpers.rb find_project! -> not_found!('Project').
      api.get('/projects/:id', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        return projectEntity(project, baseUrl());
      });

      // doc/api/projects.md "Create a project": name or path required (Grape at_least_one_of), the
      // namespace from namespace_id (the user's own by default); a taken name or path is a
      // validation error, 400 {"message": {"name": ["has already been taken"], ...}} (lib/api/projects.rb
      // render_validation_error!), not a 409.
      api.post('/projects', (request, reply) => {
        const body = (request.body ?? {}) as Json;
        const name = typeof body['name'] === 'string' ? body['name'] : undefined;
        const path =
          typeof body['path'] === 'string' ? body['path'] : name?.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-');
        if (!name && !path)
          return reply.code(400).send({ error: 'name, path are missing, at least one parameter must be provided' });
        const user = userOf(request);
        const ns =
          body['namespace_id'] === undefined
            ? namespaces.get(user.username)
            : [...namespaces.values()].find((n) => n.id === Number(body['namespace_id']));
        if (!ns) return reply.code(404).send({ message: '404 Namespace Not Found' });
        const taken: Json = {};
        const siblings = [...projects.values()].filter((p) => p.namespace.id === ns.id);
        if (siblings.some((p) => p.name === (name ?? path))) taken['name'] = ['has already been taken'];
        if (siblings.some((p) => p.path === path)) taken['path'] = ['has already been taken'];
        if (Object.keys(taken).length > 0) return reply.code(400).send({ message: taken });
        const id = ++seq.project;
        const repoDir = join(reposRoot, ns.path, `${path}.git`);
        mkdirSync(repoDir, { recursive: true });
        execFileSync('git', ['init', '--quiet', '--bare', repoDir]);
        const project: PeerProject = {
          id,
          name: name ?? path!,
          path: path!,
          namespace: ns,
          visibility: typeof body['visibility'] === 'string' ? body['visibility'] : 'private',
          ci_config_path: typeof body['ci_config_path'] === 'string' ? body['ci_config_path'] : null,
          created_at: now(),
          repoDir,
          variables: new Map(),
          hooks: [],
        };
        projects.set(id, project);
        return reply.code(201).send(projectEntity(project, baseUrl()));
      });

      // doc/api/projects.md "Edit a project" (the settings the bootstrap owns).
      api.put('/projects/:id', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const body = (request.body ?? {}) as Json;
        if (typeof body['ci_config_path'] === 'string') project.ci_config_path = body['ci_config_path'];
        if (typeof body['visibility'] === 'string') project.visibility = body['visibility'];
        return projectEntity(project, baseUrl());
      });

      // lib/api/ci/variables.rb: list, create, update (doc/api/project_level_variables.md).
      api.get('/projects/:id/variables', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const items = [...project.variables.values()].map(variableEntity);
        return paginate(items, request.query as Json, reply, `${baseUrl()}/api/v4/projects/${project.id}/variables`);
      });

      const validateVariable = (v: { value: string; masked: boolean }) =>
        v.masked && !MASKABLE.test(v.value) ? { value: ['is invalid'] } : undefined;

      api.post('/projects/:id/variables', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const body = (request.body ?? {}) as Json;
        if (typeof body['key'] !== 'string') return reply.code(400).send({ error: 'key is missing' });
        if (typeof body['value'] !== 'string') return reply.code(400).send({ error: 'value is missing' });
        if (!/^[a-zA-Z0-9_]{1,255}$/.test(body['key'])) {
          return reply.code(400).send({ message: { key: ["can contain only letters, digits and '_'."] } });
        }
        const variable: PeerVariable = {
          key: body['key'],
          value: body['value'],
          protected: bool(body['protected'], false),
          masked: bool(body['masked'], false),
          variable_type: body['variable_type'] === 'file' ? 'file' : 'env_var',
          environment_scope: typeof body['environment_scope'] === 'string' ? body['environment_scope'] : '*',
        };
        if (project.variables.has(variable.key)) {
          return reply.code(400).send({ message: { key: [`(${variable.key}) has already been taken`] } });
        }
        const invalid = validateVariable(variable);
        if (invalid) return reply.code(400).send({ message: invalid });
        project.variables.set(variable.key, variable);
        return reply.code(201).send(variableEntity(variable));
      });

      api.put('/projects/:id/variables/:key', (request, reply) => {
        const { id, key } = request.params as { id: string; key: string };
        const project = findProject(id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const current = project.variables.get(key);
        if (!current) return reply.code(404).send({ message: '404 Variable Not Found' });
        const body = (request.body ?? {}) as Json;
        const next: PeerVariable = {
          ...current,
          value: typeof body['value'] === 'string' ? body['value'] : current.value,
          protected: bool(body['protected'], current.protected),
          masked: bool(body['masked'], current.masked),
        };
        const invalid = validateVariable(next);
        if (invalid) return reply.code(400).send({ message: invalid });
        project.variables.set(key, next);
        return variableEntity(next);
      });

      // lib/api/project_hooks.rb (doc/api/project_webhooks.md): list, add, edit.
      api.get('/projects/:id/hooks', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const items = project.hooks.map((h) => hookEntity(h, project.id));
        return paginate(items, request.query as Json, reply, `${baseUrl()}/api/v4/projects/${project.id}/hooks`);
      });

      /** app/validators/addressable_url_validator.rb with Gitlab::HTTP_V2::UrlBlocker's message. */
      const blocked = (hookUrl: string) => {
        let parsed: URL;
        try {
          parsed = new URL(hookUrl);
        } catch {
          return 'must be a valid URL';
        }
        if (!['http:', 'https:'].includes(parsed.protocol)) return 'is blocked: Only allowed schemes are http, https';
        const host = parsed.hostname;
        if (settings.allow_local_requests_from_web_hooks_and_services) return undefined;
        if (settings.outbound_local_requests_whitelist.includes(host)) return undefined;
        return isLocalHost(host) ? 'is blocked: Requests to the local network are not allowed' : undefined;
      };

      const hookFields = (body: Json, current?: PeerHook): Omit<PeerHook, 'id' | 'created_at'> => ({
        url: typeof body['url'] === 'string' ? body['url'] : (current?.url ?? ''),
        token: typeof body['token'] === 'string' ? body['token'] : (current?.token ?? ''),
        push_events: bool(body['push_events'], current?.push_events ?? true),
        tag_push_events: bool(body['tag_push_events'], current?.tag_push_events ?? false),
        merge_requests_events: bool(body['merge_requests_events'], current?.merge_requests_events ?? false),
        pipeline_events: bool(body['pipeline_events'], current?.pipeline_events ?? false),
        enable_ssl_verification: bool(body['enable_ssl_verification'], current?.enable_ssl_verification ?? true),
      });

      api.post('/projects/:id/hooks', (request, reply) => {
        const project = findProject((request.params as { id: string }).id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const body = (request.body ?? {}) as Json;
        if (typeof body['url'] !== 'string') return reply.code(400).send({ error: 'url is missing' });
        const reason = blocked(body['url']);
        if (reason) return reply.code(400).send({ message: { url: [reason] } });
        const hook: PeerHook = { id: ++seq.hook, created_at: now(), ...hookFields(body) };
        project.hooks.push(hook);
        return reply.code(201).send(hookEntity(hook, project.id));
      });

      api.put('/projects/:id/hooks/:hook_id', (request, reply) => {
        const { id, hook_id } = request.params as { id: string; hook_id: string };
        const project = findProject(id);
        if (!project) return reply.code(404).send({ message: '404 Project Not Found' });
        const index = project.hooks.findIndex((h) => h.id === Number(hook_id));
        if (index < 0) return reply.code(404).send({ message: '404 Not found' });
        const body = (request.body ?? {}) as Json;
        const fields = hookFields(body, project.hooks[index]);
        const reason = blocked(fields.url);
        if (reason) return reply.code(400).send({ message: { url: [reason] } });
        const hook: PeerHook = { ...project.hooks[index]!, ...fields };
        project.hooks[index] = hook;
        return hookEntity(hook, project.id);
      });

      // lib/api/settings.rb (doc/api/settings.md): administrators only (authenticated_as_admin!).
      api.get('/application/settings', (request, reply) => {
        if (!userOf(request).admin) return reply.code(403).send({ message: '403 Forbidden' });
        return { ...settings };
      });
      api.put('/application/settings', (request, reply) => {
        if (!userOf(request).admin) return reply.code(403).send({ message: '403 Forbidden' });
        const body = (request.body ?? {}) as Json;
        if ('allow_local_requests_from_web_hooks_and_services' in body) {
          settings.allow_local_requests_from_web_hooks_and_services = bool(
            body['allow_local_requests_from_web_hooks_and_services'],
            false,
          );
        }
        const list = body['outbound_local_requests_whitelist'];
        if (Array.isArray(list)) settings.outbound_local_requests_whitelist = list.map(String);
        return { ...settings };
      });

      // lib/api/users.rb `post 'runners'` (doc/api/users.md "Create a runner linked to a user"):
      // 201 Entities::Ci::RunnerRegistrationDetails {id, token, token_expires_at}; the token is
      // shown only here. runner_type is required; a project_type runner needs a project the
      // user may administer, else CreateRunnerService's :forbidden -> 403 "403 Forbidden - <reason>".
      api.post('/user/runners', (request, reply) => {
        const body = (request.body ?? {}) as Json;
        const type = body['runner_type'];
        if (type === undefined) return reply.code(400).send({ error: 'runner_type is missing' });
        if (type !== 'instance_type' && type !== 'group_type' && type !== 'project_type') {
          return reply.code(400).send({ error: 'runner_type does not have a valid value' });
        }
        const user = userOf(request);
        let projectId: number | undefined;
        if (type === 'project_type') {
          const project = body['project_id'] === undefined ? undefined : projects.get(Number(body['project_id']));
          if (!project) return reply.code(403).send({ message: '403 Forbidden - Insufficient permissions' });
          projectId = project.id;
        } else if (!user.admin) {
          return reply.code(403).send({ message: '403 Forbidden - Insufficient permissions' });
        }
        const tagList = Array.isArray(body['tag_list'])
          ? body['tag_list'].map(String)
          : typeof body['tag_list'] === 'string'
            ? body['tag_list'].split(',').filter(Boolean)
            : [];
        const runner: PeerRunner = {
          id: ++seq.runner,
          token: `glrt-${randomBytes(15).toString('base64url')}`,
          runner_type: type,
          ...(projectId === undefined ? {} : { project_id: projectId }),
          description: typeof body['description'] === 'string' ? body['description'] : '',
          tag_list: tagList,
          run_untagged: bool(body['run_untagged'], true),
          locked: bool(body['locked'], false),
          paused: bool(body['paused'], false),
        };
        runners.set(runner.id, runner);
        return reply.code(201).send({ id: runner.id, token: runner.token, token_expires_at: null });
      });

      // lib/api/ci/runner.rb `post '/verify'`: 200 with the body "200" for a valid runner
      // authentication token, authenticate_runner! -> 403 otherwise.
      api.post('/runners/verify', (request, reply) => {
        const token = ((request.body ?? {}) as Json)['token'];
        if (typeof token !== 'string') return reply.code(400).send({ error: 'token is missing' });
        if (![...runners.values()].some((r) => r.token === token)) {
          return reply.code(403).send({ message: '403 Forbidden' });
        }
        return reply.code(200).type('text/plain').send('200');
      });
    },
    { prefix: '/api/v4' },
  );

  // Git over HTTP: /<namespace>/<project>.git/(info/refs|git-upload-pack|git-receive-pack).
  // GitLab (Workhorse) asks for HTTP Basic credentials; a personal access token is accepted as the
  // password with any username (doc/user/profile/personal_access_tokens.md). Hijacked before body
  // parsing, so the pack streams straight into git http-backend.
  app.route({
    method: ['GET', 'POST'],
    url: '/:namespace/:repo/*',
    onRequest: async (request, reply) => {
      const { namespace, repo } = request.params as { namespace: string; repo: string };
      const [pathPart, query = ''] = request.url.split('?') as [string, string?];
      if (!repo.endsWith('.git')) return reply.code(404).send({ error: '404 Not Found' });
      const project = findProject(`${namespace}/${repo.slice(0, -4)}`);
      const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const password = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') : '';
      const user = tokens.get(password);
      if (!user) {
        return reply
          .code(401)
          .header('www-authenticate', 'Basic realm="GitLab"')
          .type('text/plain')
          .send('HTTP Basic: Access denied.');
      }
      if (!project || !existsSync(project.repoDir)) {
        return reply.code(404).type('text/plain').send('The project you were looking for could not be found.');
      }
      reply.hijack();
      serveGit(request.raw, reply.raw, {
        projectRoot: reposRoot,
        pathInfo: decodeURIComponent(pathPart),
        query,
        remoteUser: user.username,
      });
    },
    handler: async () => undefined,
  });

  app.addHook('onClose', async () => {
    rmSync(reposRoot, { recursive: true, force: true });
  });
  url = await service.listen();
  return {
    service,
    url,
    token: adminToken,
    projects,
    runners,
    settings,
    calls,
    failures,
    addUserToken(username: string) {
      const token = `glpat-${randomBytes(15).toString('base64url')}`;
      tokens.set(token, { username, admin: false });
      if (!namespaces.has(username)) namespaces.set(username, { id: ++seq.namespace, path: username, kind: 'user' });
      return token;
    },
    findProject: (fullPath: string) => findProject(fullPath),
    close: () => service.app.close(),
  };
}
