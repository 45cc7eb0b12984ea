// The checks every service image gets on a machine without a Docker engine: the Dockerfile's shape
// (multi-stage, distroless Node 24, numeric non-root user, production-only install, every workspace
// manifest copied), and its dependency stage replayed in a scratch directory (the same COPY and RUN
// lines, including tools/image/prune-workspace.ts), from which the service must then start.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, globSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './tools.ts';

/** Packages no service image may carry: test, build and tooling dependencies. */
const NEVER_IN_AN_IMAGE = ['vitest', 'typescript', 'eslint', 'prettier', 'autocannon', 'yaml', '@aws-sdk/client-s3'];

export interface ImageSpec {
  /** The folder under services/. */
  service: string;
  /** The PORT the image's ENV sets. */
  port: number;
  /** More packages that must not be installed (e.g. another service's production dependencies). */
  mustNotContain?: string[];
  /** Packages that must be installed (the service's own production dependencies). */
  mustContain?: string[];
  /** Starts the service from the replayed directory and checks it; must stop what it starts. */
  start(dir: string): Promise<void>;
}

export function describeImage(spec: ImageSpec): void {
  const dockerfile = readFileSync(join(REPO_ROOT, 'services', spec.service, 'Dockerfile'), 'utf8');
  // One line per instruction: continuation lines (a trailing backslash) joined.
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => /^[A-Z]+ /.test(l));
  const stages = instructions.reduce<string[][]>((acc, line) => {
    if (line.startsWith('FROM ')) acc.push([]);
    acc.at(-1)?.push(line);
    return acc;
  }, []);

  describe(`${spec.service} Dockerfile`, () => {
    it('is multi-stage and ends on distroless Node 24 as a numeric non-root user, listening on all interfaces', () => {
      expect(stages.length).toBeGreaterThanOrEqual(2);
      expect(stages.at(-1)![0]).toMatch(/^FROM gcr\.io\/distroless\/nodejs24/);
      // runAsNonRoot can only be verified by the kubelet for a numeric user other than 0.
      expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toMatch(/^USER [1-9][0-9]*:[1-9][0-9]*$/);
      expect(dockerfile).toMatch(/npm ci --omit=dev/);
      expect(dockerfile).toContain(`node tools/image/prune-workspace.ts services/${spec.service}`);
      expect(dockerfile).toMatch(new RegExp(`ENV .*HOST=0\\.0\\.0\\.0.*PORT=${spec.port}\\b`));
    });

    it('copies every workspace manifest, so that npm ci agrees with the lockfile', () => {
      const { workspaces } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        workspaces: string[];
      };
      const dirs = globSync(
        workspaces.map((w) => `${w}/package.json`),
        { cwd: REPO_ROOT },
      ).map((p) => dirname(p));
      expect(dirs.length).toBeGreaterThan(5);
      for (const dir of dirs) expect(dockerfile).toContain(`COPY ${dir}/package.json `);
    });

    it('starts from its production-only dependency stage, replayed', async () => {
      const dir = mkdtempSync(join(tmpdir(), `sre-platform-image-${spec.service}-`));
      try {
        // Every COPY from the build context (both stages), then the dependency stage's RUN lines.
        for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
          const sources = line.split(/\s+/).slice(1, -1);
          for (const source of sources) {
            mkdirSync(join(dir, source, '..'), { recursive: true });
            cpSync(join(REPO_ROOT, source), join(dir, source), { recursive: true });
          }
        }
        for (const line of stages[0]!.filter((l) => l.startsWith('RUN '))) {
          execFileSync('bash', ['-euo', 'pipefail', '-c', line.slice(4)], {
            cwd: dir,
            stdio: 'pipe',
            env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_loglevel: 'error' },
          });
        }
        for (const pkg of [...NEVER_IN_AN_IMAGE, ...(spec.mustNotContain ?? [])])
          expect(existsSync(join(dir, 'node_modules', pkg)), `${pkg} must not be in the image`).toBe(false);
        for (const pkg of spec.mustContain ?? [])
          expect(existsSync(join(dir, 'node_modules', pkg)), `${pkg} must be in the image`).toBe(true);
        await spec.start(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);
  });
}
