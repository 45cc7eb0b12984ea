// invoice-app configuration: environment variables, validated at start-up.
import { databaseConfigProperties } from '@sre-platform/database';
import { baseConfigProperties, ConfigError, loadConfig, Type, type Static } from '@sre-platform/service-kit';

export const ConfigSchema = Type.Object({
  ...baseConfigProperties,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),

  // Base URL of the payment provider; /payments/pay is appended. In Kubernetes:
  // http://payment-provider.<namespace>.svc.cluster.local:8082
  PAYMENT_PROVIDER_URL: Type.String({ format: 'uri', pattern: '^https?://' }),
  // Bound on one call to the provider (connect, send, answer).
  PAYMENT_PROVIDER_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 120_000, default: 5000 }),
  // Further attempts, with the same Idempotency-Key, after a timeout, a network error, a 429 or a 5xx.
  PAYMENT_PROVIDER_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  // Back-off before retry n is a random time up to BACKOFF * 2^n (full jitter).
  PAYMENT_PROVIDER_BACKOFF_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 200 }),
  // After this many invoices in a row find the provider unreachable, a pay call stops sending and
  // reports the rest as not sent (they stay unpaid for the next call).
  PAY_STOP_AFTER_UNREACHABLE: Type.Integer({ minimum: 1, maximum: 10_000, default: 5 }),
  // Provider calls in flight per pay request, and invoices claimed per database round trip.
  PAY_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
  PAY_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),

  ...databaseConfigProperties,
});

export type Config = Static<typeof ConfigSchema> & {
  /** Where POST /payments/pay goes. */
  payUrl: URL;
  /** How long a claimed invoice stays ours before another replica may take it over. */
  leaseMs: number;
};

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = loadConfig(ConfigSchema, env);
  const base = new URL(c.PAYMENT_PROVIDER_URL);
  if (base.search || base.hash || base.username || base.password) {
    throw new ConfigError('PAYMENT_PROVIDER_URL must be a base URL without query, fragment or credentials');
  }
  if (/\/payments\/pay\/?$/.test(base.pathname)) {
    throw new ConfigError(
      'PAYMENT_PROVIDER_URL is the base URL (e.g. http://payment-provider:8082); /payments/pay is appended',
    );
  }
  const payUrl = new URL('payments/pay', base.href.endsWith('/') ? base.href : `${base.href}/`);
  // Long enough for every invoice of one claimed batch to go through all its attempts.
  const attemptMs =
    (c.PAYMENT_PROVIDER_RETRIES + 1) * c.PAYMENT_PROVIDER_TIMEOUT_MS +
    c.PAYMENT_PROVIDER_BACKOFF_MS * (2 ** (c.PAYMENT_PROVIDER_RETRIES + 1) - 1);
  const rounds = Math.ceil(c.PAY_BATCH_SIZE / c.PAY_CONCURRENCY);
  return { ...c, payUrl, leaseMs: rounds * attemptMs + 10_000 };
}
