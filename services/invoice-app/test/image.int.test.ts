// The image, checked without a Docker engine (see packages/test-platform/src/image.ts).
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { describeImage } from '@sre-platform/test-platform/image';
import { expect } from 'vitest';

describeImage({
  service: 'invoice-app',
  port: 8081,
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  async start(dir) {
    const app = await startProcess(
      join(dir, 'services/invoice-app/src/main.ts'),
      { PORT: String(await freePort()), PAYMENT_PROVIDER_URL: 'http://127.0.0.1:9' },
      { readyTimeoutMs: 60_000 },
    );
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    expect(await app.stop()).toBe(0);
  },
});
