// The repository's docs as a reader meets them in a clone of this repository alone: every part has a README
// with the five sections the requirement texts ask of each part, every relative link resolves, and nothing
// points outside the repository.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../../../packages/test-platform/src/tools.ts';
import { level2Headings, PART_SECTIONS, relativeLinks } from '../markdown.ts';

const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && existsSync(join(REPO_ROOT, f)));

/** A part: each folder under services/, packages/ and platform/ with a tracked file, and tools/. */
function parts(): string[] {
  const found = new Set<string>(['tools']);
  for (const file of tracked) {
    const m = /^(services|packages|platform)\/([^/]+)\//.exec(file);
    if (m) found.add(`${m[1]}/${m[2]}`);
  }
  return [...found].sort();
}

describe('every part has a README with the five sections', () => {
  it.each(parts())('%s', (part) => {
    const file = join(REPO_ROOT, part, 'README.md');
    expect(existsSync(file), `${part}/README.md is missing`).toBe(true);
    const headings = level2Headings(readFileSync(file, 'utf8'));
    const present = PART_SECTIONS.filter((s) => headings.includes(s));
    expect(present, `${part}/README.md needs the level-2 headings: ${PART_SECTIONS.join('; ')}`).toEqual(PART_SECTIONS);
    const order = present.map((s) => headings.indexOf(s));
    expect(order, `${part}/README.md: the five sections are out of order`).toEqual([...order].sort((a, b) => a - b));
  });
});

describe('the docs are self-contained', () => {
  // Contract data vendored byte for byte from its source (listed in packages/contracts/SHA256SUMS) keeps the source's
  // own links: it is not our documentation.
  const vendored = new Set(
    readFileSync(join(REPO_ROOT, 'packages/contracts/SHA256SUMS'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => `packages/contracts/${l.trim().split(/\s+\*?/)[1]}`),
  );
  const markdown = tracked.filter((f) => f.endsWith('.md') && !vendored.has(f));

  it('every relative link in every tracked markdown file resolves inside the repository', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      for (const target of relativeLinks(readFileSync(join(REPO_ROOT, file), 'utf8'))) {
        if (target === '') continue;
        const path = join(REPO_ROOT, dirname(file), decodeURIComponent(target));
        const inside = path.startsWith(REPO_ROOT + '/') || path === REPO_ROOT;
        if (!inside || !existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  // The requirement texts and contract data sit in a folder beside the repository on the machines it was built on;
  // a clone of the repository alone has no such folder. (Spelled in two parts so that this file does not match.)
  const BESIDE = ['..', 'shared'].join('/');
  it('no tracked file refers to the folder beside the repository, which a clone does not have', () => {
    const outside = tracked.filter((f) => {
      if (statSync(join(REPO_ROOT, f)).size > 2_000_000) return false;
      return readFileSync(join(REPO_ROOT, f), 'utf8').includes(BESIDE);
    });
    expect(outside).toEqual([]);
  });
});

describe('the markdown readers', () => {
  it('find level-2 headings outside code fences only', () => {
    expect(level2Headings('# a\n## B\n```\n## not\n```\n## C \n### d')).toEqual(['B', 'C']);
  });

  it('find relative links, skipping URLs, anchors, code spans and fences', () => {
    const md = '[a](x/y.md#z) [b](https://e.org) [c](#top) `[d](no.md)` ![i](img.png "t")\n```\n[e](no2.md)\n```';
    expect(relativeLinks(md)).toEqual(['x/y.md', 'img.png']);
  });
});
