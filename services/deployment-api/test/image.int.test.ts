// The image, checked without a Docker engine (see packages/test-platform/src/image.ts): the
// server must start against the cluster from the replayed production-only install, and the CLI too.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { cluster } from '@sre-platform/test-platform';
import { describeImage } from '@sre-platform/test-platform/image';
import { expect } from 'vitest';

import { applyCrd, makePki } from './harness.ts';

describeImage({
  service: 'deployment-api',
  port: 8080,
  mustNotContain: ['@bufbuild/buf', '@bufbuild/protoc-gen-es', '@peculiar/x509', 'postgres'],
  mustContain: ['@kubernetes/client-node', '@connectrpc/connect', '@connectrpc/connect-node'],
  async start(dir) {
    await applyCrd();
    const pki = await makePki();
    const port = await freePort();
    const app = await startProcess(join(dir, 'services/deployment-api/src/main.ts'), {
      PORT: String(port),
      API_PORT: String(await freePort()),
      TLS_CERT_FILE: pki.files.serverCert,
      TLS_KEY_FILE: pki.files.serverKey,
      TLS_CLIENT_CA_FILE: pki.files.caCert,
      KUBECONFIG: cluster().kubeconfig,
      WATCH_NAMESPACE: 'default',
      LEASE_NAME: `image-test-${port}`,
    });
    expect(await app.stop()).toBe(0);
    const help = execFileSync(process.execPath, [join(dir, 'services/deployment-api/src/cli.ts'), '--help'], {
      encoding: 'utf8',
    });
    expect(help).toContain('usage: deployctl');
  },
});
