// Rocket.Chat REST API (8.x): authentication, DM room creation and sending a message, and how each
// documented failure is treated. Every call has a timeout; nothing here retries by itself: the
// outcome tells the delivery worker what to do.
import { hash } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';

type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

export type Auth =
  { kind: 'token'; userId: string; authToken: string } | { kind: 'login'; user: string; password: string };

export type Outcome =
  | { kind: 'delivered'; duplicate: boolean }
  /** Try again later; `afterMs` when the server said when (rate limit reset). */
  | { kind: 'retry'; reason: FailureReason; detail: string; afterMs?: number; countAttempt: boolean }
  /** Retrying cannot help until someone changes something (unknown user, missing permission). */
  | { kind: 'fatal'; reason: FailureReason; detail: string };

export type FailureReason =
  'unauthorized' | 'forbidden' | 'unknown_user' | 'rate_limited' | 'server_error' | 'timeout' | 'network' | 'rejected';

interface RcBody {
  success?: boolean;
  error?: string;
  errorType?: string;
  room?: { rid?: string; _id?: string };
  message?: { _id?: string };
  data?: { authToken?: string; userId?: string };
}

/** Undici's error codes for a connect, response-head or body wait that ran out of time. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

class CallFailed extends Error {
  readonly outcome: Exclude<Outcome, { kind: 'delivered' }>;
  constructor(outcome: Exclude<Outcome, { kind: 'delivered' }>) {
    super(outcome.detail);
    this.outcome = outcome;
  }
}

/** Rocket.Chat message ids: 17 characters of Meteor's alphabet, derived from the idempotency key. */
const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz';
export function messageIdFor(idempotencyKey: string): string {
  const digest = hash('sha256', idempotencyKey, 'buffer');
  let id = '';
  for (let i = 0; i < 17; i++) id += ALPHABET[digest[i]! % ALPHABET.length];
  return id;
}

export class RocketChatClient {
  #session?: { userId: string; authToken: string };
  readonly #rooms = new Map<string, string>();
  /** Where Rocket.Chat is: scheme, host and port, and the path it is served under ('' at the root). */
  readonly #origin: string;
  readonly #basePath: string;
  readonly #auth: Auth;
  readonly #timeoutMs: number;
  readonly #dispatcher: Agent;

  constructor(baseUrl: string, auth: Auth, timeoutMs: number) {
    const url = new URL(baseUrl);
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#auth = auth;
    this.#timeoutMs = timeoutMs;
    // Every phase of a call is bounded: connecting, waiting for the response head, and each wait for
    // body bytes. Undici's own timers cost nothing per request, unlike an AbortSignal per call
    // (measured: README, "Throughput").
    this.#dispatcher = new Agent({
      connections: 32,
      connect: { timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (auth.kind === 'token') this.#session = { userId: auth.userId, authToken: auth.authToken };
  }

  /**
   * Sends `text` to `username` as a direct message. The message id is derived from the event's
   * idempotency key, so a second delivery of the same event (after a lost reply, a crash or an
   * expired lease) cannot create a second message. Rocket.Chat answers such a re-send with a bare
   * 400 that does not say why (its sendMessage skips an existing id and the route then fails on the
   * missing result), so every 400 from chat.sendMessage is checked against chat.getMessage: when the
   * message with our id exists, it was delivered earlier, and that is what is reported.
   */
  async sendDirectMessage(username: string, text: string, idempotencyKey: string): Promise<Outcome> {
    const _id = messageIdFor(idempotencyKey);
    try {
      const rid = await this.#roomFor(username);
      const res = await this.#call('POST', '/api/v1/chat.sendMessage', { message: { _id, rid, msg: text } });
      if (res.status === 400 && (await this.#messageExists(_id))) return { kind: 'delivered', duplicate: true };
      this.#check(res, 'chat.sendMessage');
      return { kind: 'delivered', duplicate: false };
    } catch (err) {
      if (err instanceof CallFailed) return err.outcome;
      throw err;
    }
  }

  /**
   * Whether Rocket.Chat holds a message with this id: chat.getMessage answers 200 with the message
   * (to any member of its room; the bot is one), or 400 `{success: false}` when there is none. Any
   * other answer (timeout, 5xx, 401 after a re-login) throws the usual retry outcome: a send is never
   * called failed while its delivery is unknown.
   */
  async #messageExists(id: string): Promise<boolean> {
    const res = await this.#call('GET', `/api/v1/chat.getMessage?msgId=${encodeURIComponent(id)}`);
    if (res.status === 200 && res.body.success !== false && res.body.message?._id === id) return true;
    if (res.status === 400) return false;
    this.#check(res, 'chat.getMessage');
    return false;
  }

  /** Closes the connection pool (at shutdown, after the last send). */
  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  async #roomFor(username: string): Promise<string> {
    const cached = this.#rooms.get(username);
    if (cached) return cached;
    const res = await this.#call('POST', '/api/v1/dm.create', { username });
    if (res.status === 400 && res.body.errorType === 'error-invalid-user') {
      throw new CallFailed({ kind: 'fatal', reason: 'unknown_user', detail: `Rocket.Chat has no user "${username}"` });
    }
    this.#check(res, 'dm.create');
    const rid = res.body.room?.rid ?? res.body.room?._id;
    if (!rid)
      throw new CallFailed({
        kind: 'retry',
        reason: 'server_error',
        detail: 'dm.create returned no room id',
        countAttempt: true,
      });
    this.#rooms.set(username, rid);
    return rid;
  }

  #check(res: { status: number; body: RcBody; headers: IncomingHttpHeaders }, what: string): void {
    if (res.status >= 200 && res.status < 300 && res.body.success !== false) return;
    const detail = `${what}: ${res.status} ${res.body.errorType ?? ''} ${res.body.error ?? ''}`.trim();
    if (res.status === 401) {
      throw new CallFailed({ kind: 'retry', reason: 'unauthorized', detail, countAttempt: true });
    }
    if (res.status === 403) throw new CallFailed({ kind: 'fatal', reason: 'forbidden', detail });
    if (res.status === 429) {
      const reset = Number(res.headers['x-ratelimit-reset']);
      const afterMs = Number.isFinite(reset) && reset > 0 ? Math.max(0, reset - Date.now()) : 60_000;
      throw new CallFailed({ kind: 'retry', reason: 'rate_limited', detail, afterMs, countAttempt: false });
    }
    if (res.status >= 500) throw new CallFailed({ kind: 'retry', reason: 'server_error', detail, countAttempt: true });
    throw new CallFailed({ kind: 'fatal', reason: 'rejected', detail });
  }

