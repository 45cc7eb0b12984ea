// Git over HTTP with the git CLI: the tree to push is built from the source repository's objects
// at SOURCE_REF (committed content only: no node_modules, no local edits) in a scratch bare
// repository that borrows those objects (objects/info/alternates), compared with the remote
// branch's tree, and pushed as one commit on top of it when they differ.
//
// The token never reaches argv or a URL (both show in `ps`, and git prints URLs in errors): it is
// an `Authorization` header given through GIT_CONFIG_* environment variables. GitLab accepts a
// personal access token as the Basic password with any username.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

import type { Manifest } from '../steps.ts';
import { UpstreamError } from './errors.ts';

const run = promisify(execFile);

export class GitClient {
  readonly #scratch: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;

  constructor(token: string, timeoutMs: number) {
    this.#scratch = mkdtempSync(join(tmpdir(), 'sre-bootstrap-git-'));
    this.#timeoutMs = timeoutMs;
    this.#env = {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`oauth2:${token}`).toString('base64')}`,
      GIT_AUTHOR_NAME: 'sre-platform bootstrap',
      GIT_AUTHOR_EMAIL: 'bootstrap@sre-platform.invalid',
      GIT_COMMITTER_NAME: 'sre-platform bootstrap',
      GIT_COMMITTER_EMAIL: 'bootstrap@sre-platform.invalid',
    };
  }

  async #git(args: string[], options: { cwd?: string; input?: string; what?: string } = {}): Promise<string> {
    const what = options.what ?? `git ${args[0]}`;
    try {
      const child = run('git', args, {
        cwd: options.cwd ?? this.#scratch,
        env: this.#env,
        encoding: 'utf8',
        timeout: this.#timeoutMs * 4,
        maxBuffer: 64 * 1024 * 1024,
      });
      if (options.input !== undefined) {
        child.child.stdin?.end(options.input);
      }
      return (await child).stdout;
    } catch (err) {
      const captured = (err as { stderr?: unknown }).stderr;
      const stderr = typeof captured === 'string' && captured ? captured : (err as Error).message;
      throw new UpstreamError('git', what, undefined, stderr.trim().split('\n').slice(-2).join(' / '));
    }
  }

  /** The workspace manifests at `ref`: folder -> package.json, from the root's workspace globs. */
  async manifests(repo: string, ref: string): Promise<Map<string, Manifest>> {
    const root = JSON.parse(await this.#git(['show', `${ref}:package.json`], { cwd: repo })) as {
      workspaces?: string[];
    };
    const files = (await this.#git(['ls-tree', '-r', '--name-only', ref], { cwd: repo })).split('\n');
    const patterns = (root.workspaces ?? []).map(
      (glob) => new RegExp(`^${glob.replace(/\./g, '\\.').replace(/\*/g, '[^/]+')}/package\\.json$`),
    );
    const out = new Map<string, Manifest>();
    for (const file of files.filter((f) => patterns.some((p) => p.test(f)))) {
      const dir = file.slice(0, -'/package.json'.length);
      out.set(dir, JSON.parse(await this.#git(['show', `${ref}:${file}`], { cwd: repo })) as Manifest);
    }
    return out;
  }

  /**
   * Builds the tree of `paths` at `ref` of `repo` in the scratch repository and returns its id
   * (and the source commit's), without copying a file.
   */
  async buildTree(
    repo: string,
    ref: string,
    paths: string[],
  ): Promise<{ tree: string; source: string; files: number }> {
    await this.#git(['init', '--quiet', '--bare', '.']);
    const common = (await this.#git(['rev-parse', '--git-common-dir'], { cwd: repo })).trim();
    const objects = join(isAbsolute(common) ? common : join(repo, common), 'objects');
    writeFileSync(join(this.#scratch, 'objects/info/alternates'), `${objects}\n`);
    const source = (await this.#git(['rev-parse', '--verify', `${ref}^{commit}`], { cwd: repo })).trim();
    const entries = await this.#git(['ls-tree', '-r', '-z', '--full-tree', source, '--', ...paths], { cwd: repo });
    await this.#git(['read-tree', '--empty']);
    await this.#git(['update-index', '-z', '--index-info'], { input: entries });
    const tree = (await this.#git(['write-tree'])).trim();
    return { tree, source, files: entries.split('\0').filter(Boolean).length };
  }

  /** The remote branch's head commit and tree, or undefined when the branch does not exist. */
  async remoteBranch(url: string, branch: string): Promise<{ head: string; tree: string } | undefined> {
    const listed = await this.#git(['ls-remote', url, `refs/heads/${branch}`], { what: 'git ls-remote' });
    const head = listed.split('\t')[0]?.trim();
    if (!head) return undefined;
    await this.#git(['fetch', '--quiet', '--no-tags', url, `refs/heads/${branch}`], { what: 'git fetch' });
    const tree = (await this.#git(['rev-parse', 'FETCH_HEAD^{tree}'])).trim();
    return { head, tree };
  }

  /** One commit of `tree` (on top of `parent`) pushed to the branch; returns the commit id. */
  async push(url: string, branch: string, tree: string, parent: string | undefined, message: string): Promise<string> {
    const commit = (await this.#git(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message])).trim();
    await this.#git(['push', '--quiet', url, `${commit}:refs/heads/${branch}`], { what: 'git push' });
    return commit;
  }

  close(): void {
    rmSync(this.#scratch, { recursive: true, force: true });
  }
}
