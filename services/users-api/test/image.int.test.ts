// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'users-api',
  port: 8084,
  // The siblings' production dependencies; this image must not carry them.
  mustNotContain: ['@kubernetes/client-node', '@connectrpc/connect', 'postgres', '@electric-sql/pglite'],
  mustContain: [
    '@aws-sdk/client-s3',
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/lib-storage',
    '@fastify/multipart',
    'fastify',
  ],
  // No env: readiness needs DynamoDB and S3, which the real node's pods do not reach here. Instead, every module
  // of the service loads from the production tree, and the configuration says what it would use.
  commands: [
    {
      args: [
        '-e',
        "import('./services/users-api/src/app.ts').then(() => import('./services/users-api/src/config.ts')).then((c) => console.log('users-api loads', JSON.stringify(c.readConfig({}))))",
      ],
      logContains: 'users-api loads {"HOST"',
    },
  ],
});
