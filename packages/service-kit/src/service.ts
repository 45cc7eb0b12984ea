// createService(): a Fastify instance with everything ARCHITECTURE.md asks of every service.
// Routes are the service's (register them as an encapsulated plugin: see registerRoutes in each
// service); health, readiness, metrics, errors and logging are the kit's plugins (plugins.ts), and
// shutdown is here.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyPluginCallback,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';

import type { BaseConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type HttpMetrics } from './metrics.ts';
import { accessLog, pathOf, probes, problemErrors, startingGate } from './plugins.ts';
import { problem, PROBLEM_CONTENT_TYPE, titleFor } from './problem.ts';

export type ServiceApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

/**
 * A plugin of a ServiceApp, typed like it (its logger, TypeBox). A service's routes are one: registered
 * with app.register, they are encapsulated, so a content-type parser or hook declared inside applies
 * to those routes only.
 */
export type ServicePlugin<Options extends Record<string, unknown> = Record<never, never>> = FastifyPluginCallback<
  Options,
  RawServerDefault,
  TypeBoxTypeProvider,
  Logger
>;

/** The same as an async function, for routes that must await a plugin of their own first (e.g. multipart). */
export type ServicePluginAsync<Options extends Record<string, unknown> = Record<never, never>> = FastifyPluginAsync<
  Options,
  RawServerDefault,
  TypeBoxTypeProvider,
  Logger
>;

export interface ReadinessCheck {
  name: string;
  /** Resolve when the dependency answers; throw (or time out) when it does not. */
  check: (signal: AbortSignal) => unknown;
  timeoutMs?: number;
  /**
   * While this returns a reason, the dependency is still being set up (a database the service waits
   * for and then migrates): /readyz fails with that reason without calling `check`, and every route
   * but the probes answers 503 with it, since the service's routes cannot work yet.
   */
  starting?: () => string | undefined;
}

export interface ServiceOptions {
  name: string;
  version: string;
  config: BaseConfig;
  /** Defaults to a JSON logger on stdout at config.LOG_LEVEL. */
  logger?: Logger;
  readiness?: ReadinessCheck[];
  /**
   * Names the dependency behind an unexpected error when that dependency is unavailable (its
   * connection refused, reset or timed out), or returns undefined. Such an error is answered 503 with
   * Retry-After, saying which dependency, instead of a 500: the request was fine, and a retry later
   * may succeed. Everything else it does not recognise stays a 500.
   */
  unavailable?: (error: unknown) => string | undefined;
  /** Longest path parameter the router matches (Fastify's default: 100); longer ones get a 414. */
  maxParamLength?: number;
}

export interface Service {
  app: ServiceApp;
  logger: Logger;
  metrics: HttpMetrics;
  readonly draining: boolean;
  /** Listens on config.HOST:PORT; resolves to the base URL. */
  listen(): Promise<string>;
  /**
   * Graceful shutdown: readiness turns 503, SHUTDOWN_DELAY_MS passes, the listener closes and
   * in-flight requests drain within SHUTDOWN_TIMEOUT_MS, then onClose hooks run.
   * Resolves true when everything drained, false when the bound cut requests off.
   */
  shutdown(reason: string): Promise<boolean>;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function createService(options: ServiceOptions): Service {
  const { config, name, version } = options;
  const logger = options.logger ?? createLogger({ name, version, level: config.LOG_LEVEL });
  const metrics = createMetrics({ name, version });
  let draining = false;
  let shutdownPromise: Promise<boolean> | undefined;

  const app = Fastify({
    loggerInstance: logger,
    // One line per request, written by the accessLog plugin, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: config.BODY_LIMIT_BYTES,
    return503OnClosing: false, // requests already on a connection while draining are served, with Connection: close
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    // Requests that node's HTTP parser refuses before Fastify sees them get the one error shape too.
    clientErrorHandler: clientErrorAsProblem,
    // What the router refuses before any route (a malformed URL, a path parameter over maxParamLength) gets the
    // one error shape too: Fastify's default answers these with plain JSON.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 400;
      const detail =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'a path segment is longer than the server accepts'
          : error.code === 'FST_ERR_BAD_URL'
            ? 'malformed URL'
            : titleFor(status);
      void reply
        .code(status)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problem(status, detail, { instance: pathOf(request.url), requestId: request.id }));
    },
    ...(options.maxParamLength === undefined ? {} : { routerOptions: { maxParamLength: options.maxParamLength } }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  })
    // Bodies are validated strictly (no type coercion); params, query and headers are converted.
    .setValidatorCompiler(TypeBoxValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  // The kit's concerns, each a plugin. The first three are shared with every route (fastify-plugin: not
  // encapsulated); the probes are an encapsulated plugin like a service's own routes.
  void app.register(accessLog, { metrics, draining: () => draining });
  void app.register(startingGate, { readiness: options.readiness ?? [] });
  void app.register(problemErrors, { unavailable: options.unavailable });
  void app.register(probes, { metrics, readiness: options.readiness ?? [], draining: () => draining });

  const service: Service = {
    app,
    logger,
    metrics,
    get draining() {
      return draining;
    },
    async listen() {
      return app.listen({ host: config.HOST, port: config.PORT });
    },
    shutdown(reason) {
      shutdownPromise ??= (async () => {
        draining = true;
        logger.info({ reason, delayMs: config.SHUTDOWN_DELAY_MS }, 'shutting down: readiness is now 503');
        if (config.SHUTDOWN_DELAY_MS > 0) await sleep(config.SHUTDOWN_DELAY_MS);
        // The bound is on the requests' drain: the listener's 'close' comes once every connection has ended. The
        // onClose hooks (a worker finishing its batch, a pool closing) run after it, inside app.close(), unbounded
        // here: Kubernetes' termination grace period bounds the whole.
        const serverClosed = app.server.listening
          ? new Promise<boolean>((resolve) => app.server.once('close', () => resolve(true)))
          : Promise.resolve(true);
        const closed = app.close();
        // server.close() reaps idle connections once; reap those that go idle while draining too.
        const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
        void serverClosed.finally(() => clearInterval(reaper));
        const bound = sleep(config.SHUTDOWN_TIMEOUT_MS, false, { ref: false });
        const drained = await Promise.race([serverClosed, bound]);
        if (!drained) {
          logger.error(
            { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
            'drain bound reached: closing the remaining connections',
          );
          app.server.closeAllConnections();
        }
        await closed;
        logger.info({ drained }, 'shut down');
        return drained;
      })();
      return shutdownPromise;
    },
  };
  return service;
}

/**
 * What node's HTTP parser refuses never reaches a route (a header block over node's 16 KiB limit,
 * malformed HTTP, a request that took too long to arrive): Fastify's default answers these with plain
 * JSON. This answers with the same statuses as problem+json and closes the connection, as node does.
 */
function clientErrorAsProblem(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are larger than the server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'malformed HTTP request'];
  this.log.debug({ code: err.code, status }, 'request refused by the HTTP parser');
  if (socket.writable) {
    const body = JSON.stringify(problem(status, detail));
    socket.write(
      `HTTP/1.1 ${status} ${titleFor(status)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
