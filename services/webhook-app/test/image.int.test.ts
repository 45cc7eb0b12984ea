// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'webhook-app',
  port: 8080,
  // Bundled: postgres, fastify and the rest are in main.js; only PGlite (wasm and data files) stays a package.
  // The sibling deployment-api's client-node must not come along either.
  mustContain: ['@electric-sql/pglite'],
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect', 'postgres', 'fastify'],
  // Its embedded defaults (PGlite in memory); Rocket.Chat is only called when a webhook is delivered.
  env: {
    GITLAB_WEBHOOK_SECRET: 'a-secret-of-sixteen+',
    ROCKETCHAT_URL: 'http://127.0.0.1:9',
    ROCKETCHAT_USER_ID: 'u',
    ROCKETCHAT_AUTH_TOKEN: 't',
    ROCKETCHAT_DEFAULT_RECIPIENT: 'ops',
  },
});
