// The webhook challenge's deliverable: one archive in the layout its text asks for, built from this monorepo (the
// files are copied into the archive, never kept twice in the repository).
//
//   node platform/webhook-platform/archive.ts [OUT]     # or: make webhook-challenge-archive [OUT=...]
//
//   part-a/k8s-manifests/   Rocket.Chat + MongoDB, GitLab + runner, webhook-app + its PostgreSQL, at the repository's
//                           paths (platform/rocketchat, platform/gitlab, services/webhook-app/k8s, and every folder
//                           their kustomizations include, e.g. platform/postgres), so that every relative reference
//                           resolves unchanged; a kustomization.yaml at the top includes the three parts, so
//                           `kubectl apply -k part-a/k8s-manifests` applies all of Part A
//   part-a/webhook-app/     exactly the tree the bootstrap pushes to GitLab (pushedPaths() in
//                           platform/bootstrap/src/steps.ts), at the same paths: its Dockerfile, lockfile and
//                           .gitlab-ci.yml work unchanged from there
//   part-a/README.md        platform/webhook-platform/README.md
//   part-b/                 platform/monitoring's four named files and its README.md
//
// Only tracked files are read, through git: node_modules, .env files, certificates and build output never get in.
// SOURCE_REF (a commit, branch or tag) archives that commit; without it, the checkout's tracked files as they are
// now, committed or not (through a copy of the index: the checkout and its index are left alone). Markdown links
// are rewritten to where their targets are in the archive; a link to a file the archive does not hold keeps its
// text, unlinked.
// The archive is deterministic: names sorted, owner and group 0, every mtime the source commit's time, gzip without
// a name or time, so the same sources give the same bytes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

import { parse } from 'yaml';

import { rewriteRelativeLinks } from '../../tools/dev/markdown.ts';
import { GitClient } from '../bootstrap/src/adapters/git.ts';
import { pushedPaths } from '../bootstrap/src/steps.ts';
import { PART_A } from './part-a.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const DEFAULT_OUT = join(REPO, 'dist/webhook-challenge.tar.gz');

/** Part B's files, under the names the challenge's text gives them. */
export const PART_B_FILES = [
  'prometheus-grafana-values.yaml',
  'webhook-app-service-monitor.yaml',
  'webhook-app-dashboard.yaml',
  'prometheus-metrics-adaptor-values.yaml',
];

/** A repository path (a file or a folder) and where it lands in the archive. */
interface Placement {
  from: string;
  to: string;
}

export interface ArchiveResult {
  out: string;
  files: number;
  sha256: string;
  /** The commit archived: SOURCE_REF's, else HEAD. */
  source: string;
  /** Without SOURCE_REF: whether the checkout's tracked files differ from HEAD (and those changes are in). */
  dirty: boolean;
}

const git = (args: string[]): string =>
  execFileSync('git', args, { cwd: REPO, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });

/**
 * The checkout's tracked files as they are now, committed or not, as a tree: `git add -u` into a copy of the index,
 * then `git write-tree`. The checkout and its index are left alone; untracked and ignored files never get in.
 */
