// The API port's security: TLS 1.3 only, a client certificate required and verified against the
// configured CA, and the certificate's identity deciding between read-only and operator.
import { writeFileSync } from 'node:fs';
import { connect as h2Connect } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

import { Code } from '@connectrpc/connect';
import { useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { healthClient } from '../src/client.ts';
import { HealthCheckResponse_ServingStatus } from '../src/gen/health/v1/health_pb.js';
import { createAuthority } from '../scripts/pki.ts';
import { clientFor, createDeployment, eventually, failure, logLines, metricValue, useFileServer } from './harness.ts';

const ns = useNamespace('dapi-tls');
const { pki, server } = useFileServer({
  LEASE_NAME: `lease-${Date.now()}`,
  WATCH_NAMESPACE: 'default',
  TLS_RELOAD_INTERVAL_MS: '1000',
});

// How a Connect client sees a connection the server refused: the GOAWAY, a cancelled or aborted
// stream, or the closed connection, depending on timing; never an answer from a handler
// (PERMISSION_DENIED would mean it got in).
const REFUSED = [Code.Internal, Code.Canceled, Code.Unavailable, Code.Aborted, Code.Unknown];

/** The fingerprint of the certificate the server presents now. */
function serverFingerprint(): Promise<string> {
  const url = new URL(server.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: url.hostname, port: Number(url.port), ca: pki.ca.cert, cert: pki.reader.cert, key: pki.reader.key },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      },
    );
    socket.once('error', reject);
  });
}

/**
 * An HTTP/2 connection attempt, as grpcurl or curl make it, and what the client learns: "open (TLS
 * version)" once the server answered a PING, "refused: goaway <code>: <debug data>" when the server
 * said why it closed the connection, or "refused: <error>" when the handshake itself failed. No
 * timer decides: each outcome is an event the server caused.
 */
function handshake(options: { cert?: string; key?: string; maxVersion?: 'TLSv1.2' }): Promise<string> {
  return new Promise((resolve) => {
    const session = h2Connect(server.apiUrl, { ca: pki.ca.cert, ...options });
    session.once('goaway', (code: number, _last: number, data?: Buffer) =>
      resolve(`refused: goaway ${code}: ${data?.toString() ?? ''}`),
    );
    session.on('error', (e: Error) => resolve(`refused: ${e.message}`));
    session.once('close', () => resolve('closed'));
    session.once('connect', () =>
      session.ping((err) => {
        if (err) return;
        resolve(`open (${(session.socket as TLSSocket).getProtocol() ?? '?'})`);
        session.close();
      }),
    );
  });
}

const refusals = (reason: string) =>
  metricValue(server, 'deployment_api_tls_handshakes_refused_total', `reason="${reason}"`);

const refusedLogs = () => logLines(server).filter((l) => l['msg'] === 'TLS handshake refused');

