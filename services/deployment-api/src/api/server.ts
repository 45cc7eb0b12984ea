// The API port: one HTTP/2 TLS server (HTTP/1.1 allowed for gRPC-Web and JSON clients) that
// requires a client certificate verified against the configured CA, TLS 1.3 only. Connect serves
// gRPC, gRPC-Web and Connect JSON from the same handlers. Interceptors, outermost first: metrics,
// authorisation by certificate identity, availability (503 while the cluster view is not live).
// Around them: refused handshakes are logged and counted with their reason; requests refused
// before a handler (malformed protobuf, bad or unknown JSON fields, unknown methods) answer
// INVALID_ARGUMENT or UNIMPLEMENTED in the caller's protocol and are logged and counted too.
import { readFileSync } from 'node:fs';
import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';

import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type Interceptor,
} from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { UniversalHandlerOptions } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';

import type { Counter, Histogram, Logger } from '@sre-platform/service-kit';

import { codeName } from '../connect-code.ts';
import { Health } from '../gen/health/v1/health_pb.js';
import { DeploymentService } from '../gen/sre_platform/deployments/v1/deployments_pb.js';
import { allowed, callerFromSocket, callerKey, WRITE_METHODS, type RoleMapping } from './identity.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile: string;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  tls: TlsFiles;
  reloadIntervalMs: number;
  roles: RoleMapping;
  logger: Logger;
  rpcDuration: Histogram<'method' | 'code'>;
  /** Requests refused before a handler saw them, by reason. */
  rejectedRequests: Counter<'reason'>;
  /** TLS connections refused, by reason (no certificate, expired, untrusted CA, TLS version...). */
  refusedHandshakes: Counter<'reason'>;
  /** Why the DeploymentService cannot answer now (503), or undefined. */
  unavailable: () => string | undefined;
  routes: (router: ConnectRouter) => void;
}

export interface ApiServer {
  server: Http2SecureServer;
  url: string;
  close(timeoutMs: number): Promise<boolean>;
}

function readTls(files: TlsFiles) {
  return {
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ca: readFileSync(files.clientCaFile),
  };
}

/** The caller's address, for logs about requests and connections this server refused. */
const peerKey = createContextKey<string>('', { description: 'peer address' });
const peerOf = (socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
  `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

/**
 * Why a request was refused before any handler saw it, or undefined when the error is not such a
 * refusal. Connect reports a protobuf body it cannot parse as INTERNAL ("parse binary: ..."), as if
 * the server were at fault; it is the caller's, so it becomes INVALID_ARGUMENT here.
 */
export function requestRejection(err: ConnectError): string | undefined {
  if (err.code === Code.Internal && err.rawMessage.startsWith('parse binary:')) return 'malformed_protobuf';
  if (err.code === Code.InvalidArgument && /from JSON: key ".*" is unknown/.test(err.rawMessage))
    return 'unknown_field';
  // JSON.parse's and protobuf-es's JSON errors all name JSON; the API's own messages never do.
  if (err.code === Code.InvalidArgument && /\bJSON\b/.test(err.rawMessage)) return 'invalid_json';
  if (err.code === Code.ResourceExhausted) return 'too_large';
  return undefined;
}

/** Reason labels for refused TLS connections: a bounded set; the log line has the exact code. */
export function handshakeRefusal(code: string | undefined): string {
  switch (code) {
    case undefined:
    case 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE':
    case 'NO_CERTIFICATE':
      return 'no_certificate';
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not_yet_valid';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return 'untrusted_ca';
    case 'CERT_REVOKED':
      return 'revoked';
    case 'INVALID_PURPOSE':
      return 'wrong_key_usage';
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
    case 'ERR_SSL_NO_PROTOCOLS_AVAILABLE':
    case 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'protocol_version';
    case 'ECONNRESET':
      return 'connection_reset';
    case 'ERR_SSL_HTTP_REQUEST':
      return 'plain_http';
    default:
      return code.startsWith('CERT_') || code.endsWith('_CERT') ? 'bad_certificate' : 'handshake_error';
  }
}

/** Subject or issuer as "CN=..., O=...", for logs (names only, nothing secret). */
function dn(name: Record<string, string | string[] | undefined> | undefined): string | undefined {
  if (!name) return undefined;
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : (v ?? '')}`)
    .join(', ');
}

