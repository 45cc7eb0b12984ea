import { ConfigError } from '@sre-platform/service-kit';
import { describe, expect, it } from 'vitest';

import { readConfig } from '../src/config.ts';

const valid = { TLS_CERT_FILE: '/c', TLS_KEY_FILE: '/k', TLS_CLIENT_CA_FILE: '/ca' };

describe('configuration', () => {
  it('has production defaults', () => {
    const c = readConfig(valid);
    expect(c.API_PORT).toBe(8443);
    expect([...c.operatorGroups]).toEqual(['deployment-api:operators']);
    expect(c.LEASE_DURATION_MS).toBeGreaterThan(c.LEASE_RENEW_DEADLINE_MS);
  });

  it('names the bad variable', () => {
    expect(() => readConfig({})).toThrow(/TLS_CERT_FILE/);
    expect(() => readConfig({ ...valid, API_PORT: 'https' })).toThrow(/API_PORT/);
    expect(() => readConfig({ ...valid, WATCH_NAMESPACE: 'Not_A_Namespace' })).toThrow(/WATCH_NAMESPACE/);
    expect(() => readConfig({ ...valid, LEASE_DURATION_MS: '5000', LEASE_RENEW_DEADLINE_MS: '6000' })).toThrow(
      /LEASE_RENEW_DEADLINE_MS must be less than LEASE_DURATION_MS/,
    );
    expect(() => readConfig({ ...valid, OPERATOR_GROUPS: ' , ' })).toThrow(ConfigError);
  });
});
