// webhook-app configuration: environment variables, validated at start-up.
import { databaseConfigProperties } from '@sre-platform/database';
import { baseConfigProperties, ConfigError, loadConfig, Secret, Type, type Static } from '@sre-platform/service-kit';

import type { Auth } from './adapters/rocketchat.ts';
import type { DeliverySettings } from './delivery.ts';
import type { RecipientRules } from './domain/push.ts';

const Username = Type.String({ minLength: 1, maxLength: 120, pattern: '^[A-Za-z0-9_.@-]+$' });

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  // The shared secret GitLab sends in X-Gitlab-Token.
  GITLAB_WEBHOOK_SECRET: Secret(Type.String({ minLength: 16 })),
  // Bearer token for /admin/*; without it the admin API answers 404.
  ADMIN_TOKEN: Type.Optional(Secret(Type.String({ minLength: 16 }))),

  ...databaseConfigProperties,
  // Accepts arriving while a commit runs are stored together by the next INSERT (group commit). 1 turns it
  // off; then raise ACCEPT_COMMITS_IN_FLIGHT towards DATABASE_POOL_SIZE, or accepts are committed one at a time.
  ACCEPT_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 256 }),
  // Accept INSERTs in flight at once; 1 (measured best) makes the groups as large as the load allows.
  ACCEPT_COMMITS_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),

  ROCKETCHAT_URL: Type.String({ format: 'uri' }),
  // Either a personal access token (user id + token) or a username and password to log in with.
  ROCKETCHAT_USER_ID: Type.Optional(Type.String({ minLength: 1 })),
  ROCKETCHAT_AUTH_TOKEN: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  ROCKETCHAT_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  ROCKETCHAT_PASSWORD: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  ROCKETCHAT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  ROCKETCHAT_DEFAULT_RECIPIENT: Username,
  // JSON objects: {"group/project": "username"} and {"author@example.com": "username"}.
  ROCKETCHAT_RECIPIENTS_BY_PROJECT: Type.String({ default: '{}' }),
  ROCKETCHAT_RECIPIENTS_BY_AUTHOR: Type.String({ default: '{}' }),

  DELIVERY_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 1000, default: 15 }),
  DELIVERY_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 1000 }),
  DELIVERY_BACKOFF_CAP_MS: Type.Integer({ minimum: 1, default: 300_000 }),
  DELIVERY_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  DELIVERY_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 16 }),
  DELIVERY_POLL_MS: Type.Integer({ minimum: 10, default: 500 }),
});

export type Config = Static<typeof ConfigSchema> & {
  rocketchatAuth: Auth;
  recipients: RecipientRules;
  /** The delivery worker's settings, derived once here (plain data: it crosses to the delivery thread). */
  delivery: DeliverySettings;
};

/** How long a wake-up after an accept waits for more accepts before the worker claims. */
const WAKE_WINDOW_MS = 10;

function mapping(name: string, raw: string, keyLower: boolean): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be a JSON object of strings`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${name} must be a JSON object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9_.@-]+$/.test(v)) {
      throw new ConfigError(`${name}["${k}"] must be a Rocket.Chat username`);
    }
    out[keyLower ? k.toLowerCase() : k] = v;
  }
  return out;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, env);
  let rocketchatAuth: Auth;
  if (c.ROCKETCHAT_USER_ID && c.ROCKETCHAT_AUTH_TOKEN) {
    rocketchatAuth = { kind: 'token', userId: c.ROCKETCHAT_USER_ID, authToken: c.ROCKETCHAT_AUTH_TOKEN };
  } else if (c.ROCKETCHAT_USERNAME && c.ROCKETCHAT_PASSWORD) {
    rocketchatAuth = { kind: 'login', user: c.ROCKETCHAT_USERNAME, password: c.ROCKETCHAT_PASSWORD };
  } else {
    throw new ConfigError(
      'ROCKETCHAT_USER_ID and ROCKETCHAT_AUTH_TOKEN (a personal access token), or ROCKETCHAT_USERNAME and ROCKETCHAT_PASSWORD, are required',
    );
  }
  if (c.DELIVERY_BACKOFF_CAP_MS < c.DELIVERY_BACKOFF_BASE_MS) {
    throw new ConfigError('DELIVERY_BACKOFF_CAP_MS must be at least DELIVERY_BACKOFF_BASE_MS');
  }
  return {
    ...c,
    rocketchatAuth,
    delivery: {
      batchSize: c.DELIVERY_BATCH_SIZE,
      concurrency: c.DELIVERY_CONCURRENCY,
      maxAttempts: c.DELIVERY_MAX_ATTEMPTS,
      backoffBaseMs: c.DELIVERY_BACKOFF_BASE_MS,
      backoffCapMs: c.DELIVERY_BACKOFF_CAP_MS,
      // Each delivery makes at most four calls (login, dm.create, chat.sendMessage and, after a 400,
      // chat.getMessage), each phase of which is bounded by the timeout; the slack covers undici's 1 s
      // timer resolution. Should a lease still run out mid-send, the next worker's re-send of the same
      // message id creates nothing, and the client finds the message by that id.
      leaseMs: c.ROCKETCHAT_TIMEOUT_MS * 4 + 10_000,
      idlePollMs: c.DELIVERY_POLL_MS,
      wakeWindowMs: WAKE_WINDOW_MS,
    },
    recipients: {
      defaultRecipient: c.ROCKETCHAT_DEFAULT_RECIPIENT,
      byProject: mapping('ROCKETCHAT_RECIPIENTS_BY_PROJECT', c.ROCKETCHAT_RECIPIENTS_BY_PROJECT, false),
      byAuthorEmail: mapping('ROCKETCHAT_RECIPIENTS_BY_AUTHOR', c.ROCKETCHAT_RECIPIENTS_BY_AUTHOR, true),
    },
  };
}
