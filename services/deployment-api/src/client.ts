// A DeploymentService client over mTLS, for the CLI and the tests: gRPC (HTTP/2), Connect JSON
// (HTTP/1.1 or HTTP/2) or gRPC-Web, all against the same server port.
import { ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';

import { Health } from './gen/health/v1/health_pb.js';
import { DeploymentService } from './gen/sre_platform/deployments/v1/deployments_pb.js';

export type Protocol = 'grpc' | 'connect' | 'grpc-web';

export interface ClientOptions {
  baseUrl: string;
  /** PEM: the CA that signed the server's certificate, and this client's certificate and key. */
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  protocol?: Protocol;
  /** Server name to verify, when baseUrl is an address the certificate does not name. */
  servername?: string;
}

/**
 * Transparent retry, as gRPC clients do it: a stream the server refused (HTTP/2 REFUSED_STREAM, sent for streams
 * that raced its GOAWAY while it shut down) never reached the application (RFC 9113, 8.7), so sending it again,
 * on the new connection, is safe for writes too. Any other error is the caller's.
 */
const retryRefusedStreams: Interceptor = (next) => async (req) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await next(req);
    } catch (err) {
      const refused = err instanceof ConnectError && err.message.includes('NGHTTP2_REFUSED_STREAM');
      if (!refused || attempt >= 3 || req.stream) throw err;
    }
  }
};

function transport(o: ClientOptions) {
  const tls = {
    ca: o.ca,
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    ...(o.servername ? { servername: o.servername } : {}),
  };
  switch (o.protocol ?? 'grpc') {
    case 'grpc':
      return createGrpcTransport({ baseUrl: o.baseUrl, nodeOptions: tls, interceptors: [retryRefusedStreams] });
    case 'grpc-web':
      return createGrpcWebTransport({
        baseUrl: o.baseUrl,
        httpVersion: '1.1',
        nodeOptions: tls,
        interceptors: [retryRefusedStreams],
      });
    case 'connect':
      return createConnectTransport({
        baseUrl: o.baseUrl,
        httpVersion: '1.1',
        nodeOptions: tls,
        interceptors: [retryRefusedStreams],
      });
  }
}

export function deploymentClient(o: ClientOptions): Client<typeof DeploymentService> {
  return createClient(DeploymentService, transport(o));
}

export function healthClient(o: ClientOptions): Client<typeof Health> {
  return createClient(Health, transport(o));
}
