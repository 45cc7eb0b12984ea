// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts).
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'users-api',
  port: 8084,
  // Everything is bundled (the AWS SDK, Fastify, multipart): no node_modules at all, and no sibling's packages.
  mustNotContain: [
    '@aws-sdk/client-s3',
    '@aws-sdk/client-dynamodb',
    '@fastify/multipart',
    'fastify',
    '@kubernetes/client-node',
    '@electric-sql/pglite',
  ],
  // No env: readiness needs DynamoDB and S3. Instead the bundle starts with a bad PORT and its start-up validation
  // refuses it, naming the variable: the whole service loaded from the image's bundle, type stripping off. (The
  // refusal's exit status is reported and turned into 0, so that the run counts as completed.)
  commands: [
    {
      args: [
        '-e',
        "process.env.PORT = 'not-a-port'; process.on('exit', (c) => { console.log('exit ' + c); process.exitCode = 0; }); import('./main.js')",
      ],
      logContains: 'invalid configuration: ',
    },
  ],
});
