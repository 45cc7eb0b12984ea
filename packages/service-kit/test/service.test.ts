import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { createLogger, createService, Gauge, HttpProblem, Type, type Service } from '../src/index.ts';
import { captureLogs, testConfig } from '../src/testing.ts';

const services: Service[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.app.close()));
});

function make(
  options: { readiness?: Parameters<typeof createService>[0]['readiness']; bodyLimit?: number; delayMs?: number } = {},
) {
  const logs = captureLogs();
  const config = testConfig({ BODY_LIMIT_BYTES: options.bodyLimit ?? 1024, SHUTDOWN_DELAY_MS: options.delayMs ?? 0 });
  const logger = createLogger({ name: 'test', level: 'debug', destination: logs.destination });
  const service = createService({ name: 'test', version: '1.2.3', config, logger, readiness: options.readiness });
  service.app.post(
    '/items',
    { schema: { body: Type.Object({ name: Type.String({ minLength: 1 }) }, { additionalProperties: false }) } },
    (request, reply) => reply.code(201).send({ name: request.body.name }),
  );
  service.app.get('/boom', () => {
    throw new Error('database password=hunter2 exploded');
  });
  service.app.get('/teapot', () => {
    throw new HttpProblem(429, 'slow down', { headers: { 'retry-after': '7' }, extensions: { limit: 10 } });
  });
  service.app.get('/upstream', () => {
    throw new HttpProblem(502, 'the payment provider is unreachable');
  });
  service.app.get('/slow', async () => {
    await sleep(200);
    return { ok: true };
  });
  services.push(service);
  return { service, logs };
}

describe('probes', () => {
  it('answers /healthz and /readyz', async () => {
    const { service } = make();
    expect((await service.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await service.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: {} });
  });

  it('reports each failing or hanging dependency as a 503 problem', async () => {
    const { service } = make({
      readiness: [
        { name: 'db', check: () => Promise.resolve() },
        {
          name: 'queue',
          check: () => {
            throw new Error('connection refused');
          },
        },
        { name: 'slow', check: () => sleep(5_000), timeoutMs: 50 },
      ],
    });
    const res = await service.app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body.checks).toEqual({ db: 'ok', queue: 'connection refused', slow: 'timed out' });
    expect(body.detail).toBe('not ready: queue: connection refused; slow: timed out');
  });

  it('while a dependency is starting: /readyz and every route but the probes answer 503 with its reason', async () => {
    let reason: string | undefined = 'waiting for the database: ECONNREFUSED';
    let checked = 0;
    const { service } = make({
      readiness: [
        {
          name: 'database',
          starting: () => reason,
          check: () => {
            checked += 1;
          },
        },
      ],
    });
    const ready = await service.app.inject('/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().detail).toBe('not ready: database: waiting for the database: ECONNREFUSED');
    expect(checked).toBe(0); // nothing to ping yet
    const refused = await service.app.inject({ method: 'POST', url: '/items', payload: { name: 'a' } });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().detail).toBe('starting: database: waiting for the database: ECONNREFUSED');
    expect((await service.app.inject('/healthz')).statusCode).toBe(200);
    expect((await service.app.inject('/metrics')).statusCode).toBe(200);

    reason = undefined;
    expect((await service.app.inject('/readyz')).statusCode).toBe(200);
    expect(checked).toBe(1);
    expect((await service.app.inject({ method: 'POST', url: '/items', payload: { name: 'a' } })).statusCode).toBe(201);
  });

  it('turns readiness to 503 as soon as shutdown starts, while still serving during the delay', async () => {
    const { service } = make({ delayMs: 150 });
    await service.app.ready();
    const shutdown = service.shutdown('test');
    expect(service.draining).toBe(true);
    const res = await service.app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json().detail).toBe('shutting down');
    expect((await service.app.inject('/healthz')).statusCode).toBe(200);
    expect(await shutdown).toBe(true);
    expect(service.shutdown('again')).toBe(shutdown);
  });

  it('bounds the drain of requests only: a slow close hook after it neither fails the drain nor is cut short', async () => {
    const logs = captureLogs();
    const service = createService({
      name: 'test',
      version: '1.2.3',
      config: testConfig({ SHUTDOWN_TIMEOUT_MS: 100 }),
      logger: createLogger({ name: 'test', level: 'info', destination: logs.destination }),
    });
    let hookDone = false;
    service.app.addHook('onClose', async () => {
      // A worker finishing its batch, a pool closing: slower than the drain bound, on a busy machine or not.
      await sleep(400);
      hookDone = true;
    });
    await service.listen();
    expect(await service.shutdown('test')).toBe(true);
    expect(hookDone).toBe(true);
    expect(logs.text()).not.toContain('drain bound reached');
  });
});

