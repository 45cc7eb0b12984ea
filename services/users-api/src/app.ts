// Routes: GET /users, POST /user, GET /users/{email}/avatar, and the OpenAPI document generated from their
// schemas (GET /openapi.json). Errors are the kit's problem+json, with an `error` member holding the message,
// as the original template's clients read it.
import { Readable } from 'node:stream';

import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import {
  HttpProblem,
  PROBLEM_CONTENT_TYPE,
  Type,
  type Logger,
  type ServiceApp,
  type ServicePluginAsync,
} from '@sre-platform/service-kit';

import type { AvatarStore } from './adapters/avatars.ts';
import { DependencyUnavailable } from './adapters/aws.ts';
import type { UsersTable } from './adapters/users-table.ts';
import type { Config } from './config.ts';
import { decodeCursor, encodeCursor } from './domain/cursor.ts';
import { detectImageType, SNIFF_BYTES, type ImageType } from './domain/image-type.ts';
import {
  avatarUrl,
  checkEmail,
  checkName,
  EMAIL_MAX,
  EMAIL_PATTERN,
  avatarKeyTime,
  NAME_MAX,
  newAvatarKey,
  parseAvatarUrl,
  type AvatarKey,
  type User,
} from './domain/user.ts';
import type { AppMetrics } from './metrics.ts';
import { limitedBody, readHead, UploadSlots } from './upload.ts';

export interface AppDeps {
  config: Config;
  users: UsersTable;
  avatars: AvatarStore;
  metrics: AppMetrics;
  version: string;
  /** Test-only fault injection (USERS_API_FAULT): called at the named point of POST /user. */
  fault?: (point: 'after-upload') => void;
}

// --- schemas: the routes' validation and the OpenAPI document ------------------------------------------
const UserSchema = Type.Object(
  {
    avatar_url: Type.String({
      description: 'https://{bucket}.s3.{region}.amazonaws.com/avatars/{uuid}.{ext} (private)',
    }),
    email: Type.String(),
    name: Type.String(),
  },
  { additionalProperties: false },
);

const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    error: Type.Optional(Type.String({ description: 'the message, as the original API returned it' })),
    requestId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

const problemResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
});
const retryAfter = { 'retry-after': Type.String({ description: 'seconds' }) };
const unavailable = problemResponse('DynamoDB or S3 is unavailable or throttling: retry after Retry-After', retryAfter);

const EmailParam = Type.String({ minLength: 3, maxLength: EMAIL_MAX, pattern: EMAIL_PATTERN });

/** Adds `error` (the detail, else the title) to every problem+json body: the original API's error member. */
export function addErrorMember(app: ServiceApp): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    const type = reply.getHeader('content-type');
    if (typeof payload !== 'string' || typeof type !== 'string' || !type.startsWith(PROBLEM_CONTENT_TYPE)) {
      done(null, payload);
      return;
    }
    try {
      const body = JSON.parse(payload) as Record<string, unknown>;
      if (body['error'] === undefined) body['error'] = body['detail'] ?? body['title'];
      done(null, JSON.stringify(body));
    } catch {
      done(null, payload);
    }
  });
}

/**
 * The API as one encapsulated Fastify plugin: multipart's parser and the OpenAPI document's route collection apply
 * to these routes only, never to the kit's probes or /metrics.
 */
