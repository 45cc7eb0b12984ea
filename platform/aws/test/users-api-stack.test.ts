// The synthesized template, asserted with CDK's own assertions: what each resource declares, the exact policy
// statements, and the trust conditions of both EKS roles. Offline: no account, no network.
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';

import { LIFECYCLE_RULES } from '../../../services/users-api/scripts/ensure-resources.ts';
import { buildApp, DEFAULT_SETTINGS, settingsFromContext, type UsersApiSettings } from '../src/app.ts';
import { toApiLifecycleRule } from '../src/deploy-local.ts';
import { CONTRACT_ACTIONS } from '../src/users-api-stack.ts';

const ISSUER = 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';

function template(overrides: Partial<UsersApiSettings> = {}): Template {
  const { stack } = buildApp({ ...DEFAULT_SETTINGS, ...overrides });
  return Template.fromStack(stack);
}

const bucketId = (t: Template) => Object.keys(t.findResources('AWS::S3::Bucket'))[0]!;
const tableId = (t: Template) => Object.keys(t.findResources('AWS::DynamoDB::Table'))[0]!;
const roleId = (t: Template, prefix: string) =>
  Object.keys(t.findResources('AWS::IAM::Role')).find((id) => id.startsWith(prefix))!;
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const objectsOf = (id: string, prefix: string) => ({ 'Fn::Join': ['', [arnOf(id), `/${prefix}*`]] });
const objectOf = (id: string, key: string) => ({ 'Fn::Join': ['', [arnOf(id), `/${key}`]] });

