// Rocket.Chat REST API (8.x): authentication, DM room creation and sending a message, and how each
// documented failure is treated. Every call has a timeout; nothing here retries by itself: the
// outcome tells the delivery worker what to do.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

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
  data?: { authToken?: string; userId?: string };
}

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
  const digest = createHash('sha256').update(idempotencyKey).digest();
  let id = '';
  for (let i = 0; i < 17; i++) id += ALPHABET[digest[i]! % ALPHABET.length];
  return id;
}

export class RocketChatClient {
  private session?: { userId: string; authToken: string };
  private readonly rooms = new Map<string, string>();
  private readonly baseUrl: string;
  private readonly auth: Auth;
  private readonly timeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 32 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 32 });

  constructor(baseUrl: string, auth: Auth, timeoutMs: number) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.auth = auth;
    this.timeoutMs = timeoutMs;
    if (auth.kind === 'token') this.session = { userId: auth.userId, authToken: auth.authToken };
  }

  /**
   * Sends `text` to `username` as a direct message. The message id is derived from the event's
   * idempotency key, so a second delivery of the same event is refused by Rocket.Chat (a message
   * with that _id exists) and reported as a duplicate, not sent twice.
   */
  async sendDirectMessage(username: string, text: string, idempotencyKey: string): Promise<Outcome> {
    try {
      const rid = await this.roomFor(username);
      const res = await this.call('/api/v1/chat.sendMessage', {
        message: { _id: messageIdFor(idempotencyKey), rid, msg: text },
      });
      if (res.status === 400 && /E11000|duplicate key|already exists/i.test(res.body.error ?? '')) {
        return { kind: 'delivered', duplicate: true };
      }
      this.check(res, 'chat.sendMessage');
      return { kind: 'delivered', duplicate: false };
    } catch (err) {
      if (err instanceof CallFailed) return err.outcome;
      throw err;
    }
  }

  private async roomFor(username: string): Promise<string> {
    const cached = this.rooms.get(username);
    if (cached) return cached;
    const res = await this.call('/api/v1/dm.create', { username });
    if (res.status === 400 && res.body.errorType === 'error-invalid-user') {
      throw new CallFailed({ kind: 'fatal', reason: 'unknown_user', detail: `Rocket.Chat has no user "${username}"` });
    }
    this.check(res, 'dm.create');
    const rid = res.body.room?.rid ?? res.body.room?._id;
    if (!rid)
      throw new CallFailed({
        kind: 'retry',
        reason: 'server_error',
        detail: 'dm.create returned no room id',
        countAttempt: true,
      });
    this.rooms.set(username, rid);
    return rid;
  }

  private check(res: { status: number; body: RcBody; headers: IncomingHttpHeaders }, what: string): void {
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

  /** One authenticated POST; logs in first (and once more after a 401) when using a password. */
  private async call(
    path: string,
    body: unknown,
  ): Promise<{ status: number; body: RcBody; headers: IncomingHttpHeaders }> {
    let res = await this.post(path, body, await this.credentials());
    if (res.status === 401 && this.auth.kind === 'login') {
      this.session = undefined; // the session expired or was revoked: log in again, once
      res = await this.post(path, body, await this.credentials());
    }
    return res;
  }

  private async credentials(): Promise<{ userId: string; authToken: string }> {
    if (this.session) return this.session;
    if (this.auth.kind !== 'login') throw new Error('unreachable: token auth always has a session');
    const res = await this.post('/api/v1/login', { user: this.auth.user, password: this.auth.password });
    if (res.status === 401) {
      throw new CallFailed({
        kind: 'retry',
        reason: 'unauthorized',
        detail: 'login refused: check the username and password',
        countAttempt: true,
      });
    }
    this.check(res, 'login');
    const { authToken, userId } = res.body.data ?? {};
    if (!authToken || !userId)
      throw new CallFailed({
        kind: 'retry',
        reason: 'server_error',
        detail: 'login returned no token',
        countAttempt: true,
      });
    this.session = { userId, authToken };
    return this.session;
  }

  private async post(path: string, body: unknown, auth?: { userId: string; authToken: string }) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (auth) {
      headers['x-user-id'] = auth.userId;
      headers['x-auth-token'] = auth.authToken;
    }
    let res: { status: number; text: string; headers: IncomingHttpHeaders };
    try {
      res = await this.send(path, headers, JSON.stringify(body));
    } catch (err) {
      const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new CallFailed({
        kind: 'retry',
        reason: timeout ? 'timeout' : 'network',
        detail: timeout
          ? `${path}: no answer within ${this.timeoutMs} ms`
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
   * One POST over node:http with a keep-alive agent: measured cheaper than fetch, whose WHATWG
   * streams were the delivery thread's largest cost. The timeout covers the whole exchange.
   */
  private send(path: string, headers: Record<string, string>, body: string) {
    return new Promise<{ status: number; text: string; headers: IncomingHttpHeaders }>((resolve, reject) => {
      const url = new URL(`${this.baseUrl}${path}`);
      const https = url.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: https ? this.httpsAgent : this.httpAgent,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
          signal: AbortSignal.timeout(this.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              headers: res.headers,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
