// The synthesized template deployed through CloudFormation (CreateStack + the SDK's waiter) to the run's moto
// server, then every resource read back through its own service API: the table, the bucket with its policy,
// lifecycle, versioning and encryption, the managed policy and both roles. Then the contract's own calls against the
// created table and bucket (POST /user's upload to avatars/ and conditional PutItem with its compensating delete, the
// orphan sweep's list, HeadObject, GetItem, delete and checkpoint), and a redeploy.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  ConditionalCheckFailedException,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { awsClientConfig, moto, uniqueName } from '@sre-platform/test-platform';
import { v7 as uuidv7 } from 'uuid';
import { beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_SETTINGS, synthTemplate } from '../src/app.ts';
import {
  bucketPolicyDocument,
  deployLocal,
  PLACEHOLDER_OIDC_ISSUER,
  type DeployedStack,
  type Template,
} from '../src/deploy-local.ts';

const names = { stackName: uniqueName('users-api'), tableName: uniqueName('users'), bucketName: uniqueName('avatars') };
let deployed: DeployedStack;
let seconds = 0;

const config = () => awsClientConfig();

beforeAll(async () => {
  const t0 = performance.now();
  deployed = await deployLocal({ endpoint: moto().endpoint, region: moto().region, ...names });
  seconds = (performance.now() - t0) / 1000;
}, 180_000);

// No DeleteStack afterwards: moto's CloudFormation deletes the roles before detaching the managed policy and fails
// with DeleteConflict (a real account detaches first). Unique names isolate runs; moto lives for one test run.

