// Rocket.Chat's REST API (8.x) through undici: an administrator's session, and the user reads and
// writes the bootstrap makes. Errors are Rocket.Chat's `{success: false, error, errorType}`; an
// unknown user in users.info is a 400 "User not found.", read here as absent.
import { Agent, request } from 'undici';

import type { UserView } from '../steps.ts';
import { UpstreamError } from './errors.ts';

type Json = Record<string, unknown>;
interface Session {
  userId: string;
  authToken: string;
}

export interface NewUser {
  username: string;
  name: string;
  email: string;
  password: string;
  roles: string[];
}

export class RocketChatClient {
  readonly #base: string;
  readonly #dispatcher: Agent;
  #session?: Session;

  constructor(url: string, timeoutMs: number) {
    this.#base = url.replace(/\/+$/, '');
    this.#dispatcher = new Agent({ connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async #send(method: 'GET' | 'POST', path: string, body?: unknown, session?: Session) {
    try {
      const res = await request(`${this.#base}${path}`, {
        method,
        dispatcher: this.#dispatcher,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(session ? { 'x-user-id': session.userId, 'x-auth-token': session.authToken } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      let json: Json = {};
      try {
        json = JSON.parse(text) as Json;
      } catch {
        json = {};
      }
      return { status: res.statusCode, json };
    } catch (err) {
      // The path only: a query string never carries a secret here, but the body might.
      throw new UpstreamError('Rocket.Chat', `${method} ${path.split('?')[0]}`, undefined, (err as Error).message);
    }
  }

  #fail(call: string, res: { status: number; json: Json }): never {
    const error = typeof res.json['error'] === 'string' ? res.json['error'] : '';
    throw new UpstreamError('Rocket.Chat', call, res.status, error);
  }

  /** POST /api/v1/login: a session, or undefined when the credentials are refused (401). */
  async login(user: string, password: string): Promise<Session | undefined> {
    const res = await this.#send('POST', '/api/v1/login', { user, password });
    if (res.status === 401) return undefined;
    const data = res.json['data'] as Json | undefined;
    if (res.status !== 200 || typeof data?.['authToken'] !== 'string' || typeof data['userId'] !== 'string') {
      this.#fail('POST /api/v1/login', res);
    }
    return { userId: data['userId'], authToken: data['authToken'] };
  }

  /** Ends a session this run opened (a login token counts against the user's 50). */
  async logout(session: Session): Promise<void> {
    await this.#send('POST', '/api/v1/logout', undefined, session).catch(() => undefined);
  }

  /** Logs the administrator in once for the run. */
  async signIn(user: string, password: string): Promise<void> {
    const session = await this.login(user, password);
    if (!session)
      throw new UpstreamError('Rocket.Chat', 'POST /api/v1/login (administrator)', 401, 'credentials refused');
    this.#session = session;
  }

  async signOut(): Promise<void> {
    if (this.#session) await this.logout(this.#session);
    this.#session = undefined;
  }

  #admin(): Session {
    if (!this.#session) throw new Error('signIn() first');
    return this.#session;
  }

  async user(username: string): Promise<UserView | undefined> {
    const call = 'GET /api/v1/users.info';
    const res = await this.#send(
      'GET',
      `/api/v1/users.info?username=${encodeURIComponent(username)}`,
      undefined,
      this.#admin(),
    );
    if (res.status === 400 && res.json['error'] === 'User not found.') return undefined;
    if (res.status !== 200) this.#fail(call, res);
    return toUser(res.json['user'] as Json);
  }

  async createUser(user: NewUser): Promise<UserView> {
    const res = await this.#send(
      'POST',
      '/api/v1/users.create',
      { ...user, verified: true, joinDefaultChannels: false, sendWelcomeEmail: false, requirePasswordChange: false },
      this.#admin(),
    );
    if (res.status !== 200) this.#fail('POST /api/v1/users.create', res);
    return toUser(res.json['user'] as Json);
  }

  async updateUser(userId: string, data: { password?: string; roles?: string[] }): Promise<void> {
    const res = await this.#send('POST', '/api/v1/users.update', { userId, data }, this.#admin());
    if (res.status !== 200) this.#fail('POST /api/v1/users.update', res);
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

function toUser(u: Json): UserView {
  return {
    id: String(u['_id']),
    username: String(u['username']),
    roles: Array.isArray(u['roles']) ? u['roles'].map(String) : [],
  };
}
