// "Could any container run as root?", asked of every workload manifest and every Dockerfile in the repository.
// The payments pair's original bug was a pod that demanded runAsNonRoot on an image whose final stage had no USER:
// the manifest looked safe and no pod ever started. A container passes only when the manifest itself pins a
// numeric, non-zero user (so the kubelet's runAsNonRoot check can succeed whatever the image says) and every
// image's final stage ends on a numeric, non-zero USER (so the image agrees).
import { execFileSync } from 'node:child_process';
import { existsSync, globSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { get, podSpecOf } from '@sre-platform/test-platform/manifests';
import { parseAllDocuments } from 'yaml';

export interface Finding {
  source: string;
  /** kind/name:container, or the Dockerfile's stage */
  subject: string;
  problem: string;
}

/** Findings for one parsed manifest document; `checked` counts the containers looked at. */
export function checkWorkload(doc: unknown, source: string, checked = { containers: 0 }): Finding[] {
  const pod = podSpecOf(doc);
  if (!pod) return [];
  const name = `${String(get(doc, 'kind'))}/${String(get(doc, 'metadata', 'name'))}`;
  const podSc = get(pod, 'securityContext');
  const findings: Finding[] = [];
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const containers = get(pod, list);
    if (!Array.isArray(containers)) continue;
    for (const c of containers) {
      checked.containers++;
      const subject = `${name}:${String(get(c, 'name'))}`;
      const sc = get(c, 'securityContext');
      // A container's securityContext overrides the pod's, field by field.
      const field = (key: string): unknown => get(sc, key) ?? get(podSc, key);
      const problem = (p: string) => findings.push({ source, subject, problem: p });
      if (field('runAsNonRoot') !== true) problem('runAsNonRoot is not true');
      const uid = field('runAsUser');
      if (uid === undefined) {
        problem('no runAsUser: the image decides, and an image without a numeric USER runs as root');
      } else if (!Number.isInteger(uid) || (uid as number) <= 0) {
        problem(`runAsUser is ${JSON.stringify(uid)}, not a non-zero uid`);
      }
      const gid = field('runAsGroup');
      if (gid !== undefined && (!Number.isInteger(gid) || (gid as number) <= 0)) {
        problem(`runAsGroup is ${JSON.stringify(gid)}, not a non-zero gid`);
      }
      if (get(sc, 'privileged') === true) problem('privileged');
      if (get(sc, 'allowPrivilegeEscalation') !== false) {
        problem('allowPrivilegeEscalation is not false (setuid binaries could regain root)');
      }
    }
  }
  return findings;
}

export function checkManifestText(text: string, source: string, checked = { containers: 0 }): Finding[] {
  return parseAllDocuments(text).flatMap((d) => {
    if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]!.message}`);
    return checkWorkload(d.toJS(), source, checked);
  });
}

/** The final stage of a Dockerfile must switch to a numeric, non-zero USER (and group, if given). */
export function checkDockerfile(text: string, source: string): Finding[] {
  // Join continuation lines, drop comments and blank lines.
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  if (lastFrom < 0) return [{ source, subject: 'Dockerfile', problem: 'no FROM' }];
  const stage = lines[lastFrom]!.replace(/^FROM\s+(--\S+\s+)*/i, '');
  const subject = `final stage (${stage})`;
  const user = lines
    .slice(lastFrom + 1)
    .filter((l) => /^USER\s/i.test(l))
    .at(-1);
  if (!user) return [{ source, subject, problem: 'no USER in the final stage: the container runs as root' }];
  const m = /^USER\s+(\S+?)(?::(\S+))?$/i.exec(user);
  const [uid, gid] = [m?.[1], m?.[2]];
  if (!uid || !/^\d+$/.test(uid)) {
    return [{ source, subject, problem: `${user}: not numeric, so runAsNonRoot cannot verify it` }];
  }
  if (Number(uid) === 0) return [{ source, subject, problem: `${user}: uid 0 is root` }];
  if (gid !== undefined && (!/^\d+$/.test(gid) || Number(gid) === 0)) {
    return [{ source, subject, problem: `${user}: the group must be a non-zero number` }];
  }
  return [];
}

const IGNORED = ['**/node_modules', '**/test/fixtures', '.git'];

/** Every YAML file in the repository that may hold manifests, relative to the root. */
export function manifestFiles(root = REPO_ROOT): string[] {
  return globSync(['services/*/k8s/**/*.{yaml,yml}', 'platform/**/*.{yaml,yml}'], {
    cwd: root,
    exclude: IGNORED,
  }).sort();
}

/** Every Helm chart in the repository (folders with a Chart.yaml), relative to the root. */
export function chartDirs(root = REPO_ROOT): string[] {
  return globSync(['services/*/chart/Chart.yaml', 'platform/**/Chart.yaml', 'packages/*/chart/Chart.yaml'], {
    cwd: root,
    exclude: IGNORED,
  })
    .map((p) => dirname(p))
    .sort();
}

export function dockerfiles(root = REPO_ROOT): string[] {
  return globSync(['**/Dockerfile', '**/*.Dockerfile', '**/Dockerfile.*'], {
    cwd: root,
    exclude: IGNORED,
  }).sort();
}

/**
 * The containers allowed to run as root, each with its reason. Only a third-party image that cannot run otherwise
 * belongs here, and its namespace must not enforce Pod Security "restricted" (platform/gitlab/namespaces.yaml
 * documents the choice; nonroot.test.ts checks both).
 */
export const ROOT_EXCEPTIONS: Record<string, string> = {
  'platform/gitlab/gitlab.yaml StatefulSet/gitlab:gitlab':
    'GitLab omnibus runs runit and its bundled services as root and drops privileges per service itself',
};

/** Findings across the whole repository: raw manifests, rendered charts, Dockerfiles. */
export function checkRepository(root = REPO_ROOT): {
  findings: Finding[];
  containers: number;
  files: string[];
  dockerfiles: string[];
} {
  const checked = { containers: 0 };
  const files = manifestFiles(root);
  const findings = files
    .flatMap((f) => checkManifestText(readFileSync(join(root, f), 'utf8'), f, checked))
    .filter((f) => !(`${f.source} ${f.subject}` in ROOT_EXCEPTIONS));
  for (const chart of chartDirs(root)) {
    const helm = join(toolBin('helm'), 'helm');
    const rendered = execFileSync(helm, ['template', 'check', join(root, chart)], { encoding: 'utf8' });
    findings.push(...checkManifestText(rendered, `${chart} (helm template)`, checked));
  }
  const images = dockerfiles(root).filter((f) => existsSync(join(root, f)));
  for (const f of images) findings.push(...checkDockerfile(readFileSync(join(root, f), 'utf8'), f));
  return {
    findings,
    containers: checked.containers,
    files,
    dockerfiles: images.map((f) => relative(root, join(root, f))),
  };
}