describe('users-api stack deployed to moto through CloudFormation', () => {
  it('creates the stack with the named table and bucket, and reports its outputs', async () => {
    // eslint-disable-next-line no-console
    console.log(`deployLocal to moto: ${seconds.toFixed(1)} s (synth included)`);
    const cfn = new CloudFormationClient(config());
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: names.stackName }))).Stacks?.[0];
    cfn.destroy();
    expect(stack?.StackStatus).toBe('CREATE_COMPLETE');
    expect(deployed).toMatchObject({
      tableName: names.tableName,
      bucketName: names.bucketName,
      bucketArn: `arn:aws:s3:::${names.bucketName}`,
      tableArn: expect.stringMatching(new RegExp(`^arn:aws:dynamodb:us-east-1:\\d{12}:table/${names.tableName}$`)),
    });
    expect(
      Object.values(deployed.resources)
        .map((r) => r.type)
        .sort(),
    ).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::IAM::ManagedPolicy',
      'AWS::IAM::Role',
      'AWS::IAM::Role',
      'AWS::S3::Bucket',
    ]);
  });

  it("pins moto's CloudFormation gaps (when this fails, moto applies one itself: drop its workaround)", () => {
    expect(deployed.emulatorGaps.map((g) => `${g.property}: ${g.action}`)).toEqual([
      'S3 VersioningConfiguration: applied',
      'S3 LifecycleConfiguration: applied',
      'S3 PublicAccessBlockConfiguration: applied',
      'S3 OwnershipControls: applied',
      'AWS::S3::BucketPolicy: left out',
      'DynamoDB PointInTimeRecoverySpecification: applied',
      'DynamoDB SSESpecification: left out',
    ]);
  });

  it('the table: email partition key, on demand, encrypted, point-in-time recovery', async () => {
    const dynamo = new DynamoDBClient(config());
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: names.tableName }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'email', KeyType: 'HASH' }]);
    expect(Table?.AttributeDefinitions).toEqual([{ AttributeName: 'email', AttributeType: 'S' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    // Declared (SSESpecification, test/users-api-stack.test.ts) and stored by moto, which never reports it back.
    expect(Table?.SSEDescription).toBeUndefined();
    const backups = await dynamo.send(new DescribeContinuousBackupsCommand({ TableName: names.tableName }));
    expect(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe(
      'ENABLED',
    );
    dynamo.destroy();
  });

  it('the bucket: SSE-S3, versioning, public access blocked, lifecycle and a TLS-only policy', async () => {
    const s3 = new S3Client(config());
    const Bucket = names.bucketName;
    const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket }));
    expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe(
      'AES256',
    );
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status).toBe('Enabled');
    expect((await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    const lifecycle = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    const rules = Object.fromEntries((lifecycle.Rules ?? []).map((r) => [r.ID, r]));
    expect((lifecycle.Rules ?? []).map((r) => r.ID).sort()).toEqual([
      'abort-incomplete-multipart-uploads',
      'expire-noncurrent-avatars',
      'expire-noncurrent-sweep-checkpoint',
    ]);
    expect(rules['abort-incomplete-multipart-uploads']).toMatchObject({
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
    expect(rules['expire-noncurrent-avatars']).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: 'avatars/' },
      Expiration: { ExpiredObjectDeleteMarker: true },
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
    });
    expect(rules['expire-noncurrent-sweep-checkpoint']).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: 'sweep/checkpoint.json' },
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    // Left out over plain HTTP (see the next test for why); moto reports no policy.
    await expect(s3.send(new GetBucketPolicyCommand({ Bucket }))).rejects.toMatchObject({ name: 'NoSuchBucketPolicy' });
    s3.destroy();
  });

  it('the TLS-only bucket policy, as synthesized, refuses plain-HTTP calls that succeed without it', async () => {
    const s3 = new S3Client(config());
    const Bucket = uniqueName('tls-only');
    await s3.send(new CreateBucketCommand({ Bucket }));
    const put = () => s3.send(new PutObjectCommand({ Bucket, Key: 'avatars/probe', Body: 'x' }));
    await put();
    const template = synthTemplate({ ...DEFAULT_SETTINGS, bucketName: Bucket, retainData: false }) as Template;
    const document = bucketPolicyDocument(template, Bucket);
    expect(document).toMatchObject({
      Statement: [{ Effect: 'Deny', Resource: [`arn:aws:s3:::${Bucket}`, `arn:aws:s3:::${Bucket}/*`] }],
    });
    await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify(document) }));
    await expect(put()).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    s3.destroy();
  });

  it('the policy grants exactly the contract actions on the created ARNs, attached to both roles', async () => {
    const iam = new IAMClient(config());
    const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: deployed.policyArn }));
    const version = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn: deployed.policyArn, VersionId: Policy!.DefaultVersionId! }),
    );
    const doc = JSON.parse(decodeURIComponent(version.PolicyVersion!.Document!));
    const bucketArn = deployed.bucketArn;
    expect(doc.Statement).toEqual([
      {
        Sid: 'UsersTable',
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
        Resource: deployed.tableArn,
      },
      { Sid: 'AvatarBucketList', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
      {
        Sid: 'AvatarObjects',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        Resource: `${bucketArn}/avatars/*`,
      },
      {
        Sid: 'SweepCheckpoint',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: `${bucketArn}/sweep/checkpoint.json`,
      },
    ]);
    for (const arn of [deployed.irsaRoleArn!, deployed.podIdentityRoleArn]) {
      const RoleName = arn.split('/').pop()!;
      const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName }));
      expect(attached.AttachedPolicies?.map((p) => p.PolicyArn)).toEqual([deployed.policyArn]);
    }
    iam.destroy();
  });

  it('the IRSA and Pod Identity roles trust exactly the ServiceAccount users-api/users-api', async () => {
    const iam = new IAMClient(config());
    const trust = async (arn: string): Promise<{ Statement: unknown[] }> => {
      const { Role } = await iam.send(new GetRoleCommand({ RoleName: arn.split('/').pop()! }));
      return JSON.parse(decodeURIComponent(Role!.AssumeRolePolicyDocument!)) as { Statement: unknown[] };
    };
    const account = deployed.tableArn.split(':')[4];
    expect((await trust(deployed.irsaRoleArn!)).Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRoleWithWebIdentity',
        Principal: { Federated: `arn:aws:iam::${account}:oidc-provider/${PLACEHOLDER_OIDC_ISSUER}` },
        Condition: {
          StringEquals: {
            [`${PLACEHOLDER_OIDC_ISSUER}:sub`]: 'system:serviceaccount:users-api:users-api',
            [`${PLACEHOLDER_OIDC_ISSUER}:aud`]: 'sts.amazonaws.com',
          },
        },
      },
    ]);
    expect((await trust(deployed.podIdentityRoleArn)).Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Principal: { Service: 'pods.eks.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:RequestTag/kubernetes-namespace': 'users-api',
            'aws:RequestTag/kubernetes-service-account': 'users-api',
          },
        },
      },
    ]);
    iam.destroy();
  });

  it("serves the contract's calls: POST /user's upload, conditional PutItem and compensation, the orphan sweep, reads, readiness", async () => {
    const dynamo = new DynamoDBClient(config());
    const s3 = new S3Client(config());
    const Bucket = names.bucketName;
    const TableName = names.tableName;
    // Readiness.
    await dynamo.send(new DescribeTableCommand({ TableName }));
    await s3.send(new HeadBucketCommand({ Bucket }));
    // POST /user: the avatar straight to its final key (time-ordered), then the conditional PutItem.
    const email = 'a@example.com';
    const upload = async (key: string) =>
      s3.send(
        new PutObjectCommand({ Bucket, Key: key, Body: 'png bytes', ContentType: 'image/png', Metadata: { email } }),
      );
    const putItem = (key: string) =>
      dynamo.send(
        new PutItemCommand({
          TableName,
          Item: {
            name: { S: 'Test User' },
            email: { S: email },
            avatar_url: { S: `https://${Bucket}.s3.us-east-1.amazonaws.com/${key}` },
          },
          ConditionExpression: 'attribute_not_exists(email)',
        }),
      );
    const first = `avatars/${uuidv7()}.png`;
    await upload(first);
    await putItem(first);
    // A second request with the same email: its object is written, the table refuses it, the request deletes it.
    const second = `avatars/${uuidv7()}.png`;
    await upload(second);
    await expect(putItem(second)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: second }));
    // An orphan: a process that died between the two writes.
    const orphan = `avatars/${uuidv7()}.png`;
    await s3.send(new PutObjectCommand({ Bucket, Key: orphan, Body: 'png', Metadata: { email: 'gone@example.com' } }));
    // GET /users (a Scan), and the object the avatar redirect presigns a GetObject for, with its real Content-Type.
    const scanned = await dynamo.send(new ScanCommand({ TableName }));
    expect(scanned.Items?.map((i) => i['avatar_url']?.S)).toEqual([
      `https://${Bucket}.s3.us-east-1.amazonaws.com/${first}`,
    ]);
    expect((await s3.send(new HeadObjectCommand({ Bucket, Key: first }))).ContentType).toBe('image/png');
    // The orphan sweep: no checkpoint yet, list avatars/ (in creation order), HeadObject for the email, GetItem,
    // delete what no item references, store the checkpoint.
    await expect(s3.send(new GetObjectCommand({ Bucket, Key: 'sweep/checkpoint.json' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'avatars/', StartAfter: 'avatars/' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([first, orphan]);
    const owners: Record<string, boolean> = {};
    for (const { Key } of listed.Contents ?? []) {
      const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
      const owner = head.Metadata?.['email'];
      const item = await dynamo.send(
        new GetItemCommand({ TableName, Key: { email: { S: owner! } }, ConsistentRead: true }),
      );
      const referenced = item.Item?.['avatar_url']?.S?.endsWith(`/${Key!}`) === true;
      owners[Key!] = referenced;
      if (!referenced) await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    }
    expect(owners).toEqual({ [first]: true, [orphan]: false });
    await s3.send(
      new PutObjectCommand({ Bucket, Key: 'sweep/checkpoint.json', Body: JSON.stringify({ after: orphan }) }),
    );
    const checkpoint = await s3.send(new GetObjectCommand({ Bucket, Key: 'sweep/checkpoint.json' }));
    expect(JSON.parse(await checkpoint.Body!.transformToString())).toEqual({ after: orphan });
    const left = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'avatars/' }));
    expect(left.Contents?.map((o) => o.Key)).toEqual([first]);
    dynamo.destroy();
    s3.destroy();
  });

  it('redeploys idempotently: same outputs, nothing left to apply', async () => {
    const again = await deployLocal({ endpoint: moto().endpoint, region: moto().region, ...names });
    expect(again.emulatorGaps.map((g) => `${g.property}: ${g.action}`)).toEqual([
      'AWS::S3::BucketPolicy: left out',
      'DynamoDB SSESpecification: left out',
    ]);
    expect(again).toMatchObject({
      tableArn: deployed.tableArn,
      bucketArn: deployed.bucketArn,
      policyArn: deployed.policyArn,
      irsaRoleArn: deployed.irsaRoleArn,
      podIdentityRoleArn: deployed.podIdentityRoleArn,
    });
  });
});
