import type { PeerCertificate } from 'node:tls';

import { describe, expect, it } from 'vitest';

import { allowed, callerFromCertificate, WRITE_METHODS } from '../src/api/identity.ts';

const mapping = { operatorGroups: new Set(['ops']), readerGroups: new Set(['viewers']) };
const cert = (subject: Record<string, string | string[]>) => ({ subject }) as unknown as PeerCertificate;

describe('certificate identity', () => {
  it('maps subject organizations to roles, operator winning', () => {
    expect(callerFromCertificate(cert({ CN: 'alice', O: 'ops' }), mapping)).toEqual({
      name: 'alice',
      groups: ['ops'],
      role: 'operator',
    });
    expect(callerFromCertificate(cert({ CN: 'bob', O: ['viewers', 'ops'] }), mapping)?.role).toBe('operator');
    expect(callerFromCertificate(cert({ CN: 'carol', O: 'viewers' }), mapping)?.role).toBe('reader');
    expect(callerFromCertificate(cert({ CN: 'dave', O: 'finance' }), mapping)?.role).toBeUndefined();
    expect(callerFromCertificate(cert({ CN: 'erin' }), mapping)?.role).toBeUndefined();
    expect(callerFromCertificate({} as PeerCertificate, mapping)).toBeUndefined();
  });

  it('lets readers read only and nobody without a role do anything', () => {
    expect(allowed('reader', 'GetDeployment')).toBe(true);
    expect(allowed('reader', 'Diff')).toBe(true);
    expect(allowed('reader', 'SetDesiredReplicas')).toBe(false);
    expect(allowed('reader', 'Unmanage')).toBe(false);
    expect(allowed('operator', 'Unmanage')).toBe(true);
    expect(allowed(undefined, 'GetDeployment')).toBe(false);
  });
});

describe('WRITE_METHODS, read from the .proto', () => {
  it('holds exactly the methods without idempotency_level = NO_SIDE_EFFECTS', () => {
    expect([...WRITE_METHODS].sort()).toEqual(['SetDesiredReplicas', 'Unmanage']);
  });
});
