// deployctl as a person runs it: a process, table and JSON output, readable refusals, exit codes.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { createDeployment, deployctlEnv, eventually, SERVICE_DIR, useServers, type Server } from './harness.ts';

const run = promisify(execFile);
const CLI = join(SERVICE_DIR, 'src/cli/main.ts');
const ns = useNamespace('dapi-cli');
const { pki, start } = useServers(ns);
/** The server deployctl talks to. */
let server: Server | undefined;

async function deployctl(
  who: 'operator' | 'reader',
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...deployctlEnv(server!.apiUrl, pki, who) };
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('deployctl', () => {
  it('lists, gets, sets, diffs and unmanages with tables and JSON', async () => {
    await createDeployment(ns.name, 'web', 1);
    server = await start();
    const list = await eventually('web listed', async () => {
      const r = await deployctl('reader', 'list', '-n', ns.name);
      return r.stdout.includes('web') ? r : undefined;
    });
    expect(list.stdout.split('\n')[0]).toMatch(
      /^NAMESPACE\s+NAME\s+SPEC\s+READY\s+AVAILABLE\s+UPDATED\s+DESIRED\s+STATE$/,
    );
    expect(list.stdout).toMatch(new RegExp(`${ns.name}\\s+web\\s+1\\s+\\d\\s+\\d\\s+\\d\\s+-\\s+unmanaged`));

    const set = await deployctl('operator', 'set', `${ns.name}/web`, '2', '-o', 'json');
    expect(set.code).toBe(0);
    const body = JSON.parse(set.stdout) as { deployment: { management: { desiredReplicas: number; version: string } } };
    expect(body.deployment.management.desiredReplicas).toBe(2);

    await eventually('in sync', async () => {
      const r = await deployctl('reader', 'get', `${ns.name}/web`, '-o', 'json');
      const d = JSON.parse(r.stdout) as { deployment: { specReplicas?: number; management?: { state: string } } };
      return d.deployment.specReplicas === 2 && d.deployment.management?.state === 'in_sync' ? true : undefined;
    });
    expect((await deployctl('reader', 'diff', '-n', ns.name)).stdout).toBe('every managed Deployment is in sync\n');

    const denied = await deployctl('reader', 'set', `${ns.name}/web`, '3');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toBe('deployctl: permission_denied: rd (reader) may not call SetDesiredReplicas\n');
    const missing = await deployctl('reader', 'get', `${ns.name}/nope`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not_found');

    expect((await deployctl('operator', 'unmanage', `${ns.name}/web`)).stdout).toBe(
      `${ns.name}/web: no longer managed\n`,
    );
  });

  it('says what is wrong with its own input (exit 2) without calling anything', async () => {
    server = { apiUrl: 'https://127.0.0.1:1' } as Server;
    const bad = await deployctl('operator', 'get', 'just-a-name');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected NAMESPACE/NAME');
    const usage = await deployctl('operator');
    expect(usage.code).toBe(2);
    expect(usage.stdout).toContain('usage: deployctl');
    server = undefined;
  });
});
