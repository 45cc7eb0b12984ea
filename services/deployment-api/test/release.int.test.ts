// `make release` (tools/release/release.ts) as CI and a person run it, offline: the standalone binaries it builds
// answer --version with the release's version, the released server runs against the run's cluster and the
// released deployctl reads a real Deployment from it over mTLS; every artifact is in SHA256SUMS with its digest;
// the chart is packaged; the SBOMs list production dependencies only; the changelog is there.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePort, waitForProbe } from '@sre-platform/service-kit/testing';
import { REPO_ROOT, useNamespace } from '@sre-platform/test-platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDeployment, deployctlEnv, serverEnv, usePki } from './harness.ts';

const run = promisify(execFile);
const VERSION = '9.9.9-test.1';
const out = mkdtempSync(join(tmpdir(), 'release-'));
const ns = useNamespace('dapi-release');
const pki = usePki();
let server: ChildProcess | undefined;

beforeAll(async () => {
  await run(process.execPath, [join(REPO_ROOT, 'tools/release/release.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, VERSION, RELEASE_OUT: out, RELEASE_TARGETS: '' },
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 900_000);
afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(out, { recursive: true, force: true });
});

const binary = (name: string) => {
  const file = readdirSync(out).find((f) => f.startsWith(`${name}-${VERSION}-`));
  if (!file) throw new Error(`no ${name} binary in ${readdirSync(out).join(' ')}`);
  return join(out, file);
};

describe('make release', () => {
  it('builds standalone binaries that answer --version with the release version', async () => {
    for (const name of ['deployment-api', 'deployctl']) {
      // No NODE_OPTIONS and no node_modules reachable: the binary carries everything.
      const { stdout } = await run(binary(name), ['--version'], { cwd: out, env: { PATH: '/usr/bin:/bin' } });
      expect(stdout.trim()).toBe(`${name} ${VERSION}`);
    }
  });

  it("serves the cluster's Deployments from the released server to the released deployctl over mTLS", async () => {
    await createDeployment(ns.name, 'web', 2);
    const port = await freePort();
    const apiPort = await freePort();
    server = spawn(binary('deployment-api'), [], {
      env: { PATH: '/usr/bin:/bin', ...serverEnv(pki, port, apiPort), POD_NAME: 'release-test', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const ready = await waitForProbe(`http://127.0.0.1:${port}/readyz`, {
      timeoutMs: 60_000,
      exited: () => server!.exitCode,
    });
    expect(ready, stderr).toEqual({ ok: true });

    // The operator's identity, as deployctl reads it from its environment; nothing else of this machine's.
    const env = { PATH: '/usr/bin:/bin', ...deployctlEnv(`https://127.0.0.1:${apiPort}`, pki, 'operator') };
    const { stdout } = await run(binary('deployctl'), ['get', `${ns.name}/web`, '-o', 'json'], { env });
    const got = JSON.parse(stdout) as {
      deployment: { ref: { namespace: string; name: string }; specReplicas: number };
    };
    expect(got.deployment.ref).toEqual({ namespace: ns.name, name: 'web' });
    expect(got.deployment.specReplicas).toBe(2);

    // A refusal is an exit code and one line, from the binary as from the sources.
    const refused = await run(binary('deployctl'), ['get', `${ns.name}/absent`], { env }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/^deployctl: not_found: /) as unknown });
  });

  it('lists every artifact in SHA256SUMS with its digest', () => {
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8').trim().split('\n');
    const listed = sums.map((l) => l.split('  ')[1]);
    expect(listed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^deployment-api-9\.9\.9-test\.1-(linux|darwin)-(x64|arm64)$/),
        expect.stringMatching(/^deployctl-9\.9\.9-test\.1-/),
        'charts/deployment-api-0.1.0.tgz',
        'sbom/deployment-api.cdx.json',
        'CHANGELOG.md',
      ]) as unknown,
    );
    for (const line of sums) {
      const [digest, file] = line.split('  ');
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, file!)))
          .digest('hex'),
        file,
      ).toBe(digest);
    }
  });

  it('writes SBOMs of production trees only, and the changelog', () => {
    const sbom = JSON.parse(readFileSync(join(out, 'sbom/deployment-api.cdx.json'), 'utf8')) as {
      bomFormat: string;
      components: { name: string; group?: string }[];
    };
    expect(sbom.bomFormat).toBe('CycloneDX');
    const names = sbom.components.map((c) => (c.group ? `${c.group}/${c.name}` : c.name));
    expect(names).toContain('@kubernetes/client-node');
    for (const dev of ['vitest', 'esbuild', 'typescript', '@bufbuild/buf', '@peculiar/x509', 'postject'])
      expect(names, dev).not.toContain(dev);
    expect(readFileSync(join(out, 'CHANGELOG.md'), 'utf8')).toMatch(/^# 9\.9\.9-test\.1\n/);
  });
});
