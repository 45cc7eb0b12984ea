// cdk-nag's AwsSolutions pack over the whole app: zero unacknowledged findings in every shape the stack takes,
// every acknowledgment justified and still needed (a fix that makes one stale fails here), and the pack wired into
// synth itself, so `cdk synth` and deploy-local refuse a new finding too.
import { type App, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import nag from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';

import { buildApp, DEFAULT_SETTINGS, type UsersApiSettings } from '../src/app.ts';

const ISSUER = 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const SHAPES: Record<string, Partial<UsersApiSettings>> = {
  defaults: {},
  'IRSA + Pod Identity association + access logs': {
    oidcIssuer: ISSUER,
    clusterName: 'prod',
    accessLogsBucketName: 'org-access-logs',
  },
  'emulator (deploy-local)': { oidcIssuer: ISSUER, retainData: false, bucketName: 'users-api-avatars' },
};

function findingIds(app: App, honourAcknowledgments: boolean): string[] {
  const pack = new nag.AwsSolutionsChecks(app);
  if (!honourAcknowledgments) {
    // The pack's own acknowledgment lookup, switched off: what it would report if nothing were acknowledged.
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  }
  const report = pack.validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)).sort();
}

function acknowledgments(root: IConstruct): { id: string; path: string; reason: string }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          path: c.node.path,
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  for (const [name, overrides] of Object.entries(SHAPES)) {
    it(`${name}: no unacknowledged finding, and every acknowledgment is used and justified`, () => {
      const { app } = buildApp({ ...DEFAULT_SETTINGS, ...overrides });
      expect(findingIds(app, true)).toEqual([]);

      const acks = acknowledgments(app);
      for (const a of acks) expect(a.reason.length, `${a.id} on ${a.path} needs a real reason`).toBeGreaterThan(60);
      // Each raw finding is acknowledged on its own resource or an ancestor, and each acknowledgment matches a
      // raw finding: nothing blanket, nothing stale.
      const raw = findingIds(app, false);
      const matched = new Set<string>();
      for (const f of raw) {
        const [id, path] = f.split(' @ ') as [string, string];
        const ack = acks.find((a) => a.id === id && (path === a.path || path.startsWith(`${a.path}/`)));
        expect(ack, `raw finding ${f} has no acknowledgment`).toBeDefined();
        matched.add(`${ack!.id} @ ${ack!.path}`);
      }
      expect(acks.map((a) => `${a.id} @ ${a.path}`).sort()).toEqual([...matched].sort());
    });
  }

  it('the acknowledgments are exactly: the avatars/ object grant, and S1 without a log bucket', () => {
    const ids = (o: Partial<UsersApiSettings>) =>
      acknowledgments(buildApp({ ...DEFAULT_SETTINGS, ...o }).app)
        .map((a) => a.id.replace(/<AvatarBucket[0-9A-F]+\.Arn>/, '<bucket>'))
        .sort();
    expect(ids({})).toEqual(['AwsSolutions-IAM5[Resource::<bucket>/avatars/*]', 'AwsSolutions-S1']);
    expect(ids({ accessLogsBucketName: 'org-access-logs' })).not.toContain('AwsSolutions-S1');
  });

  it('synth itself refuses a new finding (the pack is registered on the app, not only in this test)', () => {
    const { app, stack } = buildApp({ ...DEFAULT_SETTINGS });
    new s3.Bucket(stack, 'CarelessBucket'); // no TLS-only policy, no access logs
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });
});
