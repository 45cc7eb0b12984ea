// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'payment-provider',
  port: 8082,
  // Bundled: postgres, fastify and the rest are in main.js; only PGlite (wasm and data files) stays a package.
  mustContain: ['@electric-sql/pglite'],
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect', 'postgres', 'fastify'],
  // Its embedded defaults: PGlite in memory.
  env: {},
});
