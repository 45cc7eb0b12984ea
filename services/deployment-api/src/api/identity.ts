// Who is calling, from the verified client certificate, and what they may do. The subject's
// Organization values are the caller's groups (as Kubernetes reads client certificates); the
// configured groups grant a role. The TLS layer has already refused unverified certificates.
import type { PeerCertificate, TLSSocket } from 'node:tls';

import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import { createContextKey } from '@connectrpc/connect';

import { DeploymentService } from '../gen/sre_platform/deployments/v1/deployments_pb.js';

export type Role = 'operator' | 'reader';

export interface Caller {
  /** The subject common name, for logs. */
  name: string;
  groups: string[];
  role: Role | undefined;
}

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: 'mTLS caller' });

export interface RoleMapping {
  operatorGroups: ReadonlySet<string>;
  readerGroups: ReadonlySet<string>;
}

function values(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export function callerFromCertificate(cert: PeerCertificate | undefined, mapping: RoleMapping): Caller | undefined {
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const groups = values(subject['O']);
  const name = values(subject['CN'])[0] ?? '(no common name)';
  const role = groups.some((g) => mapping.operatorGroups.has(g))
    ? 'operator'
    : groups.some((g) => mapping.readerGroups.has(g))
      ? 'reader'
      : undefined;
  return { name, groups, role };
}

export function callerFromSocket(socket: unknown, mapping: RoleMapping): Caller | undefined {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (!tls || typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return undefined;
  return callerFromCertificate(tls.getPeerCertificate(), mapping);
}

/**
 * Methods that change state; everything else is a read. One home: the .proto, where every read says
 * `idempotency_level = NO_SIDE_EFFECTS` (which Connect also uses to allow GET); any other method of
 * the API, a new one included, is a write until the .proto says otherwise.
 */
export const WRITE_METHODS: ReadonlySet<string> = new Set(
  DeploymentService.methods
    .filter((m) => m.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS)
    .map((m) => m.name),
);

export function allowed(role: Role | undefined, method: string): boolean {
  if (role === 'operator') return true;
  if (role === 'reader') return !WRITE_METHODS.has(method);
  return false;
}
