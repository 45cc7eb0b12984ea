// test.sh against the two services running as real processes on one real PostgreSQL database (as in the cluster,
// where both read DATABASE_URL): it passes when every invoice gets paid, and its exit code tells the truth when
// they do not (provider down, provider refusing an invoice, invoice-app unreachable).
// PORT_FORWARD=1 goes through `kubectl port-forward`, which kwok cannot serve (no kubelet streaming); there a
// stand-in kubectl forwards to the real invoice-app process, so that test.sh's own handling (the port it reads, the
// forward it stops, a forward that fails) is what gets tested.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { REPO_ROOT, useDatabase } from '@sre-platform/test-platform';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const TEST_SH = join(REPO_ROOT, 'platform/payments/test.sh');
const APP = join(REPO_ROOT, 'services/invoice-app/src/main.ts');
const PROVIDER = join(REPO_ROOT, 'services/payment-provider/src/main.ts');

const db = useDatabase('payments_test_sh');
const processes: StartedProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
});

async function start(main: string, env: Record<string, string>) {
  const p = await startProcess(main, { PORT: String(await freePort()), DATABASE_URL: db.url, ...env });
  processes.push(p);
  return p;
}

async function startApp(providerUrl: string) {
  return start(APP, {
    PAYMENT_PROVIDER_URL: providerUrl,
    PAYMENT_PROVIDER_TIMEOUT_MS: '2000',
    PAYMENT_PROVIDER_RETRIES: '0',
  });
}

async function testSh(
  url: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(TEST_SH, [], {
      env: { ...process.env, INVOICE_APP_URL: url, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const invoices = async (url: string) =>
  (await (await fetch(`${url}/invoices`)).json()) as { InvoiceId: string; IsPaid: boolean }[];

describe('test.sh', () => {
  it('pays every invoice and exits 0; GET /invoices agrees', async () => {
    const provider = await start(PROVIDER, {});
    const app = await startApp(provider.url);
    expect((await invoices(app.url)).some((i) => !i.IsPaid)).toBe(true);

    const result = await testSh(app.url);
    expect(result.stderr).toContain('PASS: all 3 invoices paid');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/I1 +12\.15 EUR +paid/);
    expect(result.stdout).toMatch(/I2 +10\.25 GBP +paid/);
    expect(result.stdout).toMatch(/I3 +66\.13 DKK +paid/);
    expect((await invoices(app.url)).map((i) => [i.InvoiceId, i.IsPaid])).toEqual([
      ['I1', true],
      ['I2', true],
      ['I3', true],
    ]);
    // A second run finds nothing to pay and still passes.
    expect((await testSh(app.url)).code).toBe(0);
  });

  it('exits 1 naming the unpaid invoices when the provider is down', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const app = await startApp(nobody);
    const result = await testSh(app.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/POST \/invoices\/pay answered 502/);
    expect(result.stderr).toContain('FAIL: 3 of 3 invoices unpaid after POST /invoices/pay: I1, I2, I3');
    expect(result.stdout).toMatch(/I1 .* UNPAID/);
  });

  it('exits 1 when the provider refuses one invoice (400), and names only that one', async () => {
    const provider = await start(PROVIDER, { FAULT_IDS: 'I2', FAULT_STATUS: '400' });
    const app = await startApp(provider.url);
    const result = await testSh(app.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAIL: 1 of 3 invoices unpaid after POST /invoices/pay: I2');
  });

  it('exits 1 with the reason when invoice-app does not answer', async () => {
    const result = await testSh(`http://127.0.0.1:${await freePort()}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAIL: GET \/invoices: ECONNREFUSED/);
  });
});

/** A kubectl whose port-forward forwards a free local port to `target` (host:port), recording its arguments and pid. */
function fakeKubectl(dir: string, target: string, fail = false): string {
  const path = join(dir, 'kubectl');
  writeFileSync(
    path,
    `#!${process.execPath}
const { createServer, connect } = require('node:net');
const { writeFileSync } = require('node:fs');
writeFileSync(${JSON.stringify(join(dir, 'args'))}, JSON.stringify({ args: process.argv.slice(2), pid: process.pid }));
if (${String(fail)}) {
  process.stderr.write('error: unable to forward port because pod is not running. Current status=Pending\\n');
  process.exit(1);
}
const [host, port] = ${JSON.stringify(target)}.split(':');
const server = createServer((c) => { const u = connect(Number(port), host); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); });
server.listen(0, '127.0.0.1', () => {
  process.stdout.write('Forwarding from 127.0.0.1:' + server.address().port + ' -> 8081\\n');
});
process.on('SIGTERM', () => process.exit(0));
`,
  );
  chmodSync(path, 0o755);
  return path;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('test.sh with PORT_FORWARD=1', () => {
  it('forwards to svc/invoice-app in namespace invoices, tests through it, and stops the forward', async () => {
    const provider = await start(PROVIDER, {});
    const app = await startApp(provider.url);
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-kubectl-'));
    try {
      const kubectl = fakeKubectl(dir, new URL(app.url).host);
      const result = await testSh('http://127.0.0.1:9', { PORT_FORWARD: '1', KUBECTL: kubectl });
      expect(result.stderr).toContain('PASS: all 3 invoices paid');
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/invoice-app at http:\/\/127\.0\.0\.1:\d+/);
      const { args, pid } = JSON.parse(readFileSync(join(dir, 'args'), 'utf8')) as { args: string[]; pid: number };
      expect(args).toEqual(['port-forward', '-n', 'invoices', 'svc/invoice-app', ':8081']);
      expect(alive(pid)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 1 with kubectl's reason when the forward fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-kubectl-'));
    try {
      const kubectl = fakeKubectl(dir, '127.0.0.1:9', true);
      const result = await testSh('http://127.0.0.1:9', { PORT_FORWARD: '1', KUBECTL: kubectl });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/FAIL: kubectl port-forward exited: error: unable to forward port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
