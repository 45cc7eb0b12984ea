// payment-provider before its PostgreSQL and through a database outage (the shared scenario in
// packages/test-platform): it waits instead of exiting, and no acknowledged payment is lost.
import { fileURLToPath } from 'node:url';

import { describeDatabaseStartup } from '@sre-platform/test-platform';

describeDatabaseStartup('payment-provider', {
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  env: () => ({}),
  write: async (url, n) => {
    const key = `startup-${n}`;
    const res = await fetch(`${url}/payments/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ id: `I-${n}`, value: 1.5, currency: 'EUR' }),
    });
    await res.arrayBuffer();
    return { ids: res.status === 200 ? [key] : [], status: res.status };
  },
  stored: async (sql) =>
    (await sql<{ k: string }[]>`select idempotency_key as k from provider_payments`).map((r) => r.k),
});