function worktreeTree(): string {
  const scratch = mkdtempSync(join(tmpdir(), 'sre-archive-index-'));
  try {
    const env = { ...process.env, GIT_INDEX_FILE: join(scratch, 'index') };
    copyFileSync(resolve(REPO, git(['rev-parse', '--git-path', 'index']).trim()), env.GIT_INDEX_FILE);
    execFileSync('git', ['add', '-u'], { cwd: REPO, env });
    return execFileSync('git', ['write-tree'], { cwd: REPO, env, encoding: 'utf8' }).trim();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The folders a kustomization includes, itself first, transitively (repository paths). */
function kustomizationDirs(ref: string, dir: string, seen = new Set<string>()): Set<string> {
  if (seen.has(dir)) return seen;
  seen.add(dir);
  const k = parse(git(['show', `${ref}:${dir}/kustomization.yaml`])) as { resources?: string[] };
  for (const resource of k.resources ?? []) {
    const path = posix.normalize(posix.join(dir, resource));
    if (git(['ls-tree', ref, path]).includes(' tree ')) kustomizationDirs(ref, path, seen);
  }
  return seen;
}

/** Extracts `from` at `ref` into `stage/to`, keeping the paths below `from`. */
function extract(ref: string, stage: string, { from, to }: Placement): void {
  const tar = execFileSync('git', ['archive', '--format=tar', ref, '--', from], {
    cwd: REPO,
    maxBuffer: 256 * 1024 * 1024,
  });
  const scratch = mkdtempSync(join(tmpdir(), 'sre-archive-extract-'));
  try {
    execFileSync('tar', ['-x', '-C', scratch], { input: tar });
    mkdirSync(dirname(join(stage, to)), { recursive: true });
    execFileSync('cp', ['-a', '--no-target-directory', join(scratch, from), join(stage, to)]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? filesUnder(path, base) : [relative(base, path)];
  });
}

/** Where a repository path is in the archive, preferring the copy under the same top folder as `near`. */
function placeIn(stage: string, placements: Placement[], repoPath: string, near: string): string | undefined {
  const top = near.split('/').slice(0, 2).join('/');
  const found = placements
    .filter((p) => repoPath === p.from || repoPath.startsWith(`${p.from}/`))
    .map((p) => p.to + repoPath.slice(p.from.length))
    .filter((to) => existsSync(join(stage, to)));
  return found.find((to) => to.startsWith(`${top}/`)) ?? found[0];
}

/** Rewrites the relative links of one markdown file staged at `at` (copied from the repository's `source`). */
function relink(stage: string, placements: Placement[], at: string, source: string): void {
  const text = readFileSync(join(stage, at), 'utf8');
  const rewritten = rewriteRelativeLinks(text, (target) => {
    const [path = '', anchor] = target.split('#');
    const repoPath = posix.normalize(posix.join(posix.dirname(source), decodeURIComponent(path)));
    const there = placeIn(stage, placements, repoPath.replace(/\/$/, ''), at);
    if (there === undefined) return null;
    let link = posix.relative(posix.dirname(at), there) || '.';
    if (path.endsWith('/') && statSync(join(stage, there)).isDirectory()) link += '/';
    return anchor === undefined ? link : `${link}#${anchor}`;
  });
  if (rewritten !== text) writeFileSync(join(stage, at), rewritten);
}

const TOP_KUSTOMIZATION = (
  parts: readonly string[],
) => `# Part A's manifests in one kustomization: \`kubectl apply -k part-a/k8s-manifests\` applies Rocket.Chat
# with its MongoDB, GitLab with its runner, and webhook-app with its PostgreSQL, once the Secrets they reference exist
# (see ../README.md: platform/webhook-platform/deploy.sh generates them). Written by make webhook-challenge-archive;
# the folders keep the repository's paths, so every kustomization's relative references resolve as they do there.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
${parts.map((p) => `  - ${p}`).join('\n')}
`;

export async function buildArchive(out: string, sourceRef = process.env['SOURCE_REF']): Promise<ArchiveResult> {
  const head = git(['rev-parse', '--verify', `${sourceRef || 'HEAD'}^{commit}`]).trim();
  const ref = sourceRef ? head : worktreeTree();
  const dirty = !sourceRef && ref !== git(['rev-parse', `${head}^{tree}`]).trim();
  const mtime = git(['log', '-1', '--format=%ct', head]).trim();

  // The bootstrap's own reader of the workspace manifests (local git only: no token, no network).
  const client = new GitClient('', 60_000);
  let manifests;
  try {
    manifests = await client.manifests(REPO, ref);
  } finally {
    client.close();
  }
  const placements: Placement[] = [
    ...[...new Set(PART_A.flatMap((dir) => [...kustomizationDirs(ref, dir)]))]
      .sort()
      .map((dir) => ({ from: dir, to: `part-a/k8s-manifests/${dir}` })),
    ...pushedPaths('services/webhook-app', manifests).map((p) => ({ from: p, to: `part-a/webhook-app/${p}` })),
    { from: 'platform/webhook-platform/README.md', to: 'part-a/README.md' },
    ...[...PART_B_FILES, 'README.md'].map((f) => ({ from: `platform/monitoring/${f}`, to: `part-b/${f}` })),
  ];

  const stage = mkdtempSync(join(tmpdir(), 'sre-archive-'));
  try {
    for (const p of placements) extract(ref, stage, p);
    writeFileSync(join(stage, 'part-a/k8s-manifests/kustomization.yaml'), TOP_KUSTOMIZATION(PART_A));

    // Every markdown file's links, from the repository's layout to the archive's.
    const sourceOf = (at: string) => {
      const p = placements.find((p) => at === p.to || at.startsWith(`${p.to}/`));
      return p && p.from + at.slice(p.to.length);
    };
    const files = filesUnder(stage).sort();
    for (const at of files.filter((f) => f.endsWith('.md'))) relink(stage, placements, at, sourceOf(at)!);

    const tar = execFileSync(
      'tar',
      [
        '--create',
        '--format=gnu',
        '--sort=name',
        `--mtime=@${mtime}`,
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mode=u+rwX,go=rX',
        '--file=-',
        '-C',
        stage,
        'part-a',
        'part-b',
      ],
      { maxBuffer: 1024 * 1024 * 1024 },
    );
    const gz = gzipSync(tar, { level: 9 });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, gz);
    return {
      out,
      files: files.length,
      sha256: createHash('sha256').update(gz).digest('hex'),
      source: head,
      dirty,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  const out = resolve(process.argv[2] || process.env['OUT'] || DEFAULT_OUT);
  const r = await buildArchive(out);
  const shown = relative(process.cwd(), r.out).startsWith('..') ? r.out : relative(process.cwd(), r.out);
  process.stdout.write(
    `${shown}: ${r.files} files from ${r.source.slice(0, 12)}` +
      `${r.dirty ? ' plus uncommitted changes to tracked files' : ''}, sha256 ${r.sha256}\n`,
  );
}