describe('errors are application/problem+json', () => {
  it('for unknown routes', async () => {
    const { service } = make();
    const res = await service.app.inject('/nowhere?token=abc');
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ status: 404, title: 'Not Found', instance: '/nowhere' });
    expect(res.json().requestId).toBe(res.headers['x-request-id']);
  });

  it('for what the router refuses: a path parameter over maxParamLength, a malformed URL', async () => {
    const { service } = make();
    service.app.get('/things/:id', () => ({ ok: true }));
    const long = await service.app.inject(`/things/${'x'.repeat(101)}`);
    expect(long.statusCode).toBe(414);
    expect(long.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(long.json()).toMatchObject({ status: 414, detail: 'a path segment is longer than the server accepts' });
    const bad = await service.app.inject('/things/%E0%A4%A');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });

  it("for Fastify's own validation, listing every field error", async () => {
    const { service } = make();
    const res = await service.app.inject({ method: 'POST', url: '/items', payload: { name: '', extra: 1 } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.type).toBe('about:blank');
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { location: 'body', path: '/extra', message: 'is not an allowed property' },
        { location: 'body', path: '/name', message: expect.stringContaining('1') },
      ]),
    );
  });

  it('does not coerce body types', async () => {
    const { service } = make();
    const res = await service.app.inject({ method: 'POST', url: '/items', payload: { name: 5 } });
    expect(res.statusCode).toBe(400);
  });

  it('for malformed JSON, an oversize body and an unsupported media type', async () => {
    const { service } = make({ bodyLimit: 64 });
    const post = (contentType: string, payload: string) =>
      service.app.inject({ method: 'POST', url: '/items', headers: { 'content-type': contentType }, payload });
    const bad = await post('application/json', '{"name":');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect(bad.json().detail).toMatch(/JSON/);

    const big = await service.app.inject({ method: 'POST', url: '/items', payload: { name: 'x'.repeat(100) } });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ status: 413, title: 'Payload Too Large' });

    const xml = await post('application/xml', '<a/>');
    expect(xml.statusCode).toBe(415);
    expect(xml.headers['content-type']).toContain('application/problem+json');
  });

  it('for unexpected errors: a 500 that hides the message and logs it with the request id', async () => {
    const { service, logs } = make();
    const res = await service.app.inject('/boom');
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    const requestId = res.json().requestId as string;
    const logged = logs.lines().find((l) => l['msg'] === 'request failed');
    expect(logged?.['requestId']).toBe(requestId);
  });

  it("answers 503 with Retry-After, naming the dependency, for an error the service's classifier recognises", async () => {
    const logs = captureLogs();
    const logger = createLogger({ name: 'test', level: 'debug', destination: logs.destination });
    const service = createService({
      name: 'test',
      version: '1.2.3',
      config: testConfig(),
      logger,
      unavailable: (err) => ((err as { code?: unknown }).code === 'ECONNREFUSED' ? 'database' : undefined),
    });
    services.push(service);
    service.app.get('/down', () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'), { code: 'ECONNREFUSED' });
    });
    service.app.get('/bug', () => {
      throw new TypeError('x is undefined');
    });
    service.app.get('/chosen', () => {
      throw Object.assign(new HttpProblem(502, 'upstream'), { code: 'ECONNREFUSED' });
    });
    const down = await service.app.inject('/down');
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.headers['content-type']).toContain('application/problem+json');
    expect(down.json()).toMatchObject({ status: 503, detail: 'database is unavailable; retry later' });
    expect(down.body).not.toContain('hunter2');
    expect(logs.lines().find((l) => l['msg'] === 'request refused: a dependency is unavailable')).toMatchObject({
      level: 'warn',
      dependency: 'database',
      code: 'ECONNREFUSED',
    });
    expect(JSON.stringify(logs.lines())).not.toContain('hunter2');
    // What the classifier does not recognise is still a 500; a chosen answer is still the service's.
    expect((await service.app.inject('/bug')).statusCode).toBe(500);
    expect((await service.app.inject('/chosen')).statusCode).toBe(502);
  });

  it('logs a chosen 5xx (an HttpProblem) as a warning with its detail, not as a failure with a stack', async () => {
    const { service, logs } = make();
    const res = await service.app.inject('/upstream');
    expect(res.statusCode).toBe(502);
    const logged = logs.lines().find((l) => l['msg'] === 'request answered with a server-side problem');
    expect(logged).toMatchObject({ level: 'warn', status: 502, detail: 'the payment provider is unreachable' });
    expect(logged?.['err']).toBeUndefined();
    expect(logs.lines().find((l) => l['msg'] === 'request failed')).toBeUndefined();
  });

  it('for thrown HttpProblems, with their headers and extensions', async () => {
    const { service } = make();
    const res = await service.app.inject('/teapot');
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ status: 429, detail: 'slow down', limit: 10 });
  });
});

