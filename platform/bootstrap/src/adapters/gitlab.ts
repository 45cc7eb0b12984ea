// GitLab's REST API through @gitbeaker/rest, the maintained TypeScript client: the reads and writes
// the bootstrap makes, returning the views steps.ts decides on. A read of something absent (404)
// is `undefined`; any other failure is an UpstreamError naming the call and GitLab's answer.
import { GitbeakerRequestError, GitbeakerTimeoutError, Gitlab } from '@gitbeaker/rest';

import type { HookSpec, HookView, OutboundSettings, ProjectView, VariableSpec, VariableView } from '../steps.ts';
import { UpstreamError } from './errors.ts';

type Json = Record<string, unknown>;

export class GitlabClient {
  readonly #api: InstanceType<typeof Gitlab>;

  constructor(url: string, token: string, timeoutMs: number) {
    this.#api = new Gitlab({ host: url, token, queryTimeout: timeoutMs });
  }

  /** Runs one call; a 404 becomes `undefined` when `absentOn404`, anything else an UpstreamError. */
  async #call<T>(what: string, fn: () => Promise<T>, absentOn404 = false): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GitbeakerRequestError) {
        const status = err.cause?.response.status;
        if (absentOn404 && status === 404) return undefined;
        throw new UpstreamError('GitLab', what, status, err.cause?.description ?? err.message);
      }
      if (err instanceof GitbeakerTimeoutError) throw new UpstreamError('GitLab', what, undefined, 'timed out');
      throw new UpstreamError('GitLab', what, undefined, (err as Error).message);
    }
  }

  async #must<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return (await this.#call(what, fn)) as T;
  }

  async project(path: string): Promise<ProjectView | undefined> {
    const p = (await this.#call(`GET /projects/${path}`, () => this.#api.Projects.show(path), true)) as
      Json | undefined;
    return p && toProject(p);
  }

  async createProject(path: string, ciConfigPath: string): Promise<ProjectView> {
    const [namespace, name] = path.split('/') as [string, string];
    const ns = (await this.#must(`GET /namespaces/${namespace}`, () => this.#api.Namespaces.show(namespace))) as Json;
    const p = (await this.#must('POST /projects', () =>
      this.#api.Projects.create({
        name,
        path: name,
        namespaceId: Number(ns['id']),
        visibility: 'private',
        ciConfigPath,
        initializeWithReadme: false,
      }),
    )) as Json;
    return toProject(p);
  }

  async setCiConfigPath(id: number, ciConfigPath: string): Promise<void> {
    await this.#must(`PUT /projects/${id}`, () => this.#api.Projects.edit(id, { ciConfigPath }));
  }

  async variables(projectId: number): Promise<Map<string, VariableView>> {
    const list = (await this.#must(`GET /projects/${projectId}/variables`, () =>
      this.#api.ProjectVariables.all(projectId),
    )) as Json[];
    const out = new Map<string, VariableView>();
    for (const v of list) {
      // Only the default environment scope is the bootstrap's.
      if ((v['environment_scope'] ?? '*') !== '*') continue;
      out.set(String(v['key']), {
        key: String(v['key']),
        value: typeof v['value'] === 'string' ? v['value'] : '',
        masked: v['masked'] === true,
        protected: v['protected'] === true,
      });
    }
    return out;
  }

  async createVariable(projectId: number, v: VariableSpec): Promise<void> {
    await this.#must(`POST /projects/${projectId}/variables (${v.key})`, () =>
      this.#api.ProjectVariables.create(projectId, v.key, v.value, { masked: v.masked, protected: v.protected }),
    );
  }

  async updateVariable(projectId: number, v: VariableSpec): Promise<void> {
    await this.#must(`PUT /projects/${projectId}/variables/${v.key}`, () =>
      this.#api.ProjectVariables.edit(projectId, v.key, v.value, {
        masked: v.masked,
        protected: v.protected,
        filter: { environment_scope: '*' },
      }),
    );
  }

  async outboundSettings(): Promise<OutboundSettings> {
    const s = (await this.#must('GET /application/settings', () => this.#api.ApplicationSettings.show())) as Json;
    const list = s['outbound_local_requests_whitelist'];
    return {
      allowLocalRequests: s['allow_local_requests_from_web_hooks_and_services'] === true,
      allowlist: Array.isArray(list) ? list.map(String) : [],
    };
  }

  async setOutboundAllowlist(allowlist: string[]): Promise<void> {
    await this.#must('PUT /application/settings', () =>
      this.#api.ApplicationSettings.edit({ outboundLocalRequestsWhitelist: allowlist }),
    );
  }

  async hooks(projectId: number): Promise<HookView[]> {
    const list = (await this.#must(`GET /projects/${projectId}/hooks`, () =>
      this.#api.ProjectHooks.all(projectId),
    )) as Json[];
    return list.map((h) => ({
      id: Number(h['id']),
      url: String(h['url']),
      pushEvents: h['push_events'] === true,
      tagPushEvents: h['tag_push_events'] === true,
      enableSslVerification: h['enable_ssl_verification'] === true,
    }));
  }

  async createHook(projectId: number, spec: HookSpec, token: string): Promise<void> {
    await this.#must(`POST /projects/${projectId}/hooks`, () =>
      this.#api.ProjectHooks.add(projectId, spec.url, { ...hookOptions(spec), token }),
    );
  }

  async updateHook(projectId: number, hookId: number, spec: HookSpec, token: string): Promise<void> {
    await this.#must(`PUT /projects/${projectId}/hooks/${hookId}`, () =>
      this.#api.ProjectHooks.edit(projectId, hookId, spec.url, { ...hookOptions(spec), token }),
    );
  }

  /** POST /user/runners: a project runner; the `glrt-` token is in this answer only. */
  async createRunner(
    projectId: number,
    options: { description: string; tags: string[] },
  ): Promise<{ id: number; token: string }> {
    const r = (await this.#must('POST /user/runners', () =>
      this.#api.Users.createCIRunner('project_type', {
        projectId,
        description: options.description,
        ...(options.tags.length > 0 ? { tagList: options.tags, runUntagged: false } : { runUntagged: true }),
      }),
    )) as Json;
    return { id: Number(r['id']), token: String(r['token']) };
  }

  /** POST /runners/verify: true when GitLab still accepts the runner's token (403 otherwise). */
  async runnerTokenValid(token: string): Promise<boolean> {
    // GitLab answers 403 for a token it does not accept; any other failure is an UpstreamError.
    const verify = async () => {
      try {
        await this.#api.Runners.verify({ token } as never);
        return true;
      } catch (err) {
        if (err instanceof GitbeakerRequestError && err.cause?.response.status === 403) return false;
        throw err;
      }
    };
    return (await this.#must('POST /runners/verify', verify)) === true;
  }
}

const hookOptions = (spec: HookSpec) => ({
  pushEvents: spec.pushEvents,
  tagPushEvents: spec.tagPushEvents,
  mergeRequestsEvents: false,
  enableSslVerification: spec.enableSslVerification,
});

function toProject(p: Json): ProjectView {
  return {
    id: Number(p['id']),
    pathWithNamespace: String(p['path_with_namespace']),
    ciConfigPath: typeof p['ci_config_path'] === 'string' ? p['ci_config_path'] : null,
  };
}
