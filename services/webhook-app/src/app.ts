// Routes: the GitLab webhook, and the admin API for dead letters.
import { hash, timingSafeEqual } from 'node:crypto';

import { HttpProblem, Type, type ServiceApp, type ServicePlugin } from '@sre-platform/service-kit';
import type { FastifyRequest } from 'fastify';
import { Compile } from 'typebox/compile';

import {
  PushEventSchema,
  recipientFor,
  renderMessage,
  summarize,
  type RecipientRules,
  unstorable,
} from './domain/push.ts';
import type { AppMetrics } from './metrics.ts';
import type { Outbox } from './adapters/outbox.ts';

export const WEBHOOK_PATH = '/webhooks/gitlab';
/** X-Gitlab-Event -> metric label. A system hook says which event it is in its body only. */
const EVENTS: Record<string, string> = { 'Push Hook': 'push', 'Tag Push Hook': 'tag_push', 'System Hook': 'system' };
/** Deepest JSON nesting accepted: GitLab's push bodies go 4 deep; a deeper body is not from GitLab. */
export const MAX_JSON_DEPTH = 32;
/** Idempotency keys longer than this are stored as their SHA-256 (GitLab's are 36-character UUIDs). */
export const MAX_KEY_LENGTH = 200;

export interface AppDeps {
  outbox: Outbox;
  metrics: AppMetrics;
  recipients: RecipientRules;
  webhookSecret: string;
  adminToken?: string;
  /** Called after an event is stored, to start its delivery at once. */
  onAccepted: () => void;
}

const sha256 = (text: string) => hash('sha256', text, 'buffer');

/**
 * Constant-time comparison that does not leak the secret's length either: both sides are hashed to
 * 32 bytes first. The configured secret's hash is computed once.
 */
function secretCheck(expected: string): (given: string | undefined) => boolean {
  const want = sha256(expected);
  return (given) => given !== undefined && timingSafeEqual(sha256(given), want);
}

// Compiled once: interpreting the schema on every request cost more than the database insert.
const pushEvent = Compile(PushEventSchema);

const eventLabel = (header: unknown) => (typeof header === 'string' ? (EVENTS[header] ?? 'other') : 'none');

/**
 * Whether the JSON text nests objects and arrays deeper than `limit`: one pass over the bytes, before
 * anything parses or walks the body (a 50,000-deep body overflowed the stack when it was serialised).
 */
export function jsonDepthExceeds(json: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const c of json) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The media type of a Content-Type header, lower case, without parameters. */
const mediaType = (header: unknown) =>
  typeof header === 'string' ? (header.split(';', 1)[0] ?? '').trim().toLowerCase() : '';

