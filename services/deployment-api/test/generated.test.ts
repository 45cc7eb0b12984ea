// src/gen is committed so that Node runs the sources without a build step; this proves it is
// exactly what the pinned buf and protoc-gen-es produce from proto/.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { REPO_ROOT } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

const SERVICE = join(import.meta.dirname, '..');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('generated code', () => {
  it('matches the .proto files', () => {
    const work = mkdtempSync(join(tmpdir(), 'deployment-api-gen-'));
    try {
      cpSync(join(SERVICE, 'proto'), join(work, 'proto'), { recursive: true });
      cpSync(join(SERVICE, 'buf.yaml'), join(work, 'buf.yaml'));
      writeFileSync(join(work, 'buf.gen.yaml'), readFileSync(join(SERVICE, 'buf.gen.yaml')));
      const bin = join(REPO_ROOT, 'node_modules/.bin');
      execFileSync(join(bin, 'buf'), ['generate'], {
        cwd: work,
        env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` },
        stdio: 'pipe',
      });
      execFileSync(join(bin, 'buf'), ['lint'], { cwd: work, stdio: 'pipe' });
      const committed = join(SERVICE, 'src/gen');
      const fresh = join(work, 'src/gen');
      expect(files(fresh)).toEqual(files(committed));
      for (const f of files(committed)) {
        expect(readFileSync(join(fresh, f), 'utf8'), f).toBe(readFileSync(join(committed, f), 'utf8'));
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
