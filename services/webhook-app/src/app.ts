// Routes: the GitLab webhook, and the admin API for dead letters.
import { hash, timingSafeEqual } from 'node:crypto';

import { HttpProblem, Type, type ServiceApp } from '@sre-platform/service-kit';
import { Compile } from 'typebox/compile';

import { PushEventSchema, recipientFor, renderMessage, summarize, type RecipientRules } from './domain/push.ts';
import type { AppMetrics } from './metrics.ts';
import type { Outbox } from './outbox.ts';

export const WEBHOOK_PATH = '/webhooks/gitlab';
const HANDLED: Record<string, string> = { 'Push Hook': 'push', 'Tag Push Hook': 'tag_push' };

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

const eventLabel = (header: unknown) => (typeof header === 'string' ? (HANDLED[header] ?? 'other') : 'none');

export function registerRoutes(app: ServiceApp, deps: AppDeps): void {
  const { outbox, metrics } = deps;
  const webhookSecret = secretCheck(deps.webhookSecret);
  const adminToken = deps.adminToken ? secretCheck(deps.adminToken) : undefined;

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
    // Bodies refused before the handler runs (malformed JSON 400, too large 413) count as invalid.
    onError: (request, _reply, error, done) => {
      const status = (error as { statusCode?: number }).statusCode;
      if ((status === 400 || status === 413 || status === 415) && !(error instanceof HttpProblem)) {
        metrics.received.inc({ event: eventLabel(request.headers['x-gitlab-event']), result: 'invalid' });
      }
      done();
    },
    handler: async (request, reply) => {
      const header = request.headers['x-gitlab-event'];
      const event = eventLabel(header);
      if (event === 'other' || event === 'none') {
        metrics.received.inc({ event, result: 'ignored' });
        return reply
          .code(202)
          .send({ status: 'ignored', reason: `event ${String(header ?? '(none)')} is not handled` });
      }
      const body: unknown = request.body;
      if (!pushEvent.Check(body)) {
        metrics.received.inc({ event, result: 'invalid' });
        const first = pushEvent.Errors(body)[0];
        throw new HttpProblem(
          400,
          `not a GitLab ${String(header)} body: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`,
        );
      }
      // GitLab keeps Idempotency-Key stable across retries and manual re-sends.
      const key =
        header1(request.headers['idempotency-key']) ??
        header1(request.headers['x-gitlab-event-uuid']) ??
        `sha256:${hash('sha256', JSON.stringify(body), 'hex')}`;
      const accepted = await outbox.accept({
        idempotencyKey: key,
        eventType: event,
        project: body.project.path_with_namespace,
        recipient: recipientFor(body, deps.recipients),
        message: renderMessage(summarize(body)),
      });
      metrics.received.inc({ event, result: accepted ? 'accepted' : 'duplicate' });
      if (accepted) deps.onAccepted();
      return reply.code(202).send({ status: accepted ? 'accepted' : 'duplicate', idempotencyKey: key });
    },
  });

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

function header1(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v && v.length <= 200 ? v : undefined;
}
