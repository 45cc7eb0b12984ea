// The image, as far as this machine can check it without a Docker engine: the Dockerfile's
// properties, and its dependency stage replayed in a scratch directory (the same npm ci command),
// from which the service must start with production dependencies only.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { REPO_ROOT } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'services/webhook-app/Dockerfile'), 'utf8');
const instructions = DOCKERFILE.split('\n').filter((l) => /^[A-Z]+ /.test(l));

describe('webhook-app Dockerfile', () => {
  it('is multi-stage, ends on a minimal runtime as a numeric non-root user', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms.at(-1)).toMatch(/distroless\/nodejs24/);
    const user = instructions.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toMatch(/^USER [1-9][0-9]*:[1-9][0-9]*$/);
    expect(DOCKERFILE).toMatch(/npm ci --omit=dev/);
  });

  it('copies every workspace manifest, so that npm ci agrees with the lockfile', () => {
    const workspaces = ['packages', 'services'].flatMap((group) =>
      readdirSync(join(REPO_ROOT, group)).map((name) => `${group}/${name}/package.json`),
    );
    for (const manifest of workspaces) expect(DOCKERFILE, manifest).toContain(`COPY ${manifest} `);
  });

  it('starts from a production-only install, as the image does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-image-'));
    try {
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(REPO_ROOT, f), join(dir, f));
      for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
        const [, source] = line.split(/\s+/);
        if (!source || source.includes('*') || !source.includes('/')) continue;
        mkdirSync(join(dir, source, '..'), { recursive: true });
        cpSync(join(REPO_ROOT, source), join(dir, source), { recursive: true });
      }
      const install = /RUN (npm ci [^\n]+)/.exec(DOCKERFILE)![1]!.split(/\s+/).slice(1);
      execFileSync('npm', [...install, '--prefer-offline', '--loglevel=error'], { cwd: dir, stdio: 'pipe' });
      // npm links every workspace, but installs only this service's production dependencies: nothing
      // that only the tooling or the test workspaces (the peer, the test platform) need.
      for (const devOnly of [
        'vitest',
        'typescript',
        'eslint',
        'yaml',
        // @kubernetes/client-node is no longer listed: it is a production dependency of the sibling
        // deployment-api workspace, and npm ci --workspace installs hoisted packages another
        // workspace needs in production (npm's limitation; see services/deployment-api/README.md).
        '@aws-sdk/client-s3',
      ]) {
        expect(existsSync(join(dir, 'node_modules', devOnly)), `${devOnly} must not be in the image`).toBe(false);
      }
      const port = await freePort();
      const app = await startProcess(join(dir, 'services/webhook-app/src/main.ts'), {
        PORT: String(port),
        GITLAB_WEBHOOK_SECRET: 'a-secret-of-sixteen+',
        ROCKETCHAT_URL: 'http://127.0.0.1:9',
        ROCKETCHAT_USER_ID: 'u',
        ROCKETCHAT_AUTH_TOKEN: 't',
        ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
      });
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      expect(await app.stop()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