describe('users-api stack', () => {
  it('declares only plain CloudFormation resources: no assets, custom resources, Lambdas, parameters or rules', () => {
    const t = template({ oidcIssuer: ISSUER, clusterName: 'prod' });
    const types = Object.values(t.toJSON()['Resources'] as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types.sort()).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::EKS::PodIdentityAssociation',
      'AWS::IAM::ManagedPolicy',
      'AWS::IAM::Role',
      'AWS::IAM::Role',
      'AWS::S3::Bucket',
      'AWS::S3::BucketPolicy',
    ]);
    expect(t.toJSON()['Parameters']).toBeUndefined();
    expect(t.toJSON()['Rules']).toBeUndefined();
    const { app, stack } = buildApp({ ...DEFAULT_SETTINGS, oidcIssuer: ISSUER });
    const artifact = app.synth().getStackArtifact(stack.artifactId);
    // The only "asset" is the template itself, which the CLI uploads: nothing to build, nothing to bootstrap for.
    expect(artifact.assets.filter((a) => a.packaging !== 'file' || !String(a.path).endsWith('.template.json'))).toEqual(
      [],
    );
  });

  it('the table: email partition key, on-demand, point-in-time recovery, encrypted, retained with deletion protection', () => {
    const t = template();
    t.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        TableName: 'users',
        KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        ProvisionedThroughput: Match.absent(),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('the bucket: SSE-S3, versioned, public access blocked, owner-enforced; lifecycle: multipart abort, noncurrent expiry', () => {
    const t = template({ bucketName: 'avatars-example' });
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'avatars-example',
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        // Exactly these rules: no staging/ expiry (the two-call design writes no staging object), and every
        // prefix the service writes in a versioned bucket has its noncurrent versions expired.
        Rules: [
          {
            Id: 'abort-incomplete-multipart-uploads',
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
          {
            Id: 'expire-noncurrent-avatars',
            Status: 'Enabled',
            Prefix: 'avatars/',
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            ExpiredObjectDeleteMarker: true,
          },
          {
            Id: 'expire-noncurrent-sweep-checkpoint',
            Status: 'Enabled',
            Prefix: 'sweep/checkpoint.json',
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          },
        ],
      },
    });
  });

  it("the emulator buckets of users-api's tests and `make up` (scripts/ensure-resources.ts) get the same lifecycle rules", () => {
    const bucket = Object.values(template().findResources('AWS::S3::Bucket'))[0] as {
      Properties: { LifecycleConfiguration: { Rules: Parameters<typeof toApiLifecycleRule>[0][] } };
    };
    expect(LIFECYCLE_RULES).toEqual(bucket.Properties.LifecycleConfiguration.Rules.map(toApiLifecycleRule));
  });

  it('translates a lifecycle rule field by field, and refuses what the S3 API could not take', () => {
    expect(toApiLifecycleRule({ Id: 'm', Status: 'Enabled', Prefix: 'a/', ExpiredObjectDeleteMarker: true })).toEqual({
      ID: 'm',
      Status: 'Enabled',
      Filter: { Prefix: 'a/' },
      Expiration: { ExpiredObjectDeleteMarker: true },
    });
    expect(toApiLifecycleRule({ Status: 'Enabled', ExpirationInDays: 7 })).toEqual({
      Status: 'Enabled',
      Filter: { Prefix: '' },
      Expiration: { Days: 7 },
    });
    // One Expiration element holds one or the other.
    expect(() =>
      toApiLifecycleRule({ Id: 'both', Status: 'Enabled', ExpirationInDays: 7, ExpiredObjectDeleteMarker: true }),
    ).toThrow(/both: ExpirationInDays and ExpiredObjectDeleteMarker exclude each other/);
    // A field the translation does not know is an error, not a rule silently weakened.
    expect(() =>
      toApiLifecycleRule({ Id: 'x', Status: 'Enabled', Transitions: [] } as unknown as Parameters<
        typeof toApiLifecycleRule
      >[0]),
    ).toThrow(/x: no translation for Transitions/);
  });

  it('the bucket policy denies every request not made over TLS, on the bucket and its objects', () => {
    const t = template();
    const b = bucketId(t);
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: b },
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: [arnOf(b), { 'Fn::Join': ['', [arnOf(b), '/*']] }],
          },
        ],
      },
    });
  });

  it("grants exactly the contract's actions on exactly the table, the bucket, avatars/ and the sweep checkpoint", () => {
    const t = template({ oidcIssuer: ISSUER });
    const b = bucketId(t);
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: Match.objectEquals({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'UsersTable',
            Effect: 'Allow',
            Action: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
            Resource: arnOf(tableId(t)),
          },
          { Sid: 'AvatarBucketList', Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(b) },
          {
            Sid: 'AvatarObjects',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
            Resource: objectsOf(b, 'avatars/'),
          },
          {
            Sid: 'SweepCheckpoint',
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:PutObject'],
            Resource: objectOf(b, 'sweep/checkpoint.json'),
          },
        ],
      }),
      // Attached to both roles from the policy's side (moto honours this, not the role's ManagedPolicyArns).
      Roles: Match.arrayEquals([{ Ref: roleId(t, 'IrsaRole') }, { Ref: roleId(t, 'PodIdentityRole') }]),
    });
    // Nowhere else in the stack is anything granted: no inline policies, no other policy resources.
    expect(Object.keys(t.findResources('AWS::IAM::Policy'))).toEqual([]);
    t.allResourcesProperties('AWS::IAM::Role', { Policies: Match.absent(), ManagedPolicyArns: Match.absent() });
    const granted = new Set(Object.values(CONTRACT_ACTIONS).flat());
    expect([...granted].sort()).toEqual([
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Scan',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
  });

  it('the IRSA role trusts the OIDC provider for exactly one ServiceAccount, with the STS audience', () => {
    const t = template({ oidcIssuer: `https://${ISSUER}`, namespace: 'prod-users', serviceAccount: 'users-api' });
    t.hasResourceProperties('AWS::IAM::Role', {
      MaxSessionDuration: 3600,
      AssumeRolePolicyDocument: Match.objectEquals({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRoleWithWebIdentity',
            Principal: {
              Federated: {
                'Fn::Join': [
                  '',
                  ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, `:oidc-provider/${ISSUER}`],
                ],
              },
            },
            Condition: {
              StringEquals: {
                [`${ISSUER}:sub`]: 'system:serviceaccount:prod-users:users-api',
                [`${ISSUER}:aud`]: 'sts.amazonaws.com',
              },
            },
          },
        ],
      }),
    });
  });

  it('takes an explicit OIDC provider ARN, and has no IRSA role without an issuer', () => {
    const arn = `arn:aws:iam::111122223333:oidc-provider/${ISSUER}`;
    template({ oidcIssuer: ISSUER, oidcProviderArn: arn }).hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Federated: arn } })] },
    });
    const without = template();
    without.resourceCountIs('AWS::IAM::Role', 1);
    expect(Object.keys(without.findOutputs('IrsaRoleArn'))).toEqual([]);
  });

  it('the Pod Identity role trusts pods.eks.amazonaws.com (AssumeRole + TagSession) for the ServiceAccount only', () => {
    const t = template({ namespace: 'prod-users', clusterName: 'prod' });
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectEquals({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['sts:AssumeRole', 'sts:TagSession'],
            Principal: { Service: 'pods.eks.amazonaws.com' },
            Condition: {
              StringEquals: {
                'aws:RequestTag/kubernetes-namespace': 'prod-users',
                'aws:RequestTag/kubernetes-service-account': 'users-api',
                'aws:RequestTag/eks-cluster-name': 'prod',
              },
            },
          },
        ],
      }),
    });
    t.hasResourceProperties('AWS::EKS::PodIdentityAssociation', {
      ClusterName: 'prod',
      Namespace: 'prod-users',
      ServiceAccount: 'users-api',
      RoleArn: arnOf(roleId(t, 'PodIdentityRole')),
    });
    template().resourceCountIs('AWS::EKS::PodIdentityAssociation', 0);
  });

  it('lets an emulator delete its data, sends access logs where asked, and names its outputs', () => {
    const t = template({ retainData: false, accessLogsBucketName: 'org-access-logs' });
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
    t.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    t.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: 'org-access-logs', LogFilePrefix: 'users-api-avatars/' },
    });
    expect(Object.keys(template({ oidcIssuer: ISSUER }).toJSON()['Outputs'] as object).sort()).toEqual([
      'BucketArn',
      'BucketName',
      'IrsaRoleArn',
      'PodIdentityRoleArn',
      'PolicyArn',
      'TableArn',
      'TableName',
    ]);
  });

  it('reads its settings from CDK context, strings included, and refuses nonsense', () => {
    const ctx = (values: Record<string, unknown>) => settingsFromContext((k) => values[k]);
    expect(ctx({})).toEqual(DEFAULT_SETTINGS);
    expect(
      ctx({ retainData: 'false', oidcIssuer: ISSUER, clusterName: 'prod', accessLogsBucket: 'logs', tableName: 't' }),
    ).toMatchObject({
      retainData: false,
      oidcIssuer: ISSUER,
      clusterName: 'prod',
      accessLogsBucketName: 'logs',
      tableName: 't',
    });
    expect(() => ctx({ retainData: 'maybe' })).toThrow(/retainData/);
    expect(() => ctx({ namespace: 3 })).toThrow(/namespace/);
    // The cdk.json defaults are what the CLI gets.
    const app = new App({ context: { stackName: 'users-api', retainData: 'true' } });
    expect(settingsFromContext((k) => app.node.tryGetContext(k)).retainData).toBe(true);
  });
});