/** Writes raw bytes to the service and reads its whole answer (it closes the connection). */
async function rawExchange(url: string, request: string): Promise<{ head: string; body: string }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined); // the server may reset after answering
  socket.write(request);
  await new Promise((resolve) => socket.once('close', resolve));
  const text = Buffer.concat(chunks).toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, split), body: text.slice(split + 4) };
}

describe("requests node's HTTP parser refuses", () => {
  it('answers a 20 KB header with 431 as problem+json, before any route runs', async () => {
    const { service } = make();
    const url = await service.listen();
    const { head, body } = await rawExchange(
      url,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large/);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(body)).toMatchObject({
      type: 'about:blank',
      status: 431,
      title: 'Request Header Fields Too Large',
    });
  });

  it('answers malformed HTTP with 400 as problem+json', async () => {
    const { service } = make();
    const url = await service.listen();
    const { head, body } = await rawExchange(url, 'NOT HTTP AT ALL\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(body)).toMatchObject({ status: 400, detail: 'malformed HTTP request' });
  });
});

describe('request ids', () => {
  it('keeps a well-formed incoming x-request-id and replaces a malformed one', async () => {
    const { service } = make();
    const kept = await service.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await service.app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'a b\n{"level":"fatal"}' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('metrics', () => {
  it('exposes process metrics, build info and per-route RED metrics', async () => {
    const { service } = make();
    await service.app.inject({ method: 'POST', url: '/items', payload: { name: 'a' } });
    await service.app.inject('/nope/1');
    await service.app.inject('/nope/2');
    const text = (await service.app.inject('/metrics')).body;
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('build_info{service="test",version="1.2.3"');
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/items",status_code="201"\} 1/);
    // Unknown URLs share one series instead of one per URL.
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 2/);
    expect(text).toMatch(/# TYPE http_requests_in_flight gauge/);
    // Gauges never carry a counter's suffix (promtool check metrics rejects it).
    expect(text).not.toMatch(/# TYPE \w+_total gauge/);
    expect(text).toContain('nodejs_active_handles ');
  });

  it('leaves out a metric whose collect fails (a database not there yet) instead of failing the scrape', async () => {
    const { service, logs } = make();
    let up = false;
    new Gauge({
      name: 'things_stored',
      help: 'Rows in a database that may be down.',
      registers: [service.metrics.registry],
      collect() {
        if (!up) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        this.set(7);
      },
    });
    for (let i = 0; i < 3; i++) {
      const res = await service.app.inject('/metrics');
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('build_info{service="test"');
      expect(res.body).not.toContain('things_stored');
    }
    const left = logs.lines().filter((l) => l['msg'] === 'metric left out of the scrape: its collect failed');
    expect(left).toEqual([
      expect.objectContaining({ level: 'warn', metric: 'things_stored', error: 'connect ECONNREFUSED 127.0.0.1:5432' }),
    ]); // once, not once per scrape
    up = true;
    expect((await service.app.inject('/metrics')).body).toContain('things_stored 7');
  });

  it('counts a request in flight while it is being served, and not after', async () => {
    const { service } = make();
    const { port, release, inFlight } = await gatedRoute(service, '/gated');
    const pending = fetch(`http://127.0.0.1:${port}/gated`);
    while ((await inFlight()) !== 1) await sleep(10); // however long the request takes to arrive
    expect(await inFlight()).toBe(1);
    release();
    expect((await pending).status).toBe(200);
    expect(await inFlight()).toBe(0);
  });

  it('stops counting a request whose client went away', async () => {
    const { service, logs } = make();
    // The client leaves first, whatever the machine's speed.
    const { port, release, inFlight } = await gatedRoute(service, '/held');
    const aborted = () => logs.lines().some((l) => l['msg'] === 'request aborted by client' && l['status'] === 499);
    const controller = new AbortController();
    const pending = fetch(`http://127.0.0.1:${port}/held`, { signal: controller.signal }).catch(() => 'aborted');
    while ((await inFlight()) !== 1) await sleep(10);
    controller.abort();
    expect(await pending).toBe('aborted');
    while (!aborted()) await sleep(10);
    expect(await inFlight()).toBe(0);
    release();
  });
});

/**
 * A route on `service` that answers only once `release` is called, the service listening on a free
 * port, and the in-flight gauge's value for that route.
 */
async function gatedRoute(service: Service, path: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  service.app.get(path, async () => {
    await gate;
    return { ok: true };
  });
  await service.app.listen({ port: 0, host: '127.0.0.1' });
  const address = service.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const inFlight = async () =>
    (await service.metrics.requestsInFlight.get()).values.find((v) => v.labels.route === path)?.value;
  return { port, release, inFlight };
}
