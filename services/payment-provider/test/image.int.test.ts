// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'payment-provider',
  port: 8082,
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  // Its embedded defaults: PGlite in memory.
  env: {},
});
