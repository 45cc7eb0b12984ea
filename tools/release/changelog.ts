// The release notes: commit subjects since the previous tag (every commit when there is none), grouped by the area
// that starts each subject. This repository writes `<area>: <what changed and why>` (README, Contributing); a
// Conventional Commits type (feat, fix, ...) counts as an area too, and a subject with neither goes under "other".
// Merge commits are left out: their branches' commits are listed.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { ROOT } from '../build/bundle.ts';

export interface Commit {
  sha: string;
  subject: string;
}

/** Groups subjects by area, areas sorted by name, each group in commit order (newest first). */
export function groupByArea(commits: Commit[]): Map<string, { sha: string; text: string }[]> {
  const groups = new Map<string, { sha: string; text: string }[]>();
  for (const c of commits) {
    const m = /^([a-z0-9][\w./-]*(?:, ?[\w./-]+)*)(?:\([^)]*\))?!?: (.+)$/i.exec(c.subject);
    const area = m ? m[1]!.toLowerCase() : 'other';
    const text = m ? m[2]! : c.subject;
    if (!groups.has(area)) groups.set(area, []);
    groups.get(area)!.push({ sha: c.sha, text });
  }
  return new Map(
    [...groups.entries()].sort(([a], [b]) => (a === 'other' ? 1 : b === 'other' ? -1 : a.localeCompare(b))),
  );
}

export function render(version: string, since: string | undefined, commits: Commit[]): string {
  const lines = [`# ${version}`, '', since ? `Changes since ${since}.` : 'Every change so far.', ''];
  for (const [area, items] of groupByArea(commits)) {
    lines.push(`## ${area}`, '');
    for (const i of items) lines.push(`- ${i.text} (${i.sha})`);
    lines.push('');
  }
  return lines.join('\n');
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function changelog(version: string): string {
  let since: string | undefined;
  try {
    // The tag before HEAD's own tag, if HEAD is tagged: the release's range is previous..HEAD.
    since = git('describe', '--tags', '--abbrev=0', 'HEAD^');
  } catch {
    since = undefined;
  }
  const range = since ? [`${since}..HEAD`] : ['HEAD'];
  const log = git('log', '--no-merges', '--format=%h%x09%s', ...range);
  const commits = log
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [sha, ...rest] = l.split('\t');
      return { sha: sha!, subject: rest.join('\t') };
    });
  return render(version, since, commits);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(changelog(process.argv[2] ?? 'unreleased'));
}
