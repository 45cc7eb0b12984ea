// The local cluster is named per checkout: two checkouts (clones or worktrees) get two clusters, so
// `make cluster-down` in one never deletes the other's. Runs the real script's `name` command, which
// needs no cluster and no tools.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', 'cluster');
const work = mkdtempSync(join(tmpdir(), 'cluster-name-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A checkout at `dir` with the real script in its place. */
function checkout(dir: string): string {
  mkdirSync(join(dir, 'tools/cluster'), { recursive: true });
  copyFileSync(SCRIPT, join(dir, 'tools/cluster/cluster'));
  return join(dir, 'tools/cluster/cluster');
}

function name(script: string, env: Record<string, string> = {}, cwd = work): string {
  const { CLUSTER_NAME: _unset, ...rest } = process.env;
  return execFileSync(script, ['name'], { cwd, env: { ...rest, ...env }, encoding: 'utf8' }).trim();
}

describe('tools/cluster/cluster name', () => {
  it('gives two checkouts two names, each stable wherever it is run from', () => {
    const a = checkout(join(work, 'a'));
    const b = checkout(join(work, 'b'));
    const nameA = name(a);
    const nameB = name(b);
    expect(nameA).toMatch(/^sre-platform-[0-9a-f]{8}$/);
    expect(nameB).toMatch(/^sre-platform-[0-9a-f]{8}$/);
    expect(nameA).not.toBe(nameB);
    expect(name(a, {}, join(work, 'b'))).toBe(nameA);
    // The same checkout reached through a symbolic link is the same checkout.
    symlinkSync(join(work, 'a'), join(work, 'link-to-a'));
    expect(name(join(work, 'link-to-a/tools/cluster/cluster'))).toBe(nameA);
  });

  it('keeps CLUSTER_NAME as the override', () => {
    expect(name(checkout(join(work, 'c')), { CLUSTER_NAME: 'shared-by-choice' })).toBe('shared-by-choice');
  });
});
