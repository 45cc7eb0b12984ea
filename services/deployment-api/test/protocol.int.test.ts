// What the API answers to requests it must refuse before any handler (a typo in a JSON key,
// malformed protobuf, an unknown method), as independent clients see it on the wire: raw HTTP/2
// requests for the exact status and headers, and a real gRPC client (Connect's, over the gRPC
// protocol) for UNIMPLEMENTED and server reflection. Every refusal is logged and counted.
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';

import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as k8s from '@kubernetes/client-node';
import { kubeConfig, uniqueName } from '@sre-platform/test-platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ServerReflection } from '../src/gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from '../src/gen/grpc/reflection/v1alpha/reflection_pb.js';
import { DeploymentService } from '../src/gen/sre_platform/deployments/v1/deployments_pb.js';
import {
  apps,
  clientFor,
  createDeployment,
  eventually,
  failure,
  logLines,
  metricValue,
  useFileServer,
  watching,
} from './harness.ts';

// One namespace for the whole file (the server, started once, watches only it and leads only there).
const ns = { name: uniqueName('dapi-proto') };
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const SERVICE = '/sre_platform.deployments.v1.DeploymentService';
beforeAll(async () => {
  await core().createNamespace({ body: { metadata: { name: ns.name, labels: { 'sre-platform/test': 'true' } } } });
});
afterAll(async () => {
  await core()
    .deleteNamespace({ name: ns.name })
    .catch(() => undefined);
});
// After the namespace is there, and stopped before it goes.
const { pki, server } = useFileServer(watching(ns));
let h2: ClientHttp2Session;
beforeAll(() => {
  h2 = connect(server.apiUrl, { ca: pki.ca.cert, cert: pki.operator.cert, key: pki.operator.key });
});
afterAll(() => {
  h2.close();
});

interface Answer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: string;
}

/** One raw HTTP/2 request: what a curl or a hand-written gRPC client sends, nothing added. */
function send(path: string, contentType: string, body: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = h2.request({ ':method': 'POST', ':path': path, 'content-type': contentType, te: 'trailers' });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    let text = '';
    req.on('response', (h: IncomingHttpHeaders) => (headers = h));
    req.on('trailers', (t: IncomingHttpHeaders) => (trailers = t));
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => resolve({ headers, trailers, body: text }));
    req.on('error', reject);
    req.end(body);
  });
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
/** A gRPC length-prefixed message (uncompressed). */
const grpcFrame = (payload: Uint8Array) => {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
};
/** Field 1 (ref), length-delimited, claiming 127 bytes that are not there. */
const TRUNCATED = new Uint8Array([0x0a, 0x7f, 0x01]);

const metric = (name: string, labels: string) => metricValue(server, name, labels);