export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const { logger } = o;

  const metrics: Interceptor = (next) => async (req) => {
    const start = performance.now();
    let code: Code | undefined;
    try {
      return await next(req);
    } catch (err) {
      code = ConnectError.from(err).code;
      throw err;
    } finally {
      o.rpcDuration.observe({ method: req.method.name, code: codeName(code) }, (performance.now() - start) / 1000);
    }
  };
  const authorise: Interceptor = (next) => async (req) => {
    const caller = req.contextValues.get(callerKey);
    if (!caller) throw new ConnectError('a verified client certificate is required', Code.Unauthenticated);
    if (req.service.typeName === Health.typeName) return next(req);
    if (!allowed(caller.role, req.method.name)) {
      logger.warn({ caller: caller.name, groups: caller.groups, method: req.method.name }, 'permission denied');
      throw new ConnectError(
        `${caller.name} (${caller.role ?? 'no role'}) may not call ${req.method.name}`,
        Code.PermissionDenied,
      );
    }
    return next(req);
  };
  const available: Interceptor = (next) => async (req) => {
    if (req.service.typeName === DeploymentService.typeName) {
      const reason = o.unavailable();
      if (reason) throw new ConnectError(reason, Code.Unavailable);
    }
    const res = await next(req);
    if (WRITE_METHODS.has(req.method.name)) {
      const caller = req.contextValues.get(callerKey);
      const ref = (req.message as { ref?: { namespace?: string; name?: string } }).ref;
      logger.info(
        { caller: caller?.name, method: req.method.name, namespace: ref?.namespace, name: ref?.name },
        'write accepted',
      );
    }
    return res;
  };

  // Every call gets a context; when it ends with an error that refused the request itself (not a
  // handler's answer), that error is logged, counted, and a protobuf parse error re-coded before
  // the protocol writes it (the abort listener runs synchronously, before the status is read).
  const requestGate: UniversalHandlerOptions['requestGate'] = (ctx) => {
    ctx.signal.addEventListener(
      'abort',
      () => {
        const err: unknown = ctx.signal.reason;
        if (!(err instanceof ConnectError)) return;
        const reason = requestRejection(err);
        if (!reason) return;
        if (reason === 'malformed_protobuf') (err as { code: Code }).code = Code.InvalidArgument;
        o.rejectedRequests.inc({ reason });
        logger.info(
          {
            reason,
            protocol: ctx.protocolName,
            method: `${ctx.service.typeName}/${ctx.method.name}`,
            caller: ctx.values.get(callerKey)?.name,
            peer: ctx.values.get(peerKey),
            err: err.rawMessage,
          },
          'request rejected',
        );
      },
      { once: true },
    );
  };

  // An unknown service or method: UNIMPLEMENTED in the caller's protocol. For gRPC that is a
  // "trailers-only" answer (one HEADERS frame with END_STREAM carrying grpc-status), which is what
  // gRPC clients expect; a bare 404 makes them report a stream closed without trailers.
  const unimplemented = (req: IncomingMessage | Http2ServerRequest, response: unknown): void => {
    // Both HTTP versions' responses have these two; the union's overloads do not unify.
    const res = response as {
      writeHead(status: number, headers: Record<string, string>): void;
      end(body?: Uint8Array): void;
    };
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    const message = `unknown method ${path}`;
    o.rejectedRequests.inc({ reason: 'unknown_method' });
    logger.info(
      {
        reason: 'unknown_method',
        path,
        contentType,
        caller: callerFromSocket(req.socket, o.roles)?.name,
        peer: peerOf(req.socket),
      },
      'request rejected',
    );
    const grpcStatus = {
      'grpc-status': String(Code.Unimplemented),
      'grpc-message': encodeURIComponent(message),
    };
    if (contentType.startsWith('application/grpc-web')) {
      const type = contentType.startsWith('application/grpc-web-text')
        ? 'application/grpc-web-text'
        : 'application/grpc-web+proto';
      res.writeHead(200, { 'content-type': type, ...grpcStatus });
      res.end();
    } else if (contentType.startsWith('application/grpc') && 'stream' in req) {
      req.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...grpcStatus }, { endStream: true });
    } else {
      const error = new ConnectError(message, Code.Unimplemented);
      res.writeHead(codeToHttpStatus(error.code), { 'content-type': 'application/json' });
      res.end(errorToJsonBytes(error, {}));
    }
  };

  const handler = connectNodeAdapter({
    routes: o.routes,
    interceptors: [metrics, authorise, available],
    contextValues: (req) =>
      createContextValues().set(callerKey, callerFromSocket(req.socket, o.roles)).set(peerKey, peerOf(req.socket)),
    // Requests bigger than this are refused: every request message here is tiny.
    readMaxBytes: 64 * 1024,
    // A JSON key the message does not have is an error, not silently dropped: {"replica":5}
    // must not read as a request without a count.
    jsonOptions: { ignoreUnknownFields: false },
    requestGate,
    fallback: unimplemented,
  });

  let current = readTls(o.tls);
  const server = createSecureServer(
    {
      ...current,
      minVersion: 'TLSv1.3',
      requestCert: true,
      // Verified below, per connection: Node's own refusal (rejectUnauthorized) closes the socket
      // without a word to the client or the log. Nothing reaches a handler without a verified
      // certificate either way (the caller is read only from an authorised socket).
      rejectUnauthorized: false,
      allowHTTP1: true,
    },
    (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
      if ((req.socket as Partial<TLSSocket>).authorized !== true) {
        req.socket.destroy();
        return;
      }
      handler(req, res);
    },
  );

  const refuse = (socket: TLSSocket, code: string | undefined, detail: string) => {
    const reason = handshakeRefusal(code);
    o.refusedHandshakes.inc({ reason });
    const cert = socket.getPeerCertificate?.() as PeerCertificate | null | undefined;
    const present = !!cert && Object.keys(cert).length > 0;
    logger.info(
      {
        reason,
        code,
        peer: peerOf(socket),
        ...(present
          ? {
              subject: dn(cert.subject as unknown as Record<string, string | string[]>),
              issuer: dn(cert.issuer as unknown as Record<string, string | string[]>),
              validTo: cert.valid_to,
              fingerprint256: cert.fingerprint256,
            }
          : {}),
        err: detail,
      },
      'TLS handshake refused',
    );
    return reason;
  };
  /** An unverified peer: what was wrong, in the log, the metric, and (HTTP/2) a GOAWAY's debug data. */
  const unverified = (socket: TLSSocket): string => {
    const code = socket.authorizationError as unknown as string | undefined;
    const cert = socket.getPeerCertificate() as PeerCertificate | null;
    const missing = !cert || Object.keys(cert).length === 0;
    const reason = refuse(socket, missing ? 'NO_CERTIFICATE' : code, missing ? 'no client certificate' : String(code));
    return missing ? 'client certificate required' : `client certificate refused: ${reason} (${String(code)})`;
  };

  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s: ServerHttp2Session) => {
    const socket = s.socket as TLSSocket;
    if (!socket.authorized) {
      // Node cannot send a TLS alert after it verified the certificate, so say why in HTTP/2:
      // GOAWAY with INADEQUATE_SECURITY and the reason as debug data (grpcurl prints it).
      // destroy() flushes the GOAWAY, then ends the connection.
      s.goaway(h2.NGHTTP2_INADEQUATE_SECURITY, 0, Buffer.from(unverified(socket)));
      s.destroy();
      return;
    }
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  // After the HTTP/2 session (if any) was set up for this connection: HTTP/1.1 peers without a
  // verified certificate are closed here.
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized || socket.alpnProtocol === 'h2') return;
    unverified(socket);
    socket.destroy();
  });
  // Refusals during the handshake itself: TLS 1.2 or older, no TLS at all, a reset.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => refuse(socket, err.code, err.message));

  // Rotation: re-read the files (cert-manager rewrites the Secret; the kubelet swaps the volume)
  // and swap the secure context; connections already open keep theirs.
  const reload = setInterval(() => {
    try {
      const next = readTls(o.tls);
      if (next.cert.equals(current.cert) && next.key.equals(current.key) && next.ca.equals(current.ca)) return;
      server.setSecureContext({ ...next, minVersion: 'TLSv1.3' });
      current = next;
      logger.info('TLS certificates reloaded');
    } catch (err) {
      logger.error({ err }, 'TLS reload failed; keeping the previous certificates');
    }
  }, o.reloadIntervalMs);
  reload.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    server,
    url: `https://${host}:${port}`,
    async close(timeoutMs) {
      clearInterval(reload);
      // GOAWAY in two steps, as grpc-go and nghttp2 shut down gracefully: the first announces the shutdown
      // without refusing anything (last stream id 2^31-1), so a stream a client sent before it learnt of the
      // shutdown is still served; a moment later, the second refuses new streams. Clients finish what is in
      // flight and open new connections elsewhere. With one GOAWAY, such streams failed with REFUSED_STREAM.
      for (const s of sessions) if (!s.closed) s.goaway(h2.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
      await new Promise((resolve) => setTimeout(resolve, GOAWAY_GRACE_MS));
      // Only now: node's server.close() also closes every session at once (one GOAWAY), which would refuse
      // the streams the first step exists to serve.
      const closed = new Promise<boolean>((resolve) => server.close(() => resolve(true)));
      for (const s of sessions) s.close();
      const bound = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
      const drained = await Promise.race([closed, bound]);
      if (!drained) for (const s of sessions) s.destroy();
      return drained;
    },
  };
}

/** Between the two GOAWAYs: longer than a round trip between client and pod. */
const GOAWAY_GRACE_MS = 1000;
