// The webhook challenge's archive (archive.ts, make webhook-challenge-archive), built into a temporary folder and
// unpacked as a reviewer would: exactly the layout the challenge's text asks for, both parts' READMEs with the five
// sections, Part A's manifests rendering with kustomize from inside the archive exactly as they do in the repository,
// webhook-app's folder exactly the tree the bootstrap pushes to GitLab, every markdown link resolving inside the
// archive, nothing secret or generated, and the same bytes twice.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

import { REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { get, parseManifests } from '@sre-platform/test-platform/manifests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { level2Headings, PART_SECTIONS, relativeLinks } from '../../../tools/dev/markdown.ts';
import { GitClient } from '../../bootstrap/src/adapters/git.ts';
import { pushedPaths } from '../../bootstrap/src/steps.ts';
import { PART_B_FILES } from '../archive.ts';
import { PART_A } from '../part-a.ts';

const kubectl = () => join(toolBin('kubernetes'), 'kubectl');
const kustomize = (dir: string) => execFileSync(kubectl(), ['kustomize', dir], { encoding: 'utf8' });

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? filesUnder(path, base) : [relative(base, path)];
  });
}

describe('make webhook-challenge-archive', () => {
  let tmp: string;
  let unpacked: string;
  let files: string[];
  let printed: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sre-archive-test-'));
    printed = execFileSync(process.execPath, ['platform/webhook-platform/archive.ts', join(tmp, 'a.tar.gz')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    execFileSync(process.execPath, ['platform/webhook-platform/archive.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, OUT: join(tmp, 'b.tar.gz') },
    });
    unpacked = join(tmp, 'x');
    execFileSync('mkdir', [unpacked]);
    execFileSync('tar', ['-xzf', join(tmp, 'a.tar.gz'), '-C', unpacked]);
    files = filesUnder(unpacked).sort();
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('says what it wrote, from which commit, with its checksum', () => {
    expect(printed).toMatch(/a\.tar\.gz: \d+ files from [0-9a-f]{12}.*, sha256 [0-9a-f]{64}\n$/);
  });

  it('holds exactly part-a/{k8s-manifests/, webhook-app/, README.md} and part-b/ with its five files', () => {
    expect(readdirSync(unpacked).sort()).toEqual(['part-a', 'part-b']);
    expect(readdirSync(join(unpacked, 'part-a')).sort()).toEqual(['README.md', 'k8s-manifests', 'webhook-app']);
    expect(readdirSync(join(unpacked, 'part-b')).sort()).toEqual([...PART_B_FILES, 'README.md'].sort());
    for (const f of PART_B_FILES)
      expect(readFileSync(join(unpacked, 'part-b', f)), f).toEqual(
        readFileSync(join(REPO_ROOT, 'platform/monitoring', f)),
      );
  });

  it.each(['part-a/README.md', 'part-b/README.md'])('%s carries the five sections, in order', (readme) => {
    const headings = level2Headings(readFileSync(join(unpacked, readme), 'utf8'));
    const present = PART_SECTIONS.filter((s) => headings.includes(s));
    expect(present).toEqual(PART_SECTIONS);
    const order = present.map((s) => headings.indexOf(s));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('renders part-a/k8s-manifests with kustomize: all of Part A, no Secret', () => {
    const docs = parseManifests(kustomize(join(unpacked, 'part-a/k8s-manifests')));
    const kinds = docs.map((d) => `${get(d, 'kind') as string}/${get(d, 'metadata', 'name') as string}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Namespace/rocketchat',
        'Namespace/gitlab',
        'Namespace/gitlab-runner',
        'Namespace/webhook-app',
        'StatefulSet/mongodb',
        'Deployment/rocketchat',
        'StatefulSet/gitlab',
        'Deployment/gitlab-runner',
        'StatefulSet/postgres',
        'Deployment/webhook-app',
        'HorizontalPodAutoscaler/webhook-app',
      ]),
    );
    expect(kinds.filter((k) => k.startsWith('Secret/'))).toEqual([]);
  });

  it.each(PART_A)('renders %s from inside the archive exactly as in the repository', (dir) => {
    expect(kustomize(join(unpacked, 'part-a/k8s-manifests', dir))).toEqual(kustomize(join(REPO_ROOT, dir)));
  });

  it('puts in part-a/webhook-app exactly the tree the bootstrap pushes to GitLab', async () => {
    const git = new GitClient('', 60_000);
    const paths = pushedPaths('services/webhook-app', await git.manifests(REPO_ROOT, 'HEAD'));
    git.close();
    const expected = execFileSync('git', ['ls-files', '-z', '--', ...paths], { cwd: REPO_ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '' && existsSync(join(REPO_ROOT, f)))
      .sort();
    const inArchive = files.filter((f) => f.startsWith('part-a/webhook-app/')).map((f) => f.slice(19));
    expect(inArchive).toEqual(expected);
  });

  it("has every file webhook-app's Dockerfile copies, so the image builds from part-a/webhook-app", () => {
    const app = join(unpacked, 'part-a/webhook-app');
    const dockerfile = readFileSync(join(app, 'services/webhook-app/Dockerfile'), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(sources.length).toBeGreaterThan(10);
    for (const source of sources) expect(existsSync(join(app, source)), source).toBe(true);
    expect(existsSync(join(app, 'services/webhook-app/.gitlab-ci.yml'))).toBe(true);
  });

  it('holds nothing secret or generated', () => {
    const generated = /(^|\/)(node_modules|\.certs|dist|coverage|\.cache|\.git)\//;
    const secret = /(^|\/)(\.env(\..*)?|.*\.(pem|key|crt|p12|tsbuildinfo|log))$/;
    expect(files.filter((f) => generated.test(f) || secret.test(f))).toEqual([]);
  });

  it('links every markdown file only to files inside the archive', () => {
    const broken: string[] = [];
    for (const file of files.filter((f) => f.endsWith('.md'))) {
      for (const target of relativeLinks(readFileSync(join(unpacked, file), 'utf8'))) {
        const path = join(unpacked, dirname(file), decodeURIComponent(target));
        if (!path.startsWith(`${unpacked}/`) || !existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
    // The part READMEs' links to the other part and to the manifests were rewritten, not dropped.
    expect(readFileSync(join(unpacked, 'part-a/README.md'), 'utf8')).toContain(
      '](k8s-manifests/platform/rocketchat/README.md)',
    );
    expect(readFileSync(join(unpacked, 'part-b/README.md'), 'utf8')).toMatch(/\]\(\.\.\/part-a\/k8s-manifests\//);
  });

  it('is deterministic: sorted names, owner 0, one mtime, the same bytes twice', () => {
    expect(readFileSync(join(tmp, 'b.tar.gz'))).toEqual(readFileSync(join(tmp, 'a.tar.gz')));
    const listing = execFileSync('tar', ['-tvzf', join(tmp, 'a.tar.gz'), '--numeric-owner'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(new Set(listing.map((l) => l.split(/\s+/)[1]))).toEqual(new Set(['0/0']));
    expect(new Set(listing.map((l) => l.split(/\s+/).slice(3, 5).join(' '))).size).toBe(1);
    // tar --sort=name: each folder's entries in name order (a folder's contents follow the folder itself).
    const children = new Map<string, string[]>();
    for (const name of listing.map((l) => l.split(/\s+/).slice(5).join(' ').replace(/\/$/, ''))) {
      const parent = dirname(name);
      children.set(parent, [...(children.get(parent) ?? []), name]);
    }
    for (const [parent, names] of children) expect(names, parent).toEqual([...names].sort());
  });
});
