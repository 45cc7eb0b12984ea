// The image, built from the Dockerfile and run on the real node (see packages/test-platform/src/image.ts). The
// server needs the apiserver, its certificates and its RBAC, which its chart gives it; here its CLI runs.
import { describeImage } from '@sre-platform/test-platform/image';

describeImage({
  service: 'deployment-api',
  port: 8080,
  // Everything is bundled: no node_modules at all.
  mustNotContain: [
    '@bufbuild/buf',
    '@bufbuild/protoc-gen-es',
    '@peculiar/x509',
    'postgres',
    '@kubernetes/client-node',
    '@connectrpc/connect',
  ],
  commands: [
    { args: ['deployctl.js', '--help'], logContains: 'usage: deployctl' },
    { args: ['main.js', '--version'], logContains: 'deployment-api ' },
  ],
});