describe('a typo never scales to zero', () => {
  it('refuses unknown JSON fields with the field named, and a missing count on every protocol', async () => {
    await createDeployment(ns.name, 'web', 2);
    const api = clientFor(server, pki, pki.operator);
    const ref = { namespace: ns.name, name: 'web' };
    await eventually('web in the cache', async () =>
      (await api.getDeployment({ ref })).deployment ? true : undefined,
    );

    const typo = await send(`${SERVICE}/SetDesiredReplicas`, 'application/json', json({ ref, replica: 5 }));
    expect(typo.headers[':status']).toBe(400);
    expect(JSON.parse(typo.body)).toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('"replica"'),
    });
    // Nested keys too, and on read methods as well.
    const nested = await send(
      `${SERVICE}/GetDeployment`,
      'application/json',
      json({ ref: { namespace: ns.name, nmae: 'web' } }),
    );
    expect(nested.headers[':status']).toBe(400);
    expect(JSON.parse(nested.body)).toMatchObject({ message: expect.stringContaining('"nmae"') });

    // No count at all: JSON without the key, gRPC without the field. Refused, never read as 0.
    const none = await send(`${SERVICE}/SetDesiredReplicas`, 'application/json', json({ ref }));
    expect(none.headers[':status']).toBe(400);
    expect(JSON.parse(none.body)).toMatchObject({ message: expect.stringContaining('replicas is required') });
    for (const protocol of ['grpc', 'grpc-web', 'connect'] as const) {
      const err = await failure(clientFor(server, pki, pki.operator, protocol).setDesiredReplicas({ ref }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toContain('replicas is required');
    }
    const untouched = (await api.getDeployment({ ref })).deployment;
    expect(untouched?.specReplicas).toBe(2);
    expect(untouched?.management).toBeUndefined();
    expect((await apps().readNamespacedDeployment({ namespace: ns.name, name: 'web' })).spec?.replicas).toBe(2);

    // An explicit 0 is still a count: JSON {"replicas":0} and gRPC with the field set to 0.
    const zero = await send(`${SERVICE}/SetDesiredReplicas`, 'application/json', json({ ref, replicas: 0 }));
    expect(zero.headers[':status']).toBe(200);
    expect(JSON.parse(zero.body)).toMatchObject({ deployment: { management: { state: 'drifted' } } });
    const set = await api.setDesiredReplicas({ ref, replicas: 0 });
    expect(set.deployment?.management?.desiredReplicas).toBe(0);
    await api.unmanage({ ref });

    expect(await metric('deployment_api_requests_rejected_total', 'reason="unknown_field"')).toBe(2);
    const logged = logLines(server).filter((l) => l['msg'] === 'request rejected' && l['reason'] === 'unknown_field');
    expect(logged.map((l) => l['method'])).toEqual([
      'sre_platform.deployments.v1.DeploymentService/SetDesiredReplicas',
      'sre_platform.deployments.v1.DeploymentService/GetDeployment',
    ]);
    expect(logged[0]).toMatchObject({
      protocol: 'connect',
      caller: 'op',
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
  });
});

describe('malformed protobuf', () => {
  it('answers INVALID_ARGUMENT on application/proto and gRPC, and logs and counts each', async () => {
    const before = await metric('deployment_api_requests_rejected_total', 'reason="malformed_protobuf"');
    const proto = await send(`${SERVICE}/GetDeployment`, 'application/proto', TRUNCATED);
    expect(proto.headers[':status']).toBe(400);
    expect(JSON.parse(proto.body)).toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('parse binary'),
    });

    const grpc = await send(`${SERVICE}/GetDeployment`, 'application/grpc', grpcFrame(TRUNCATED));
    expect(grpc.headers[':status']).toBe(200);
    expect(grpc.trailers?.['grpc-status']).toBe(String(Code.InvalidArgument));

    const web = await send(`${SERVICE}/ListDeployments`, 'application/grpc-web+proto', grpcFrame(TRUNCATED));
    expect(web.headers[':status']).toBe(200);
    // gRPC-Web carries the status in a trailer frame inside the body.
    expect(web.body).toContain(`grpc-status: ${Code.InvalidArgument}`);

    expect(await metric('deployment_api_requests_rejected_total', 'reason="malformed_protobuf"')).toBe(before + 3);
    const logged = logLines(server).filter((l) => l['reason'] === 'malformed_protobuf');
    expect(logged.map((l) => l['protocol'])).toEqual(['connect', 'grpc', 'grpc-web']);
    expect(logged.every((l) => l['level'] === 'info' && String(l['err']).startsWith('parse binary'))).toBe(true);
  });
});

