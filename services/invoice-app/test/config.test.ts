import { describe, expect, it } from 'vitest';

import { readConfig } from '../src/config.ts';

describe('configuration', () => {
  it('takes the provider base URL from PAYMENT_PROVIDER_URL and appends /payments/pay', () => {
    const c = readConfig({ PAYMENT_PROVIDER_URL: 'http://payment-provider.payments.svc.cluster.local:8082' });
    expect(c.payUrl.href).toBe('http://payment-provider.payments.svc.cluster.local:8082/payments/pay');
    expect(c.PORT).toBe(8081);
    expect(readConfig({ PAYMENT_PROVIDER_URL: 'https://pay.example.com/v1/' }).payUrl.href).toBe(
      'https://pay.example.com/v1/payments/pay',
    );
  });

  it('names the variable when the URL is missing or wrong', () => {
    expect(() => readConfig({})).toThrow(/PAYMENT_PROVIDER_URL is required/);
    expect(() => readConfig({ PAYMENT_PROVIDER_URL: 'payment-provider:8082' })).toThrow(/PAYMENT_PROVIDER_URL/);
    expect(() => readConfig({ PAYMENT_PROVIDER_URL: 'ftp://x' })).toThrow(/PAYMENT_PROVIDER_URL/);
    expect(() => readConfig({ PAYMENT_PROVIDER_URL: 'http://x:8082/payments/pay' })).toThrow(/is the base URL/);
    expect(() => readConfig({ PAYMENT_PROVIDER_URL: 'http://u:p@x:8082' })).toThrow(
      /without query, fragment or credentials/,
    );
    expect(() => readConfig({ PAYMENT_PROVIDER_URL: 'http://x', PAYMENT_PROVIDER_TIMEOUT_MS: '0' })).toThrow(
      /PAYMENT_PROVIDER_TIMEOUT_MS/,
    );
  });

  it('sizes the claim lease to outlast every attempt of a whole batch', () => {
    const c = readConfig({
      PAYMENT_PROVIDER_URL: 'http://x',
      PAYMENT_PROVIDER_TIMEOUT_MS: '1000',
      PAYMENT_PROVIDER_RETRIES: '2',
      PAYMENT_PROVIDER_BACKOFF_MS: '100',
      PAY_BATCH_SIZE: '32',
      PAY_CONCURRENCY: '16',
    });
    // 2 rounds x (3 attempts x 1000 ms + back-off 100 x (2+4)... bounded by 100 x 7) + 10 s
    expect(c.leaseMs).toBe(2 * (3 * 1000 + 700) + 10_000);
  });
});