export async function registerRoutes(app: ServiceApp, deps: AppDeps): Promise<void> {
  const plugin: ServicePluginAsync = async (scope) => {
    const { config, users, avatars } = deps;
    await scope.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'users-api',
          version: deps.version,
          description: 'Users with avatars: DynamoDB for the users, S3 for the avatars.',
        },
        tags: [{ name: 'users' }],
      },
      // Only the API: the kit's probes and /metrics are not part of it.
      hideUntagged: true,
    });
    await scope.register(multipart, {
      // Busboy stops at one byte past the limit; limitedBody turns that byte into a 413 while streaming.
      limits: {
        fileSize: config.AVATAR_MAX_BYTES + 1,
        files: 1,
        fields: 10,
        fieldSize: 4096,
        parts: 12,
        headerPairs: 20,
      },
      throwFileSizeLimit: false,
    });
    scope.get('/openapi.json', { schema: { hide: true } }, () => scope.swagger());

    registerList(scope, users, config);
    registerCreate(scope, deps, scope.log);

    scope.get(
      '/users/:email/avatar',
      {
        schema: {
          tags: ['users'],
          summary: "Redirect to a short-lived presigned URL of the user's avatar (the bucket is private)",
          params: Type.Object({ email: EmailParam }),
          response: {
            302: {
              description: `a presigned GetObject URL, valid for AVATAR_URL_TTL_SECONDS (${config.AVATAR_URL_TTL_SECONDS} s)`,
              headers: { location: Type.String() },
              type: 'null',
            },
            400: problemResponse('not an email'),
            414: problemResponse('the path is longer than the server accepts'),
            404: problemResponse('no such user, or its avatar was not stored by this service'),
            503: unavailable,
          },
        },
      },
      async (request, reply) => {
        const email = checkEmail(request.params.email);
        if (!email.ok) throw new HttpProblem(400, email.message, { extensions: { field: 'email' } });
        const user = await users.get(email.value);
        if (!user) throw new HttpProblem(404, 'no user with this email');
        const target = parseAvatarUrl(user.avatar_url, avatars.bucket, config.AWS_REGION);
        if (!target) throw new HttpProblem(404, "this user's avatar_url is not an object of this service's bucket");
        const url = await avatars.presignedGet(target.key, config.AVATAR_URL_TTL_SECONDS);
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      },
    );
  };
  await app.register(plugin);
}

// --- GET /users -------------------------------------------------------------------------------------------
function registerList(app: ServiceApp, users: UsersTable, config: Config): void {
  app.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: "Every user (the seed's array); with ?limit=, one page and the next cursor in X-Next-Cursor",
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size: turns paging on' })),
          cursor: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 2 * EMAIL_MAX,
              pattern: '^[A-Za-z0-9_-]+$',
              description: 'the X-Next-Cursor of the previous page',
            }),
          ),
        }),
        response: {
          200: {
            description: "users, in the table's order (not sorted)",
            headers: {
              'x-next-cursor': Type.String({ description: 'paged requests only: the cursor of the next page' }),
            },
            content: { 'application/json': { schema: Type.Array(UserSchema) } },
          },
          400: problemResponse('a limit out of range, or a cursor this service did not issue'),
          503: unavailable,
        },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query;
      if (limit !== undefined || cursor !== undefined) {
        const after = cursor === undefined ? undefined : decodeCursor(cursor);
        if (cursor !== undefined && after === undefined)
          throw new HttpProblem(400, 'cursor is not a cursor this service issued', { extensions: { field: 'cursor' } });
        const page = await users.scanPage(limit ?? 100, after);
        if (page.next) {
          const token = encodeCursor(page.next);
          void reply.header('x-next-cursor', token);
          void reply.header('link', `</users?limit=${limit ?? 100}&cursor=${token}>; rel="next"`);
        }
        return reply.type('application/json').send(page.users);
      }
      // The whole table, one scan page at a time: the first page before the status line (so that an outage
      // is still a 503), the rest while the response streams. Never more than a page in memory.
      const first = await users.scanPage(config.SCAN_PAGE_SIZE);
      const stream = Readable.from(streamAll(users, first, config.SCAN_PAGE_SIZE));
      // A stream is sent as it is (the schema's serializer applies to objects only); the type provider does not know.
      return reply.type('application/json').send(stream as unknown as User[]);
    },
  );
}

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

const userJson = (u: User) => JSON.stringify({ avatar_url: u.avatar_url, email: u.email, name: u.name });

async function* streamAll(users: UsersTable, first: Awaited<ReturnType<UsersTable['scanPage']>>, size: number) {
  let page = first;
  let separator = '';
  yield '[';
  for (;;) {
    if (page.users.length > 0) {
      yield separator + page.users.map(userJson).join(',');
      separator = ',';
    }
    if (!page.next) break;
    // A failure here cuts the response short (the status line is gone): the client sees invalid JSON and a
    // reset connection, never a partial list that parses.
    page = await users.scanPage(size, page.next);
  }
  yield ']';
}

