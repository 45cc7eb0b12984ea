// `make certs`: a development CA, a server certificate for localhost and the in-cluster Service
// names, and two client identities (operator, reader), written to services/deployment-api/.certs/.
// Existing files are kept unless --force is given, so a running server is not disturbed.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createAuthority } from './pki.ts';

const dir = process.env['CERTS_DIR'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '.certs');
const force = process.argv.includes('--force');
const namespace = process.env['CERTS_NAMESPACE'] ?? 'deployment-api';

if (existsSync(join(dir, 'ca.crt')) && !force) {
  process.stdout.write(`certificates already in ${dir} (make certs FORCE=1 to reissue)\n`);
  process.exit(0);
}
mkdirSync(dir, { recursive: true, mode: 0o700 });
const ca = await createAuthority();
const server = await ca.issue({
  commonName: 'deployment-api',
  usage: 'server',
  dnsNames: [
    'localhost',
    'deployment-api',
    `deployment-api.${namespace}`,
    `deployment-api.${namespace}.svc`,
    `deployment-api.${namespace}.svc.cluster.local`,
  ],
  ips: ['127.0.0.1', '::1'],
});
const operator = await ca.issue({
  commonName: 'dev-operator',
  organizations: ['deployment-api:operators'],
  usage: 'client',
});
const reader = await ca.issue({ commonName: 'dev-reader', organizations: ['deployment-api:readers'], usage: 'client' });
const files: Record<string, string> = {
  'ca.crt': ca.cert,
  'ca.key': ca.key,
  'server.crt': server.cert,
  'server.key': server.key,
  'operator.crt': operator.cert,
  'operator.key': operator.key,
  'reader.crt': reader.cert,
  'reader.key': reader.key,
};
for (const [file, content] of Object.entries(files)) {
  writeFileSync(join(dir, file), content, { mode: file.endsWith('.key') ? 0o600 : 0o644 });
}
process.stdout.write(`issued a CA, a server certificate and operator/reader client certificates in ${dir}\n`);
