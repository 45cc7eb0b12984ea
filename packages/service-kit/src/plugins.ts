// The kit's cross-cutting concerns as Fastify plugins. The access log with the RED metrics, the
// start-up gate and the one error shape must reach every route of the service, so they are wrapped
// with fastify-plugin (not encapsulated: their hooks and handlers land on the root context). The
// probes are an ordinary, encapsulated plugin, as a service's own routes are: a content-type parser
// or hook a service declares in its routes plugin then applies to those routes only.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

import { UNMATCHED_ROUTE, type HttpMetrics } from './metrics.ts';
import { HttpProblem, problem, PROBLEM_CONTENT_TYPE, titleFor, type ProblemDetails } from './problem.ts';
import type { ReadinessCheck } from './service.ts';
import { PLAIN_TEXT_MESSAGE, PLAIN_TEXT_PATTERN } from './text.ts';

export const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const kTrack = Symbol('inFlight');

type Tracked = FastifyRequest & { [kTrack]?: { route: string; start: number } };

/** One access-log line and the RED metrics per request; Connection: close on every response while draining. */
export const accessLog = fp<{ metrics: HttpMetrics; draining: () => boolean }>(
  (app: FastifyInstance, { metrics, draining }, next) => {
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
      if (draining()) void reply.header('connection', 'close');
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

    next();
  },
  { name: 'sre-platform-access-log', fastify: '5.x' },
);

/** Routes wait for the dependencies that are still being set up: 503 with the reason, probes excepted. */
export const startingGate = fp<{ readiness: ReadinessCheck[] }>(
  (app: FastifyInstance, { readiness }, next) => {
    const startingChecks = readiness.filter((c) => c.starting !== undefined);
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

    next();
  },
  { name: 'sre-platform-starting-gate', fastify: '5.x' },
);

/** One error shape: every error and unknown route answered as application/problem+json. */
export const problemErrors = fp<{ unavailable?: ((error: unknown) => string | undefined) | undefined }>(
  (app: FastifyInstance, { unavailable }, next) => {
    app.setErrorHandler((error: FastifyError | HttpProblem | Error, request, reply) => {
      const dependency = error instanceof HttpProblem ? undefined : unavailable?.(error);
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

    next();
  },
  { name: 'sre-platform-problem-errors', fastify: '5.x' },
);

/** GET /healthz, /readyz and /metrics (encapsulated: nothing declared here reaches other routes). */
export function probes(
  app: FastifyInstance,
  options: { metrics: HttpMetrics; readiness: ReadinessCheck[]; draining: () => boolean },
  next: (err?: Error) => void,
): void {
  const { metrics } = options;
  app.get('/healthz', { logLevel: 'warn' }, () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    if (options.draining()) {
      return reply
        .code(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problem(503, 'shutting down', { requestId: request.id }));
    }
    const results = await Promise.all(options.readiness.map(runCheck));
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

  next();
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

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
