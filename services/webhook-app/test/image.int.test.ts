// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'webhook-app',
  port: 8080,
  // The sibling deployment-api needs it in production; this image must not carry it.
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  // Its embedded defaults (PGlite in memory); Rocket.Chat is only called when a webhook is delivered.
  env: {
    GITLAB_WEBHOOK_SECRET: 'a-secret-of-sixteen+',
    ROCKETCHAT_URL: 'http://127.0.0.1:9',
    ROCKETCHAT_USER_ID: 'u',
    ROCKETCHAT_AUTH_TOKEN: 't',
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
  },
});
