// The image, checked without a Docker engine (see packages/test-platform/src/image.ts).
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { describeImage } from '@sre-platform/test-platform/image';
import { expect } from 'vitest';

describeImage({
  service: 'payment-provider',
  port: 8082,
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  async start(dir) {
    const app = await startProcess(
      join(dir, 'services/payment-provider/src/main.ts'),
      { PORT: String(await freePort()) },
      { readyTimeoutMs: 60_000 },
    );
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    expect(await app.stop()).toBe(0);
  },
});
