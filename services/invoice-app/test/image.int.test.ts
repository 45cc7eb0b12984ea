// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'invoice-app',
  port: 8081,
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect'],
  mustContain: ['postgres', '@electric-sql/pglite', 'fastify'],
  // Its embedded defaults (PGlite in memory); the provider is only called when invoices are paid.
  env: { PAYMENT_PROVIDER_URL: 'http://127.0.0.1:9' },
});