function routes(app: ServiceApp, deps: AppDeps): void {
  const { outbox } = deps;
  const webhookSecret = secretCheck(deps.webhookSecret);
  const adminToken = deps.adminToken ? secretCheck(deps.adminToken) : undefined;

  // The only body parser is JSON kept as raw bytes (the webhook and the admin API take nothing else,
  // so any other type gets a 415): the bytes are what a derived idempotency key hashes, and their
  // nesting is bounded before anything parses them.
  const rawBodies = new WeakMap<FastifyRequest, Buffer>();
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const raw = body as Buffer;
    if (jsonDepthExceeds(raw, MAX_JSON_DEPTH)) {
      done(new HttpProblem(400, `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    rawBodies.set(request, raw);
    void parseJson(request, raw.toString('utf8'), done);
  });
  registerWebhook(app, deps, webhookSecret, rawBodies);

  // --- admin: dead letters -------------------------------------------------------------------------
  const adminAuth = (authorization: string | undefined) => {
    if (!adminToken) throw new HttpProblem(404, 'the admin API is disabled (ADMIN_TOKEN is not set)');
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (!adminToken(token)) {
      throw new HttpProblem(401, 'missing or wrong bearer token', { headers: { 'www-authenticate': 'Bearer' } });
    }
  };
  app.get(
    '/admin/dead-letters',
    { schema: { querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }) } },
    async (request) => {
      adminAuth(request.headers.authorization);
      return { items: await outbox.listDead(request.query.limit ?? 100) };
    },
  );
  app.post(
    '/admin/dead-letters/replay',
    {
      schema: {
        body: Type.Object(
          {
            ids: Type.Union([
              Type.Array(Type.String({ pattern: '^[0-9]{1,19}$' }), { minItems: 1, maxItems: 1000 }),
              Type.Literal('all'),
            ]),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      adminAuth(request.headers.authorization);
      const replayed = await outbox.replay(request.body.ids);
      if (replayed > 0) deps.onAccepted();
      return { replayed };
    },
  );
}

function registerWebhook(
  app: ServiceApp,
  deps: AppDeps,
  webhookSecret: (given: string | undefined) => boolean,
  rawBodies: WeakMap<FastifyRequest, Buffer>,
): void {
  const { outbox, metrics } = deps;
  app.post(WEBHOOK_PATH, {
    // Authenticate before the body is even parsed: unauthenticated input costs nothing.
    onRequest: (request, _reply, done) => {
      const token = request.headers['x-gitlab-token'];
      if (!webhookSecret(typeof token === 'string' ? token : undefined)) {
        metrics.received.inc({ event: eventLabel(request.headers['x-gitlab-event']), result: 'unauthorized' });
        done(new HttpProblem(401, 'missing or wrong X-Gitlab-Token'));
        return;
      }
      done();
    },
    // GitLab always sends JSON; anything else (a curl -d, a form) is told what to send.
    preParsing: (request, _reply, payload, done) => {
      const type = mediaType(request.headers['content-type']);
      if (type !== 'application/json') {
        metrics.received.inc({ event: eventLabel(request.headers['x-gitlab-event']), result: 'invalid' });
        done(
          new HttpProblem(
            415,
            `send the body as JSON with the header Content-Type: application/json (got ${type ? JSON.stringify(type.slice(0, 100)) : 'none'})`,
          ),
        );
        return;
      }
      done(null, payload);
    },
    // Bodies refused before the handler runs (malformed or too deep JSON 400, too large 413) count as
    // invalid here; the handler counts what it refuses itself.
    onError: (request, _reply, error, done) => {
      const status = error instanceof HttpProblem ? error.status : (error as { statusCode?: number }).statusCode;
      if ((status === 400 || status === 413) && !handled.has(request)) {
        metrics.received.inc({ event: eventLabel(request.headers['x-gitlab-event']), result: 'invalid' });
      }
      done();
    },
    handler: async (request, reply) => {
      handled.add(request);
      const header = request.headers['x-gitlab-event'];
      let event = eventLabel(header);
      let body: unknown = request.body;
      if (event === 'system') {
        // A system hook's push has the project hook's body (plus event_name); its kind is in the body.
        const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
        const kind = fields['object_kind'] ?? fields['event_name'];
        if (kind === 'push' || kind === 'tag_push') {
          event = kind;
          body = { ...fields, object_kind: kind };
        } else {
          metrics.received.inc({ event, result: 'ignored' });
          const name = typeof kind === 'string' ? kind.slice(0, 100) : '(none)';
          return reply.code(202).send({ status: 'ignored', reason: `system hook event ${name} is not handled` });
        }
      }
      if (event === 'other' || event === 'none') {
        metrics.received.inc({ event, result: 'ignored' });
        return reply
          .code(202)
          .send({ status: 'ignored', reason: `event ${String(header ?? '(none)').slice(0, 100)} is not handled` });
      }
      if (!pushEvent.Check(body)) {
        metrics.received.inc({ event, result: 'invalid' });
        const first = pushEvent.Errors(body)[0];
        throw new HttpProblem(
          400,
          `not a GitLab ${String(header)} body: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`,
        );
      }
      // Git refuses control characters in ref names and GitLab in project paths: such a body is not
      // GitLab's, and these fields are stored and shown verbatim. (Free text, such as commit titles,
      // is neutralised when rendered instead: see domain/push.ts.)
      for (const [field, value] of [
        ['/ref', body.ref],
        ['/project/path_with_namespace', body.project.path_with_namespace],
      ] as const) {
        const why = unstorable(value);
        if (why) {
          metrics.received.inc({ event, result: 'invalid' });
          throw new HttpProblem(400, `${field} ${why}`);
        }
      }
      let key: string;
      try {
        key = idempotencyKey(request, rawBodies.get(request));
      } catch (err) {
        metrics.received.inc({ event, result: 'invalid' });
        throw err;
      }
      const accepted = await outbox.accept({
        idempotencyKey: key,
        eventType: event,
        project: body.project.path_with_namespace,
        recipient: recipientFor(body, deps.recipients),
        message: renderMessage(summarize(body, { systemHook: header === 'System Hook' })),
      });
      metrics.received.inc({ event, result: accepted ? 'accepted' : 'duplicate' });
      if (accepted) deps.onAccepted();
      return reply.code(202).send({ status: accepted ? 'accepted' : 'duplicate', idempotencyKey: key });
    },
  });
}

/** Requests whose handler ran: it counts their outcome itself. */
const handled = new WeakSet<FastifyRequest>();

/**
 * The deduplication key: GitLab's Idempotency-Key (stable across its retries and manual re-sends),
 * else X-Gitlab-Event-UUID, else a SHA-256 of the body's bytes. A key is never ignored: one longer
 * than MAX_KEY_LENGTH is stored as its SHA-256 (so a re-send still deduplicates), and one holding a
 * control character is refused with a 400 naming the header.
 */
function idempotencyKey(request: FastifyRequest, raw: Buffer | undefined): string {
  for (const name of ['Idempotency-Key', 'X-Gitlab-Event-UUID']) {
    const value = header1(request.headers[name.toLowerCase()]);
    if (!value) continue;
    const why = unstorable(value);
    if (why) throw new HttpProblem(400, `header ${name} ${why}`);
    return value.length <= MAX_KEY_LENGTH ? value : `${name.toLowerCase()}-sha256:${hash('sha256', value, 'hex')}`;
  }
  return `sha256:${hash('sha256', raw ?? '', 'hex')}`;
}

function header1(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The routes as one encapsulated Fastify plugin: the raw-JSON-only body parser below (anything else
 * is a 415) applies to the webhook and the admin API only; the kit's probes keep Fastify's parsers.
 */
export function registerRoutes(app: ServiceApp, deps: AppDeps): void {
  const plugin: ServicePlugin = (scope, _options, done) => {
    routes(scope, deps);
    done();
  };
  void app.register(plugin);
}
