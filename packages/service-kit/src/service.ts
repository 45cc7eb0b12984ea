// createService(): a Fastify instance with everything ARCHITECTURE.md asks of every service.
// Routes are the service's; health, readiness, metrics, errors, logging and shutdown are here.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';

import type { BaseConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, UNMATCHED_ROUTE, type HttpMetrics } from './metrics.ts';
import { HttpProblem, problem, PROBLEM_CONTENT_TYPE, titleFor, type ProblemDetails } from './problem.ts';
import { PLAIN_TEXT_MESSAGE, PLAIN_TEXT_PATTERN } from './text.ts';

export type ServiceApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  Logger,
  TypeBoxTypeProvider
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

const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const kTrack = Symbol('inFlight');

type Tracked = FastifyRequest & { [kTrack]?: { route: string; start: number } };

export function createService(options: ServiceOptions): Service {
  const { config, name, version } = options;
  const logger = options.logger ?? createLogger({ name, version, level: config.LOG_LEVEL });
  const metrics = createMetrics({ name, version });
  let draining = false;
  let shutdownPromise: Promise<boolean> | undefined;

  const app = Fastify({
    loggerInstance: logger,
    // One line per request, written in onResponse below, instead of Fastify's two.
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

  // --- metrics and the access log --------------------------------------------------------------
  app.addHook('onRequest', (request: Tracked, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    request[kTrack] = { route, start: performance.now() };
    metrics.requestsInFlight.inc({ route });
    void reply.header('x-request-id', request.id);
    done();
  });
  // 499 (nginx's "client closed request") marks requests whose client went away first.
  const finish = (request: Tracked, status: number) => {
    const tracked = request[kTrack];
    if (tracked === undefined) return; // already counted (abort then response, or the reverse)
    request[kTrack] = undefined;
    const { route, start } = tracked;
    const ms = performance.now() - start;
    metrics.requestsInFlight.dec({ route });
    metrics.requestDuration.observe({ method: request.method, route, status_code: String(status) }, ms / 1000);
    const line = {
      method: request.method,
      path: pathOf(request.url), // query strings can carry secrets: never logged
      route,
      status,
      durationMs: Math.round(ms * 100) / 100,
    };
    const aborted = status === 499;
    if (PROBE_ROUTES.has(route) && status < 400) request.log.debug(line, 'request');
    else request.log.info(line, aborted ? 'request aborted by client' : 'request');
  };
  // While draining, every response tells its client to reconnect, so keep-alive connections end
  // with the response in flight instead of idling into the drain bound.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request: Tracked, reply, done) => {
    finish(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request: Tracked, done) => {
    // The handler may still be running; it will find the client gone when it replies.
    finish(request, 499);
    done();
  });

  // --- start-up: routes wait for the dependencies that are still being set up -----------------------
  const startingChecks = (options.readiness ?? []).filter((c) => c.starting !== undefined);
  if (startingChecks.length > 0) {
    app.addHook('onRequest', (request, reply, done) => {
      const waiting = startingReasons(startingChecks);
      if (waiting.length === 0 || PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
        done();
        return;
      }
      void sendRetryLater(reply, request, `starting: ${waiting.map((w) => `${w.name}: ${w.reason}`).join('; ')}`);
    });
  }

  // --- one error shape ---------------------------------------------------------------------------
  app.setErrorHandler((error: FastifyError | HttpProblem | Error, request, reply) => {
    const dependency = error instanceof HttpProblem ? undefined : options.unavailable?.(error);
    if (dependency !== undefined) {
      // The code only: a driver's message may carry an address or more.
      const code = (error as { code?: unknown }).code;
      request.log.warn({ dependency, code }, 'request refused: a dependency is unavailable');
      return sendRetryLater(reply, request, `${dependency} is unavailable; retry later`);
    }
    const body = toProblem(error, request.url);
    body['requestId'] = request.id;
    // An HttpProblem is an answer the service chose (an upstream down, a dependency refusing): a
    // warning with its detail. Anything else is a bug or an outage: an error with its stack.
    if (body.status >= 500) {
      if (error instanceof HttpProblem)
        request.log.warn({ status: body.status, detail: body.detail }, 'request answered with a server-side problem');
      else request.log.error({ err: error }, 'request failed');
    }
    if (error instanceof HttpProblem) void reply.headers(error.headers);
    return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body = problem(404, `no route for ${request.method} ${pathOf(request.url)}`, {
      instance: pathOf(request.url),
      requestId: request.id,
    });
    return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(body);
  });

  // --- probes and metrics ------------------------------------------------------------------------
  app.get('/healthz', { logLevel: 'warn' }, () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    if (draining) {
      return reply
        .code(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problem(503, 'shutting down', { requestId: request.id }));
    }
    const results = await Promise.all((options.readiness ?? []).map(runCheck));
    const checks = Object.fromEntries(results.map((r) => [r.name, r.error ?? 'ok']));
    const failed = results.filter((r) => r.error !== undefined);
    if (failed.length > 0) {
      const detail = `not ready: ${failed.map((f) => `${f.name}: ${f.error}`).join('; ')}`;
      return reply
        .code(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problem(503, detail, { checks, requestId: request.id }));
    }
    return { status: 'ready', checks };
  });
  // Each metric rendered on its own: prom-client's registry.metrics() fails the whole scrape when one
  // collect() fails (a gauge that queries a database that is not there yet, or has gone away), and a
  // failed scrape reads as a dead target. Such a metric is left out, with one warning until it recovers.
  const failingMetrics = new Set<string>();
  app.get('/metrics', async (request, reply) => {
    const parts = await Promise.all(
      metrics.registry.getMetricsAsArray().map(async (metric) => {
        try {
          const text = await metrics.registry.getSingleMetricAsString(metric.name);
          failingMetrics.delete(metric.name);
          return text;
        } catch (err) {
          if (!failingMetrics.has(metric.name))
            request.log.warn(
              { metric: metric.name, error: err instanceof Error ? err.message : String(err) },
              'metric left out of the scrape: its collect failed',
            );
          failingMetrics.add(metric.name);
          return undefined;
        }
      }),
    );
    const text = `${parts.filter((p) => p !== undefined).join('\n\n')}\n`;
    return reply.type(metrics.registry.contentType).send(text);
  });

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

/** A 503 that asks the client to come back in a second: the request was fine, a dependency is not there yet. */
function sendRetryLater(reply: FastifyReply, request: FastifyRequest, detail: string) {
  return reply
    .code(503)
    .header('retry-after', '1')
    .type(PROBLEM_CONTENT_TYPE)
    .send(problem(503, detail, { instance: pathOf(request.url), requestId: request.id }));
}

function startingReasons(checks: ReadinessCheck[]): { name: string; reason: string }[] {
  return checks.flatMap((c) => {
    const reason = c.starting?.();
    return reason === undefined ? [] : [{ name: c.name, reason }];
  });
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

async function runCheck(check: ReadinessCheck): Promise<{ name: string; error?: string }> {
  const starting = check.starting?.();
  if (starting !== undefined) return { name: check.name, error: starting };
  const signal = AbortSignal.timeout(check.timeoutMs ?? 2000);
  try {
    await Promise.race([
      check.check(signal),
      new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true }),
      ),
    ]);
    return { name: check.name };
  } catch (err) {
    return { name: check.name, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Maps anything thrown during a request to a problem document, without leaking internals. */
export function toProblem(error: unknown, url: string): ProblemDetails {
  const instance = pathOf(url);
  if (error instanceof HttpProblem) return error.toProblem(instance);
  const e = error as Partial<FastifyError>;
  if (Array.isArray(e.validation)) {
    const where = e.validationContext ?? 'request';
    const errors = e.validation.map((v) => ({
      location: where,
      path: v.instancePath || '/',
      message: messageFor(v),
    }));
    const first = errors[0];
    const detail = first ? `${where} ${first.path} ${first.message}` : `invalid ${where}`;
    return problem(400, detail, { instance, errors });
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad JSON, body too large, unsupported media type) say what
    // went wrong; other libraries' 4xx messages are not ours to vouch for, so only the title.
    const ours = typeof e.code === 'string' && e.code.startsWith('FST_');
    return problem(status, ours ? e.message : titleFor(status), { instance });
  }
  return problem(500, 'an unexpected error occurred; the requestId identifies it in the logs', { instance });
}

function messageFor(v: NonNullable<FastifyError['validation']>[number]): string {
  // TypeBox reports each unexpected property as "schema is false"; say what that means.
  if (v.message === 'schema is false') return 'is not an allowed property';
  // The shared plain-text rule, in words rather than as its regular expression.
  if (v.keyword === 'pattern' && (v.params as { pattern?: unknown }).pattern === PLAIN_TEXT_PATTERN)
    return PLAIN_TEXT_MESSAGE;
  return v.message ?? 'is invalid';
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
