// A DeploymentService client over mTLS, for the CLI and the tests: gRPC (HTTP/2), Connect JSON
// (HTTP/1.1 or HTTP/2) or gRPC-Web, all against the same server port.
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';

import { Health } from './gen/grpc/health/v1/health_pb.js';
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

function transport(o: ClientOptions) {
  const tls = {
    ca: o.ca,
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    ...(o.servername ? { servername: o.servername } : {}),
  };
  switch (o.protocol ?? 'grpc') {
    case 'grpc':
      return createGrpcTransport({ baseUrl: o.baseUrl, nodeOptions: tls });
    case 'grpc-web':
      return createGrpcWebTransport({ baseUrl: o.baseUrl, httpVersion: '1.1', nodeOptions: tls });
    case 'connect':
      return createConnectTransport({ baseUrl: o.baseUrl, httpVersion: '1.1', nodeOptions: tls });
  }
}

export function deploymentClient(o: ClientOptions): Client<typeof DeploymentService> {
  return createClient(DeploymentService, transport(o));
}

export function healthClient(o: ClientOptions): Client<typeof Health> {
  return createClient(Health, transport(o));
}
