// A Rocket.Chat contract peer: the endpoints webhook-app uses, behaving as Rocket.Chat 8.x does
// (auth headers, errors, rate limits), with every request body and every response it sends checked
// against Rocket.Chat's published OpenAPI documents. Any mismatch is recorded as a violation, and
// tests assert there are none. Failure modes (down, slow, rate limited, ...) are switched on by tests.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

import { readContract } from '@sre-platform/contracts';
import { createService, type BaseConfig, type Logger, type Service } from '@sre-platform/service-kit';

type Json = Record<string, unknown>;

interface Operation {
  request?: ValidateFunction;
  responses: Map<number, ValidateFunction>;
}

/**
 * The published subsets use `oneOf` between branches that declare no `required` (dm.create:
 * {username} | {usernames}), so every body matches both branches and `oneOf` rejects it. Rocket.Chat's
 * own validator requires one of the properties (its documented 400 says "must have required property
 * 'username'"); the handlers check that, and the schemas are read with `anyOf` instead.
 */
function relaxOneOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relaxOneOf);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key === 'oneOf' ? 'anyOf' : key] = relaxOneOf(value);
  return out;
}

/** Compiles the request and response schemas of every operation in the three documents. */
function loadContracts(): Map<string, Operation> {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const ops = new Map<string, Operation>();
  for (const file of ['authentication', 'messaging', 'user-management']) {
    const doc = relaxOneOf(parse(readContract(`rocketchat/${file}.subset.openapi.yaml`))) as Json;
    const resolveRef = (node: unknown): Json => {
      const ref = (node as Json | undefined)?.['$ref'];
      if (typeof ref !== 'string') return node as Json;
      return ref
        .replace(/^#\//, '')
        .split('/')
        .reduce<unknown>((at, key) => (at as Json)[key], doc) as Json;
    };
    for (const [path, methods] of Object.entries(doc['paths'] as Json)) {
      for (const [method, op] of Object.entries(methods as Json)) {
        const o = op as Json;
        const reqSchema = ((o['requestBody'] as Json | undefined)?.['content'] as Json | undefined)?.[
          'application/json'
        ] as Json | undefined;
        const responses = new Map<number, ValidateFunction>();
        for (const [status, r] of Object.entries((o['responses'] as Json | undefined) ?? {})) {
          const schema = ((resolveRef(r)['content'] as Json | undefined)?.['application/json'] as Json | undefined)?.[
            'schema'
          ];
          if (schema) responses.set(Number(status), ajv.compile(schema));
        }
        ops.set(`${method.toUpperCase()} ${path}`, {
          request: reqSchema?.['schema'] ? ajv.compile(reqSchema['schema']) : undefined,
          responses,
        });
      }
    }
  }
  return ops;
}

export interface PeerMessage {
  _id: string;
  rid: string;
  msg: string;
  /** The username of the DM's other member. */
  to: string;
  from: string;
}

export interface PeerBehaviour {
  /** Answer every API call with this status (503: down) until cleared. */
  failWith?: number;
  /** Delay before answering, in ms (to trigger client timeouts). */
  delayMs?: number;
  /** Rate limit: calls allowed per window per route; then 429 until the window resets. */
  rateLimit?: { limit: number; windowMs: number };
  /** Usernames whose messages get 403 (a missing permission). */
  forbiddenFor?: string[];
}

export interface Peer {
  service: Service;
  url: string;
  messages: PeerMessage[];
  violations: string[];
  /** How many API calls each path received. */
  calls: Map<string, number>;
  behaviour: PeerBehaviour;
  addUser(username: string, password?: string): void;
  /** A personal access token for `username` (as users.createToken would give). */
  tokenFor(username: string): { userId: string; authToken: string };
  close(): Promise<void>;
}

const id = () => randomBytes(9).toString('base64url').slice(0, 17);

export async function startPeer(
  options: {
    port?: number;
    host?: string;
    logger?: Logger;
    /** false: no contract checks at all (benchmarks: the checks are this stand-in's cost, not Rocket.Chat's). */
    checkContracts?: boolean;
  } = {},
): Promise<Peer> {
  // The contracts are vendored (packages/contracts), so they are always there; only benchmarks turn the checks off.
  const contracts = options.checkContracts === false ? new Map<string, Operation>() : loadContracts();
  const unchecked = options.checkContracts === false ? 'contract checks turned off' : undefined;
  const config: BaseConfig = {
    HOST: options.host ?? '127.0.0.1',
    PORT: options.port ?? 0,
    LOG_LEVEL: 'warn',
    BODY_LIMIT_BYTES: 1_048_576,
    SHUTDOWN_DELAY_MS: 0,
    SHUTDOWN_TIMEOUT_MS: 2000,
  };
  const service = createService({ name: 'rocketchat-peer', version: '8.x-contract', config, logger: options.logger });
  const { app } = service;

  const users = new Map<string, { _id: string; password: string }>();
  const tokens = new Map<string, string>(); // authToken -> userId
  const rooms = new Map<string, { rid: string; usernames: string[] }>();
  const messages: PeerMessage[] = [];
  const messageIds = new Set<string>(); // MongoDB's unique index on _id, without scanning `messages`
  const violations: string[] = [];
  const calls = new Map<string, number>();
  const windows = new Map<string, { start: number; count: number }>();
  const behaviour: PeerBehaviour = {};

  const addUser = (username: string, password = 'password') => {
    if (!users.has(username)) users.set(username, { _id: id(), password });
  };
  const tokenFor = (username: string) => {
    addUser(username);
    const userId = users.get(username)!._id;
    const authToken = randomBytes(24).toString('base64url');
    tokens.set(authToken, userId);
    return { userId, authToken };
  };
  const usernameOf = (userId: string) => [...users].find(([, u]) => u._id === userId)?.[0];

  // Check every response this peer sends against the documented schema for its status. 401 and
  // 403 are missing from some operations in the OpenAPI subsets; packages/contracts/README.md documents
  // them from Rocket.Chat's source ({success: false, error}), so they are checked against that.
  const sourceDocumented = new Ajv({ strict: false }).compile({
    type: 'object',
    required: ['error'],
    properties: { success: { const: false }, error: { type: 'string' } },
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const op = contracts.get(`${request.method} ${request.routeOptions.url ?? ''}`);
    const validate =
      op?.responses.get(reply.statusCode) ?? ([401, 403].includes(reply.statusCode) ? sourceDocumented : undefined);
    if (op && reply.statusCode !== 429 && reply.statusCode < 500) {
      if (!validate) violations.push(`${request.method} ${request.url}: status ${reply.statusCode} is not documented`);
      else if (typeof payload === 'string' && !validate(JSON.parse(payload))) {
        violations.push(
          `${request.method} ${request.url} ${reply.statusCode} response: ${JSON.stringify(validate.errors)}`,
        );
      }
    }
    done(null, payload);
  });

  // Rocket.Chat's order: failure injection, rate limit, authentication, then the documented body.
  app.addHook('preHandler', async (request, reply) => {
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/api/v1/')) return;
    calls.set(route, (calls.get(route) ?? 0) + 1);
    if (behaviour.delayMs) await sleep(behaviour.delayMs);
    if (behaviour.failWith) {
      return reply.code(behaviour.failWith).send({ success: false, error: 'injected failure' });
    }
    if (behaviour.rateLimit) {
      const now = Date.now();
      const w = windows.get(route);
      const current = !w || now - w.start >= behaviour.rateLimit.windowMs ? { start: now, count: 0 } : w;
      current.count += 1;
      windows.set(route, current);
      const reset = current.start + behaviour.rateLimit.windowMs;
      void reply.headers({
        'x-ratelimit-limit': String(behaviour.rateLimit.limit),
        'x-ratelimit-remaining': String(Math.max(0, behaviour.rateLimit.limit - current.count)),
        'x-ratelimit-reset': String(reset),
      });
      if (current.count > behaviour.rateLimit.limit) {
        return reply.code(429).send({
          success: false,
          error: `Error, too many requests. Please slow down. You must wait ${Math.ceil((reset - now) / 1000)} seconds before trying this endpoint again. [error-too-many-requests]`,
          errorType: 'error-too-many-requests',
        });
      }
    }
    const op = contracts.get(`${request.method} ${route}`);
    if (op?.request && !op.request(request.body)) {
      violations.push(`${request.method} ${route} request: ${JSON.stringify(op.request.errors)}`);
      return reply
        .code(400)
        .send({ success: false, error: 'invalid body [invalid-params]', errorType: 'invalid-params' });
    }
    if (route === '/api/v1/login' || route === '/api/info') return;
    const userId = request.headers['x-user-id'];
    const token = request.headers['x-auth-token'];
    if (typeof token !== 'string' || typeof userId !== 'string' || tokens.get(token) !== userId) {
      return reply.code(401).send({ success: false, error: 'You must be logged in to do this.' });
    }
  });

  app.get('/api/info', () => ({ version: '8.0.0', success: true }));

  app.post('/api/v1/login', (request, reply) => {
    const body = (request.body ?? {}) as { user?: string; password?: string };
    const user = body.user ? users.get(body.user) : undefined;
    if (!user || user.password !== body.password) {
      return reply.code(401).send({ success: false, error: 'Unauthorized' });
    }
    const authToken = randomBytes(24).toString('base64url');
    tokens.set(authToken, user._id);
    return { status: 'success', data: { authToken, userId: user._id, me: { _id: user._id, username: body.user } } };
  });

  const dmCreate = (
    request: { headers: Record<string, unknown>; body: unknown },
    reply: { code: (n: number) => { send: (b: unknown) => unknown } },
  ) => {
    const { username } = (request.body ?? {}) as { username?: string };
    if (!username || !users.has(username)) {
      return reply
        .code(400)
        .send({ success: false, error: 'Invalid user [error-invalid-user]', errorType: 'error-invalid-user' });
    }
    const me = usernameOf(String(request.headers['x-user-id']))!;
    const key = [me, username].sort().join('|');
    let room = rooms.get(key);
    if (!room) {
      room = { rid: `${users.get(me)!._id}${users.get(username)!._id}`, usernames: [me, username].sort() };
      rooms.set(key, room);
    }
    return { room: { t: 'd', rid: room.rid, usernames: room.usernames }, success: true };
  };
  app.post('/api/v1/dm.create', dmCreate);
  app.post('/api/v1/im.create', dmCreate); // the older name, still served by Rocket.Chat 8

  app.post('/api/v1/chat.sendMessage', (request, reply) => {
    const { message } = request.body as { message: { _id?: string; rid: string; msg?: string } };
    const from = usernameOf(String(request.headers['x-user-id']))!;
    const room = [...rooms.values()].find((r) => r.rid === message.rid);
    if (!room || !room.usernames.includes(from)) {
      return reply.code(400).send({ success: false, error: 'error-not-allowed', errorType: 'error-not-allowed' });
    }
    const to = room.usernames.find((u) => u !== from) ?? from;
    if (behaviour.forbiddenFor?.includes(to)) {
      return reply.code(403).send({
        success: false,
        error: 'User does not have the permissions required for this action [error-unauthorized]',
      });
    }
    const _id = message._id ?? id();
    // MongoDB's unique _id: a second message with the same id is refused, as in Rocket.Chat.
    if (messageIds.has(_id)) {
      return reply.code(400).send({
        success: false,
        error: `E11000 duplicate key error collection: rocketchat.rocketchat_message index: _id_ dup key: { _id: "${_id}" }`,
      });
    }
    const stored: PeerMessage = { _id, rid: message.rid, msg: message.msg ?? '', to, from };
    messages.push(stored);
    messageIds.add(_id);
    const ts = new Date().toISOString();
    return {
      message: {
        _id,
        rid: stored.rid,
        msg: stored.msg,
        ts,
        u: { _id: users.get(from)!._id, username: from },
        _updatedAt: ts,
      },
      success: true,
    };
  });

  const url = await service.listen();
  if (unchecked) service.logger.warn({ reason: unchecked }, 'running without contract checks');
  return {
    service,
    url,
    messages,
    violations,
    calls,
    behaviour,
    addUser,
    tokenFor,
    close: () => service.app.close(),
  };
}