// --- POST /user -------------------------------------------------------------------------------------------
function registerCreate(app: ServiceApp, deps: AppDeps, log: Logger): void {
  const { config, users, avatars, metrics } = deps;
  const slots = new UploadSlots(config.UPLOADS_IN_FLIGHT, (n) => metrics.uploadsWaiting.set(n));
  const tooLarge = () =>
    new HttpProblem(413, `avatar is larger than ${config.AVATAR_MAX_BYTES} bytes`, { extensions: { field: 'avatar' } });
  const invalid = (field: string, message: string) => new HttpProblem(400, message, { extensions: { field } });

  app.post(
    '/user',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user with an avatar (multipart/form-data: name, email, then the file avatar)',
        consumes: ['multipart/form-data'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: NAME_MAX }),
            email: Type.String({ minLength: 3, maxLength: EMAIL_MAX, pattern: EMAIL_PATTERN }),
            avatar: Type.String({
              format: 'binary',
              description: `PNG, JPEG, GIF or WebP; at most ${config.AVATAR_MAX_BYTES} bytes`,
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: {
            description: 'created',
            content: { 'application/json': { schema: Type.Object({ success: Type.Literal('User created') }) } },
          },
          400: problemResponse('a field missing or invalid (named in `field`), or a malformed form'),
          408: problemResponse('the avatar arrived too slowly (over ORPHAN_SWEEP_AFTER_SECONDS / 2); nothing was kept'),
          409: problemResponse('a user with this email exists; nothing was changed'),
          413: problemResponse('the avatar (or the form) is larger than allowed'),
          415: problemResponse('not multipart/form-data, or an avatar that is not PNG, JPEG, GIF or WebP'),
          503: unavailable,
        },
      },
      // The body is a stream the handler reads: the schema above documents it (OpenAPI), nothing validates it
      // up front (the handler does, field by field, as the parts arrive).
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      if (!request.isMultipart())
        throw new HttpProblem(415, 'send multipart/form-data with the fields name and email, then the file avatar');
      const fields: { name?: string; email?: string } = {};
      let stored: { avatar: AvatarKey; type: ImageType; bytes: number; name: string; email: string } | undefined;
      let failure: Error | undefined;
      try {
        for await (const part of request.parts()) {
          if (failure !== undefined) {
            if (part.type === 'file') part.file.resume(); // drain: the client gets its answer on an intact connection
            continue;
          }
          try {
            if (part.type === 'field') {
              if (part.fieldname !== 'name' && part.fieldname !== 'email')
                throw invalid(
                  part.fieldname,
                  `unexpected field ${JSON.stringify(part.fieldname.slice(0, 50))}: send name, email and avatar`,
                );
              if (fields[part.fieldname] !== undefined)
                throw invalid(part.fieldname, `${part.fieldname} was sent twice`);
              if (part.valueTruncated) throw invalid(part.fieldname, `${part.fieldname} is too long`);
              fields[part.fieldname] = typeof part.value === 'string' ? part.value : String(part.value);
              continue;
            }
            if (part.fieldname !== 'avatar') {
              part.file.resume();
              throw invalid(
                part.fieldname,
                `unexpected file field ${JSON.stringify(part.fieldname.slice(0, 50))}: the file goes in avatar`,
              );
            }
            // Streaming needs the owner before the bytes: the fields come first in the form.
            const name = checkName(fields.name);
            const email = checkEmail(fields.email);
            const bad = !name.ok ? name : !email.ok ? email : undefined;
            if (bad && !bad.ok) {
              part.file.resume();
              throw invalid(
                bad.field,
                fields[bad.field as 'name' | 'email'] === undefined
                  ? `${bad.field} is required, before the file avatar in the form`
                  : bad.message,
              );
            }
            stored = await storeAvatar(part.file, name.ok ? name.value : '', email.ok ? email.value : '');
          } catch (err) {
            failure = asError(err);
            if (part.type === 'file') part.file.resume();
          }
        }
      } catch (err) {
        // The parser's own errors: limits (413 from @fastify/multipart) or a malformed body.
        failure ??=
          (err as { statusCode?: number }).statusCode !== undefined
            ? asError(err)
            : invalid('body', 'malformed multipart/form-data body');
      }
      if (failure !== undefined) {
        if (stored) await compensate(stored.avatar.key, 'failed-form');
        countFailure(failure);
        throw failure;
      }
      if (!stored) {
        const missing = fields.name === undefined ? 'name' : fields.email === undefined ? 'email' : 'avatar';
        metrics.created.inc({ result: 'invalid' });
        throw invalid(missing, `${missing} is required`);
      }
      deps.fault?.('after-upload');

      // The orphan sweep judges an object once it is ORPHAN_SWEEP_AFTER_SECONDS old (by its key's time) and never
      // again: a table write must end before then, or the sweep could delete the avatar of a user being created.
      // So it starts within the first half of that time, and its own worst case (config.ts) fits in the second.
      const age = Date.now() - avatarKeyTime(stored.avatar.key)!;
      const within = config.ORPHAN_SWEEP_AFTER_SECONDS / 2;
      if (age > within * 1000) {
        await compensate(stored.avatar.key, 'too-slow');
        const err = new HttpProblem(408, `the upload took ${Math.round(age / 1000)} s; send it within ${within} s`, {
          extensions: { field: 'avatar' },
        });
        countFailure(err);
        throw err;
      }
      const user: User = {
        name: stored.name,
        email: stored.email,
        avatar_url: avatarUrl(avatars.bucket, config.AWS_REGION, stored.avatar.key),
      };
      let outcome;
      try {
        outcome = await users.create(user);
      } catch (err) {
        // The table write failed: the user does not exist, so neither may its avatar.
        await compensate(stored.avatar.key, 'table-failed');
        countFailure(err);
        throw err;
      }
      if (outcome === 'exists') {
        await compensate(stored.avatar.key, 'duplicate');
        metrics.created.inc({ result: 'duplicate' });
        throw new HttpProblem(409, 'a user with this email already exists', { extensions: { field: 'email' } });
      }
      metrics.created.inc({ result: 'created' });
      metrics.avatarBytes.inc(stored.bytes);
      return reply.code(201).send({ success: 'User created' });
    },
  );

  async function storeAvatar(file: Readable, name: string, email: string) {
    const release = await slots.acquire();
    try {
      const { head, ended } = await readHead(file, SNIFF_BYTES);
      if (head.length === 0) {
        file.resume();
        throw invalid('avatar', 'avatar is empty');
      }
      const type = detectImageType(head);
      if (!type) {
        file.resume();
        throw new HttpProblem(415, 'avatar must be a PNG, JPEG, GIF or WebP image (decided by its content)', {
          extensions: { field: 'avatar' },
        });
      }
      const avatar = newAvatarKey(type);
      const pipe = limitedBody(file, head, ended, config.AVATAR_MAX_BYTES, tooLarge);
      try {
        await avatars.upload(avatar.key, pipe.body, type, email);
      } catch (err) {
        pipe.drain();
        throw err;
      }
      return { avatar, type, bytes: pipe.bytes(), name, email };
    } finally {
      release();
    }
  }

  /** Deletes the avatar the request wrote; a failure is left to the orphan sweep (no item references it). */
  async function compensate(key: string, why: string) {
    try {
      await avatars.delete(key);
      metrics.compensations.inc({ result: 'deleted' });
    } catch (err) {
      metrics.compensations.inc({ result: 'left-to-sweep' });
      log.warn(
        { key, why, error: err instanceof Error ? err.message : String(err) },
        'compensation failed: left to the sweep',
      );
    }
  }

  function countFailure(err: unknown) {
    const status = err instanceof HttpProblem ? err.status : (err as { statusCode?: number }).statusCode;
    const result =
      err instanceof DependencyUnavailable
        ? 'unavailable'
        : status === 413
          ? 'too_large'
          : status === 415
            ? 'unsupported_type'
            : status === 408
              ? 'too_slow'
              : status !== undefined && status < 500
                ? 'invalid'
                : 'failed';
    metrics.created.inc({ result });
  }
}