describe('mTLS on the API port', () => {
  it('accepts a client certificate from the configured CA over TLS 1.3', async () => {
    expect(await handshake({ cert: pki.reader.cert, key: pki.reader.key })).toBe('open (TLSv1.3)');
    const health = healthClient({
      baseUrl: server.apiUrl,
      ca: pki.ca.cert,
      cert: pki.reader.cert,
      key: pki.reader.key,
    });
    const r = await health.check({ service: '' });
    expect(r.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    // List, which the health protocol added in 2024: every service the server reports on.
    const all = await health.list({});
    expect(Object.keys(all.statuses).sort()).toEqual(['', 'sre_platform.deployments.v1.DeploymentService']);
    expect(Object.values(all.statuses).map((s) => s.status)).toEqual([
      HealthCheckResponse_ServingStatus.SERVING,
      HealthCheckResponse_ServingStatus.SERVING,
    ]);
  });

  it('refuses a client without a certificate', async () => {
    // Closed right after the handshake, with the reason in an HTTP/2 GOAWAY (INADEQUATE_SECURITY).
    expect(await handshake({})).toBe('refused: goaway 12: client certificate required');
    const err = await failure(clientFor(server, pki, undefined).listDeployments({}));
    expect(REFUSED).toContain(err.code);
  });

  it('refuses a certificate from another CA, even with the operator group', async () => {
    const other = await createAuthority('untrusted CA');
    const intruder = await other.issue({
      commonName: 'mallory',
      organizations: ['deployment-api:operators'],
      usage: 'client',
    });
    // Never an open connection; the GOAWAY says why.
    expect(await handshake(intruder)).toMatch(/^refused: goaway 12: client certificate refused: untrusted_ca \(/);
    const err = await failure(clientFor(server, pki, intruder).listDeployments({}));
    expect(REFUSED).toContain(err.code);
  });

  it('says why each handshake was refused: in the log at info, in a metric by reason, and to HTTP/2 clients', async () => {
    const expired = await pki.ca.issue({
      commonName: 'former-operator',
      organizations: ['deployment-api:operators'],
      usage: 'client',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const foreign = await (
      await createAuthority('foreign CA')
    ).issue({
      commonName: 'mallory',
      organizations: ['deployment-api:operators'],
      usage: 'client',
    });
    const before = {
      expired: await refusals('expired'),
      untrusted: await refusals('untrusted_ca'),
      none: await refusals('no_certificate'),
      version: await refusals('protocol_version'),
    };
    const logged = refusedLogs().length;

    // An HTTP/2 client (gRPC, curl) gets the reason as GOAWAY INADEQUATE_SECURITY (12) debug data.
    expect(await handshake(expired)).toBe('refused: goaway 12: client certificate refused: expired (CERT_HAS_EXPIRED)');
    expect(await handshake(foreign)).toMatch(/^refused: goaway 12: client certificate refused: untrusted_ca \(/);
    expect(await handshake({})).toBe('refused: goaway 12: client certificate required');
    // A real client over gRPC never reaches a handler.
    expect(REFUSED).toContain((await failure(clientFor(server, pki, expired).listDeployments({}))).code);
    expect(await handshake({ cert: pki.operator.cert, key: pki.operator.key, maxVersion: 'TLSv1.2' })).toMatch(
      /^refused/,
    );

    expect(await refusals('expired')).toBe(before.expired + 2);
    expect(await refusals('untrusted_ca')).toBe(before.untrusted + 1);
    expect(await refusals('no_certificate')).toBe(before.none + 1);
    expect(await refusals('protocol_version')).toBe(before.version + 1);
    const lines = refusedLogs().slice(logged);
    expect(lines).toHaveLength(5);
    expect(lines.every((l) => l['level'] === 'info' && /^127\.0\.0\.1:\d+$/.test(String(l['peer'])))).toBe(true);
    expect(lines[0]).toMatchObject({
      reason: 'expired',
      code: 'CERT_HAS_EXPIRED',
      subject: 'CN=former-operator, O=deployment-api:operators',
      issuer: 'CN=test CA',
    });
    expect(lines[1]).toMatchObject({
      reason: 'untrusted_ca',
      subject: expect.stringContaining('CN=mallory'),
      issuer: 'CN=foreign CA',
    });
    expect(lines[2]).toMatchObject({ reason: 'no_certificate' });
    expect(lines[4]).toMatchObject({ reason: 'protocol_version' });
    // Names and fingerprints only: no key material, no certificate body.
    expect(JSON.stringify(lines)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  it('refuses TLS 1.2', async () => {
    expect(await handshake({ cert: pki.operator.cert, key: pki.operator.key, maxVersion: 'TLSv1.2' })).toMatch(
      /^refused/,
    );
  });

  it('lets a read-only identity read but not write, and an operator do both', async () => {
    await createDeployment('default', `tls-${ns.name}`, 1);
    const reader = clientFor(server, pki, pki.reader);
    const operator = clientFor(server, pki, pki.operator);
    const ref = { namespace: 'default', name: `tls-${ns.name}` };
    await eventually('the deployment in the cache', async () =>
      (await reader.getDeployment({ ref })).deployment ? true : undefined,
    );
    const denied = await failure(reader.setDesiredReplicas({ ref, replicas: 2 }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toContain('rd (reader) may not call SetDesiredReplicas');
    expect((await failure(reader.unmanage({ ref }))).code).toBe(Code.PermissionDenied);

    const stranger = await pki.ca.issue({ commonName: 'nobody', organizations: ['some-other-team'], usage: 'client' });
    expect((await failure(clientFor(server, pki, stranger).listDeployments({}))).code).toBe(Code.PermissionDenied);

    const set = await operator.setDesiredReplicas({ ref, replicas: 2 });
    expect(set.deployment?.management?.desiredReplicas).toBe(2);
    await operator.unmanage({ ref });
    // gRPC-Web and Connect JSON reach the same handlers with the same identity rules.
    for (const protocol of ['grpc-web', 'connect'] as const) {
      expect((await clientFor(server, pki, pki.reader, protocol).getDeployment({ ref })).deployment?.ref?.name).toBe(
        ref.name,
      );
      expect((await failure(clientFor(server, pki, pki.reader, protocol).unmanage({ ref }))).code).toBe(
        Code.PermissionDenied,
      );
    }
  });

  it('serves a rotated certificate without a restart, and reports health as a stream', async () => {
    const before = await serverFingerprint();
    const renewed = await pki.ca.issue({
      commonName: 'deployment-api',
      usage: 'server',
      dnsNames: ['localhost'],
      ips: ['127.0.0.1'],
    });
    writeFileSync(pki.files.serverKey, renewed.key);
    writeFileSync(pki.files.serverCert, renewed.cert);
    const after = await eventually('the new certificate served', async () => {
      const f = await serverFingerprint();
      return f !== before ? f : undefined;
    });
    expect(after).not.toBe(before);
    expect(server.process.child.exitCode).toBeNull();

    const health = healthClient({
      baseUrl: server.apiUrl,
      ca: pki.ca.cert,
      cert: pki.reader.cert,
      key: pki.reader.key,
    });
    const abort = new AbortController();
    for await (const update of health.watch(
      { service: 'sre_platform.deployments.v1.DeploymentService' },
      { signal: abort.signal },
    )) {
      expect(update.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      break;
    }
    abort.abort();
    const unknown = await failure(health.check({ service: 'no.such.Service' }));
    expect(unknown.code).toBe(Code.NotFound);
  });
});
