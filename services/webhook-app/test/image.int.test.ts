// The image, checked without a Docker engine (see packages/test-platform/src/image.ts).
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { describeImage } from '@sre-platform/test-platform/image';
import { expect } from 'vitest';

describeImage({
  service: 'webhook-app',
  port: 8080,
  // The sibling deployment-api needs it in production; this image must not carry it.
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  async start(dir) {
    const app = await startProcess(
      join(dir, 'services/webhook-app/src/main.ts'),
      {
        PORT: String(await freePort()),
        GITLAB_WEBHOOK_SECRET: 'a-secret-of-sixteen+',
        ROCKETCHAT_URL: 'http://127.0.0.1:9',
        ROCKETCHAT_USER_ID: 'u',
        ROCKETCHAT_AUTH_TOKEN: 't',
        ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
      },
      { readyTimeoutMs: 60_000 }, // a bound for slow, shared machines, not a target
    );
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    expect(await app.stop()).toBe(0);
  },
});
