// The API port: one HTTP/2 TLS server (HTTP/1.1 allowed for gRPC-Web and JSON clients) that
// requires a client certificate verified against the configured CA, TLS 1.3 only. Connect serves
// gRPC, gRPC-Web and Connect JSON from the same handlers. Interceptors, outermost first: metrics,
// authorisation by certificate identity, availability (503 while the cluster view is not live).
import { readFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { Code, ConnectError, createContextValues, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';

import type { Histogram, Logger } from '@sre-platform/service-kit';

import { Health } from '../gen/grpc/health/v1/health_pb.js';
import { DeploymentService } from '../gen/sre_platform/deployments/v1/deployments_pb.js';
import { allowed, callerFromSocket, callerKey, type RoleMapping } from './identity.ts';

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

const codeName = (code: Code | undefined) =>
  code === undefined ? 'ok' : Code[code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

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
    if (WRITE.has(req.method.name)) {
      const caller = req.contextValues.get(callerKey);
      const ref = (req.message as { ref?: { namespace?: string; name?: string } }).ref;
      logger.info(
        { caller: caller?.name, method: req.method.name, namespace: ref?.namespace, name: ref?.name },
        'write accepted',
      );
    }
    return res;
  };

  const handler = connectNodeAdapter({
    routes: o.routes,
    interceptors: [metrics, authorise, available],
    contextValues: (req) => createContextValues().set(callerKey, callerFromSocket(req.socket, o.roles)),
    // Requests bigger than this are refused: every request message here is tiny.
    readMaxBytes: 64 * 1024,
  });

  let current = readTls(o.tls);
  const server = createSecureServer(
    {
      ...current,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: true,
    },
    handler,
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s: ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('tlsClientError', (err: Error) => logger.debug({ err: err.message }, 'TLS handshake refused'));

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
      const closed = new Promise<boolean>((resolve) => server.close(() => resolve(true)));
      // GOAWAY: clients finish what is in flight and open new connections elsewhere.
      for (const s of sessions) s.close();
      const bound = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
      const drained = await Promise.race([closed, bound]);
      if (!drained) for (const s of sessions) s.destroy();
      return drained;
    },
  };
}

const WRITE = new Set(['SetDesiredReplicas', 'Unmanage']);
