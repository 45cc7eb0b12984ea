// invoice-app before its PostgreSQL and through a database outage (the shared scenario in
// packages/test-platform): it waits instead of exiting, and no invoice reported paid is lost.
import { fileURLToPath } from 'node:url';

import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { describeDatabaseStartup } from '@sre-platform/test-platform';
import { afterAll } from 'vitest';

const PROVIDER = fileURLToPath(new URL('../../payment-provider/src/main.ts', import.meta.url));

// The provider keeps its ledger in memory (PGlite): only invoice-app's database comes and goes.
let provider: StartedProcess | undefined;
afterAll(async () => {
  await provider?.stop('SIGKILL');
});

describeDatabaseStartup('invoice-app', {
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  env: async () => {
    provider ??= await startProcess(PROVIDER, { PORT: String(await freePort()) }, { readyTimeoutMs: 60_000 });
    return { PAYMENT_PROVIDER_URL: provider.url, PAYMENT_PROVIDER_TIMEOUT_MS: '2000' };
  },
  // One new unpaid invoice (when the database is there to take it), then a pay call.
  write: async (url, n, sql) => {
    await sql`insert into invoices (id, amount_minor, currency, currency_exponent)
              values (${`startup-${n}`}, 150, 'EUR', 2)`.catch(() => undefined);
    const res = await fetch(`${url}/invoices/pay`, { method: 'POST' });
    const body = (await res.json()) as { paid?: { InvoiceId: string }[] };
    return { ids: (body.paid ?? []).map((p) => p.InvoiceId), status: res.status };
  },
  stored: async (sql) => (await sql<{ id: string }[]>`select id from invoices where status = 'paid'`).map((r) => r.id),
});