  /** One authenticated call; logs in first (and once more after a 401) when using a password. */
  async #call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: RcBody; headers: IncomingHttpHeaders }> {
    let res = await this.#request(method, path, body, await this.#credentials());
    if (res.status === 401 && this.#auth.kind === 'login') {
      this.#session = undefined; // the session expired or was revoked: log in again, once
      res = await this.#request(method, path, body, await this.#credentials());
    }
    return res;
  }

  async #credentials(): Promise<{ userId: string; authToken: string }> {
    if (this.#session) return this.#session;
    if (this.#auth.kind !== 'login') throw new Error('unreachable: token auth always has a session');
    const res = await this.#request('POST', '/api/v1/login', { user: this.#auth.user, password: this.#auth.password });
    if (res.status === 401) {
      throw new CallFailed({
        kind: 'retry',
        reason: 'unauthorized',
        detail: 'login refused: check the username and password',
        countAttempt: true,
      });
    }
    this.#check(res, 'login');
    const { authToken, userId } = res.body.data ?? {};
    if (!authToken || !userId)
      throw new CallFailed({
        kind: 'retry',
        reason: 'server_error',
        detail: 'login returned no token',
        countAttempt: true,
      });
    this.#session = { userId, authToken };
    return this.#session;
  }

  async #request(method: 'GET' | 'POST', path: string, body: unknown, auth?: { userId: string; authToken: string }) {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (auth) {
      headers['x-user-id'] = auth.userId;
      headers['x-auth-token'] = auth.authToken;
    }
    let res: { status: number; text: string; headers: IncomingHttpHeaders };
    try {
      res = await this.#send(method, path, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      const timeout = TIMEOUT_CODES.has(String((err as { code?: unknown }).code));
      throw new CallFailed({
        kind: 'retry',
        reason: timeout ? 'timeout' : 'network',
        detail: timeout
          ? `${path}: no answer within ${this.#timeoutMs} ms`
          : `${path}: ${String((err as Error).cause ?? err)}`,
        countAttempt: true,
      });
    }
    const { text } = res;
    let parsed: RcBody;
    try {
      parsed = text ? (JSON.parse(text) as RcBody) : {};
    } catch {
      parsed = { error: text.slice(0, 200) };
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /**
   * One call through undici's keep-alive connection pool: cheaper per DM than node:http's client, for
   * us and for the peer, because undici writes the request head and body in one syscall (figures in
   * the README, "Throughput").
   */
  async #send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string) {
    // Origin and path apart: no URL is parsed per call.
    const res = await this.#dispatcher.request({
      origin: this.#origin,
      path: `${this.#basePath}${path}`,
      method,
      headers,
      body,
    });
    return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
  }
}
