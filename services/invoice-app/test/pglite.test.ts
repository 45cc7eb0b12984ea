// The `make up` configuration: both services as processes on embedded PGlite, no PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { afterEach, describe, expect, it } from 'vitest';

const APP = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const PROVIDER = fileURLToPath(new URL('../../payment-provider/src/main.ts', import.meta.url));

const processes: StartedProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
});

describe('on embedded PGlite', () => {
  it('pays the seed invoices, and they stay paid across a restart with DATA_DIR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-invoice-app-'));
    try {
      const provider = await startProcess(PROVIDER, { PORT: String(await freePort()) }, { readyTimeoutMs: 60_000 });
      processes.push(provider);
      const env = { PORT: String(await freePort()), PAYMENT_PROVIDER_URL: provider.url, DATA_DIR: dir };
      const app = await startProcess(APP, env, { readyTimeoutMs: 60_000 });
      processes.push(app);
      const res = await fetch(`${app.url}/invoices/pay`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { paid: unknown[] }).paid).toHaveLength(3);
      expect(await app.stop('SIGTERM')).toBe(0);

      const again = await startProcess(APP, env, { readyTimeoutMs: 60_000 });
      processes.push(again);
      const list = (await (await fetch(`${again.url}/invoices`)).json()) as { IsPaid: boolean }[];
      expect(list.map((i) => i.IsPaid)).toEqual([true, true, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
