// The image, as far as a machine without a Docker engine can check it: the Dockerfile's shape,
// and its dependency stage replayed in a scratch directory (the same npm ci line), from which the
// server must start against the cluster with production dependencies only.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { cluster, REPO_ROOT } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { applyCrd, makePki } from './harness.ts';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'services/deployment-api/Dockerfile'), 'utf8');
const lines = DOCKERFILE.split('\n').filter((l) => /^[A-Z]+ /.test(l));

describe('deployment-api Dockerfile', () => {
  it('builds in stages onto distroless Node 24 as a numeric non-root user', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBe(2);
    expect(froms.at(-1)).toMatch(/distroless\/nodejs24/);
    expect(lines.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER 65532:65532');
    expect(DOCKERFILE).toMatch(/npm ci --omit=dev --ignore-scripts/);
  });

  it('copies every workspace manifest, so npm ci agrees with the lockfile', () => {
    for (const group of ['packages', 'services']) {
      for (const name of readdirSync(join(REPO_ROOT, group))) {
        expect(DOCKERFILE).toContain(`COPY ${group}/${name}/package.json `);
      }
    }
  });

  it('starts from a production-only install, as the image does', async () => {
    await applyCrd();
    const pki = await makePki();
    const dir = mkdtempSync(join(tmpdir(), 'deployment-api-image-'));
    try {
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(REPO_ROOT, f), join(dir, f));
      for (const line of lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
        const source = line.split(/\s+/)[1]!;
        if (!source.includes('/')) continue;
        mkdirSync(join(dir, source, '..'), { recursive: true });
        cpSync(join(REPO_ROOT, source), join(dir, source), { recursive: true });
      }
      const install = /RUN (npm ci [^\n]+)/.exec(DOCKERFILE)![1]!.split(/\s+/).slice(1);
      execFileSync('npm', [...install, '--prefer-offline', '--loglevel=error'], { cwd: dir, stdio: 'pipe' });
      for (const devOnly of ['vitest', 'typescript', '@bufbuild/buf', '@bufbuild/protoc-gen-es', '@peculiar/x509']) {
        expect(existsSync(join(dir, 'node_modules', devOnly)), `${devOnly} must not be in the image`).toBe(false);
      }
      const port = await freePort();
      const app = await startProcess(join(dir, 'services/deployment-api/src/main.ts'), {
        PORT: String(port),
        API_PORT: String(await freePort()),
        TLS_CERT_FILE: pki.files.serverCert,
        TLS_KEY_FILE: pki.files.serverKey,
        TLS_CLIENT_CA_FILE: pki.files.caCert,
        KUBECONFIG: cluster().kubeconfig,
        WATCH_NAMESPACE: 'default',
        LEASE_NAME: `image-test-${port}`,
      });
      expect(await app.stop()).toBe(0);
      const help = execFileSync(process.execPath, [join(dir, 'services/deployment-api/src/cli.ts'), '--help'], {
        encoding: 'utf8',
      });
      expect(help).toContain('usage: deployctl');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
