// The GitHub Actions workflows are code too: actionlint (with shellcheck on their run: blocks) and zizmor (offline:
// template injection, credentials persisted by checkout, excessive permissions, unpinned actions, cache poisoning...)
// must find nothing, and every action must be pinned by a full commit SHA with its version in a comment.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

const DIR = join(REPO_ROOT, '.github/workflows');
const WORKFLOWS = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => `.github/workflows/${f}`);

/** Runs a linter; returns its output when it fails, '' when it passes. */
function findings(bin: string, args: string[]): string {
  try {
    execFileSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
    return '';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err);
  }
}

describe('.github/workflows', () => {
  it('holds the ci, release and deploy workflows', () => {
    expect(WORKFLOWS).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/release.yml',
        '.github/workflows/deploy.yml',
      ]),
    );
  });

  it('passes actionlint', () => {
    const shellcheck = join(toolBin('shellcheck'), 'shellcheck');
    expect(findings(join(toolBin('actionlint'), 'actionlint'), ['-shellcheck', shellcheck, ...WORKFLOWS])).toBe('');
  });

  it('passes zizmor (offline)', () => {
    // --offline: no GitHub API calls (make test needs no network); .github/zizmor.yml is its configuration.
    expect(findings(join(toolBin('zizmor'), 'zizmor'), ['--offline', '--no-progress', '.github/'])).toBe('');
  });

  it('pins every action by a full commit SHA, with the version in a comment', () => {
    const uses = WORKFLOWS.flatMap((w) =>
      readFileSync(join(REPO_ROOT, w), 'utf8')
        .split('\n')
        .filter((l) => /^\s*(-\s+)?uses:/.test(l) && !l.includes('./.github/workflows/')),
    );
    expect(uses.length).toBeGreaterThan(10);
    const unpinned = uses.filter((l) => !/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(l));
    expect(unpinned).toEqual([]);
  });

  it('the zizmor test can fail: an unpinned action and an injected expression are findings', () => {
    // A workflow in a scratch .github, so that the real one is untouched.
    const scratch = mkdtempSync(join(tmpdir(), 'sre-platform-zizmor-'));
    try {
      mkdirSync(join(scratch, '.github/workflows'), { recursive: true });
      writeFileSync(
        join(scratch, '.github/workflows/bad.yml'),
        [
          'name: bad',
          'on: pull_request',
          'permissions: {}',
          'jobs:',
          '  bad:',
          '    runs-on: ubuntu-24.04',
          '    steps:',
          '      - uses: actions/checkout@v4',
          '      - run: echo "${{ github.event.pull_request.title }}"',
          '',
        ].join('\n'),
      );
      const out = findings(join(toolBin('zizmor'), 'zizmor'), ['--offline', '--no-progress', join(scratch, '.github')]);
      expect(out).toMatch(/unpinned-uses/);
      expect(out).toMatch(/template-injection/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
