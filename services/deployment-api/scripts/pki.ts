// Development PKI: a CA, a server certificate and client certificates, ECDSA P-256, signed with
// @peculiar/x509 over node:crypto's WebCrypto (node:crypto cannot issue X.509 by itself). Used by
// `make certs` and by the tests, which issue their own CAs to prove untrusted ones are refused.
import { webcrypto } from 'node:crypto';

// @peculiar/x509's dependency injection needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface Pem {
  cert: string;
  key: string;
}

export interface Authority extends Pem {
  issue(options: LeafOptions): Promise<Pem>;
}

export interface LeafOptions {
  commonName: string;
  /** Subject Organization values: the caller's groups, which map to roles. */
  organizations?: string[];
  /** DNS names and IP addresses (server certificates). */
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
  days?: number;
  /** Validity window, for tests of expired or not-yet-valid certificates (default: now, for `days`). */
  notBefore?: Date;
  notAfter?: Date;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function name(commonName: string, organizations: string[] = []): x509.JsonName {
  return [{ CN: [commonName] }, ...(organizations.length > 0 ? [{ O: organizations }] : [])];
}

export async function createAuthority(commonName = 'deployment-api development CA', days = 365): Promise<Authority> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: name(commonName),
    keys,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * DAY),
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const authority: Authority = {
    cert: ca.toString('pem'),
    key: await keyPem(keys.privateKey),
    async issue(o) {
      const leaf = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
      const sans = [
        ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
      ];
      const cert = await x509.X509CertificateGenerator.create({
        subject: name(o.commonName, o.organizations),
        issuer: ca.subject,
        publicKey: leaf.publicKey,
        signingKey: keys.privateKey,
        notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
        notAfter: o.notAfter ?? new Date(Date.now() + (o.days ?? 90) * DAY),
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(
            [o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
            false,
          ),
          ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      return { cert: cert.toString('pem'), key: await keyPem(leaf.privateKey) };
    },
  };
  return authority;
}