describe('unknown methods and reflection', () => {
  const transport = () =>
    createGrpcTransport({
      baseUrl: server.apiUrl,
      nodeOptions: { ca: pki.ca.cert, cert: pki.reader.cert, key: pki.reader.key },
    });

  it('answers an unknown method UNIMPLEMENTED in the caller protocol', async () => {
    // A real gRPC client calling a method the server does not have.
    const unknown = { ...DeploymentService.method.getDeployment, name: 'ScaleEverythingToZero' };
    const err = await failure(
      transport().unary(
        unknown,
        undefined,
        undefined,
        undefined,
        { ref: { namespace: 'default', name: 'x' } },
        undefined,
      ),
    );
    expect(err.code).toBe(Code.Unimplemented);
    expect(err.rawMessage).toContain('/sre_platform.deployments.v1.DeploymentService/ScaleEverythingToZero');

    // On the wire: a trailers-only gRPC answer (grpc-status in the one HEADERS frame, stream ended),
    // not a bare 404 that gRPC clients report as "closed the stream without sending trailers".
    const grpc = await send('/no.such.Service/Call', 'application/grpc', grpcFrame(new Uint8Array()));
    expect(grpc.headers).toMatchObject({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' });
    const web = await send('/no.such.Service/Call', 'application/grpc-web+proto', grpcFrame(new Uint8Array()));
    expect(web.headers).toMatchObject({ ':status': 200, 'grpc-status': '12' });
    const connectJson = await send('/no.such.Service/Call', 'application/json', json({}));
    expect(connectJson.headers[':status']).toBe(501);
    expect(JSON.parse(connectJson.body)).toMatchObject({ code: 'unimplemented' });
    expect(await metric('deployment_api_requests_rejected_total', 'reason="unknown_method"')).toBe(4);
  });

  it('lists and describes the services over gRPC server reflection v1 and v1alpha', async () => {
    const client = createClient(ServerReflection, transport());
    async function* requests() {
      yield { host: '', messageRequest: { case: 'listServices' as const, value: '*' } };
      yield {
        host: '',
        messageRequest: {
          case: 'fileContainingSymbol' as const,
          value: 'sre_platform.deployments.v1.DeploymentService.SetDesiredReplicas',
        },
      };
      yield { host: '', messageRequest: { case: 'fileContainingSymbol' as const, value: 'no.Such' } };
    }
    const answers = [];
    for await (const a of client.serverReflectionInfo(requests())) answers.push(a.messageResponse);
    expect(answers[0]?.case).toBe('listServicesResponse');
    const names = answers[0]?.case === 'listServicesResponse' ? answers[0].value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual([
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
      'sre_platform.deployments.v1.DeploymentService',
    ]);
    expect(answers[1]?.case).toBe('fileDescriptorResponse');
    const files =
      answers[1]?.case === 'fileDescriptorResponse'
        ? answers[1].value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b))
        : [];
    expect(files[0]?.name).toBe('sre_platform/deployments/v1/deployments.proto');
    const request = files[0]?.messageType.find((m) => m.name === 'SetDesiredReplicasRequest');
    // The descriptor says what a reflection client (grpcurl) needs: replicas has presence.
    expect(request?.field.find((f) => f.name === 'replicas')?.proto3Optional).toBe(true);
    expect(answers[2]).toMatchObject({ case: 'errorResponse', value: { errorCode: Code.NotFound } });

    const alpha = createClient(ServerReflectionV1alpha, transport());
    async function* one() {
      yield { host: '', messageRequest: { case: 'listServices' as const, value: '' } };
    }
    for await (const a of alpha.serverReflectionInfo(one())) {
      expect(a.messageResponse.case).toBe('listServicesResponse');
    }
  });

  it('refuses reflection to a certificate without a role, like every other method', async () => {
    const stranger = await pki.ca.issue({ commonName: 'nobody', organizations: ['elsewhere'], usage: 'client' });
    const client = createClient(
      ServerReflection,
      createGrpcTransport({
        baseUrl: server.apiUrl,
        nodeOptions: { ca: pki.ca.cert, cert: stranger.cert, key: stranger.key },
      }),
    );
    async function* one() {
      yield { host: '', messageRequest: { case: 'listServices' as const, value: '' } };
    }
    const err = await failure(
      (async () => {
        for await (const a of client.serverReflectionInfo(one())) void a;
      })(),
    );
    expect(err.code).toBe(Code.PermissionDenied);
  });
});
