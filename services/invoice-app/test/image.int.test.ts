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

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'services/invoice-app/Dockerfile'), 'utf8');
const instructions = DOCKERFILE.split('\n').filter((l) => /^[A-Z]+ /.test(l));

describe('invoice-app Dockerfile', () => {
  it('is multi-stage and ends on distroless nodejs24 as a numeric non-root user (the original bug)', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms.at(-1)).toMatch(/distroless\/nodejs24/);
    // runAsNonRoot can only be verified by the kubelet for a numeric user other than 0.
    const user = instructions.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBe('USER 65532:65532');
    expect(DOCKERFILE).toMatch(/npm ci --omit=dev/);
    expect(DOCKERFILE).toMatch(/ENV .*HOST=0\.0\.0\.0.*PORT=8081/);
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
      for (const devOnly of [
        'vitest',
        'typescript',
        'eslint',
        'autocannon',
        '@kubernetes/client-node',
        '@aws-sdk/client-s3',
      ]) {
        expect(existsSync(join(dir, 'node_modules', devOnly)), `${devOnly} must not be in the image`).toBe(false);
      }
      const port = await freePort();
      const app = await startProcess(
        join(dir, 'services/invoice-app/src/main.ts'),
        { PORT: String(port), PAYMENT_PROVIDER_URL: 'http://127.0.0.1:9' },
        { readyTimeoutMs: 60_000 },
      );
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      expect(await app.stop()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
