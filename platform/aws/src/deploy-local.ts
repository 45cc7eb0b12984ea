// Deploys the synthesized users-api template through the CloudFormation API of an AWS emulator (moto, LocalStack)
// by endpoint: synth in-process, CreateStack or UpdateStack, the SDK's waiter, the stack's outputs. No CDK CLI, no
// bootstrap, no account: `make up` and the integration tests call deployLocal(); a person runs
//   node platform/aws/src/deploy-local.ts --endpoint http://127.0.0.1:5000 [--region us-east-1] [--stack-name users-api]
// Real AWS goes through `cdk deploy --profile` instead (README.md).
//
// moto's CloudFormation creates every resource of this template but silently drops some of their properties
// (versioning, lifecycle, public access block and ownership controls of AWS::S3::Bucket; AWS::S3::BucketPolicy as a
// whole; a table's PointInTimeRecoverySpecification; it stores SSESpecification but never reports it).
// reconcileEmulatorGaps() reads each of those back through the service API and, only where the emulator lacks it,
// applies exactly what the template declares (taken from the synthesized template, never a second copy), and reports
// every gap it found: applied, or left out with the reason. Two are left out on purpose:
// - the TLS-only bucket policy on a plain-HTTP endpoint: moto evaluates bucket policies, so `aws:SecureTransport`
//   false would deny every call the service makes (on an https endpoint it is applied);
// - table encryption: moto's UpdateTable has no SSESpecification, so there is nothing to apply it with.
// On real AWS nothing here runs; on an emulator that honours the template the list is empty.
// test/deploy-local.int.test.ts pins moto's gaps, so an upgrade that closes one shows up.
import { parseArgs } from 'node:util';

import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  waitUntilStackCreateComplete,
  waitUntilStackUpdateComplete,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateContinuousBackupsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  type LifecycleRule,
  type ObjectOwnership,
} from '@aws-sdk/client-s3';

import { DEFAULT_SETTINGS, synthTemplate, type UsersApiSettings } from './app.ts';

export interface DeployLocalOptions {
  /** The emulator's endpoint (moto, LocalStack), e.g. http://127.0.0.1:5000. */
  endpoint: string;
  region?: string;
  stackName?: string;
  /** Default: the contract's (`users`, `users-api-avatars`), so the service's defaults find them. */
  tableName?: string;
  bucketName?: string;
  /** An OIDC issuer for the IRSA role; default a placeholder, so the emulator gets the whole template. */
  oidcIssuer?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Log one line per step (the CLI passes console.error). */
  log?: (line: string) => void;
}

export interface DeployedStack {
  stackName: string;
  tableName: string;
  tableArn: string;
  bucketName: string;
  bucketArn: string;
  policyArn: string;
  podIdentityRoleArn: string;
  irsaRoleArn?: string;
  /** Logical id -> physical id of every resource CloudFormation created. */
  resources: Record<string, { type: string; physicalId: string }>;
  /** What the emulator's CloudFormation dropped: applied through the service API instead, or left out (and why). */
  emulatorGaps: EmulatorGap[];
}

/** Not a real issuer: the local cluster is not EKS; the IRSA role is created so its trust policy is checked too. */
export const PLACEHOLDER_OIDC_ISSUER = 'oidc.eks.us-east-1.amazonaws.com/id/00000000000000000000000000000000';

export interface EmulatorGap {
  property: string;
  action: 'applied' | 'left out';
  why?: string;
}

export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

export async function deployLocal(options: DeployLocalOptions): Promise<DeployedStack> {
  const region = options.region ?? 'us-east-1';
  const stackName = options.stackName ?? DEFAULT_SETTINGS.stackName;
  const log = options.log ?? (() => undefined);
  const clientConfig = {
    endpoint: options.endpoint,
    region,
    credentials: options.credentials ?? { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const settings: UsersApiSettings = {
    ...DEFAULT_SETTINGS,
    stackName,
    tableName: options.tableName ?? 'users',
    bucketName: options.bucketName ?? 'users-api-avatars',
    oidcIssuer: options.oidcIssuer ?? PLACEHOLDER_OIDC_ISSUER,
    // An emulator's data is disposable: no deletion protection, and deleting the stack deletes the table.
    retainData: false,
  };
  const template = synthTemplate(settings) as Template;

  const cfn = new CloudFormationClient(clientConfig);
  try {
    const existing = await describeStack(cfn, stackName);
    const body = {
      StackName: stackName,
      TemplateBody: JSON.stringify(template),
      Capabilities: ['CAPABILITY_IAM' as const],
    };
    if (!existing) {
      log(`creating stack ${stackName} at ${options.endpoint}`);
      await cfn.send(new CreateStackCommand(body));
      await waitUntilStackCreateComplete(
        { client: cfn, maxWaitTime: 300, minDelay: 1, maxDelay: 5 },
        { StackName: stackName },
      );
    } else {
      log(`updating stack ${stackName} at ${options.endpoint}`);
      try {
        await cfn.send(new UpdateStackCommand(body));
        await waitUntilStackUpdateComplete(
          { client: cfn, maxWaitTime: 300, minDelay: 1, maxDelay: 5 },
          { StackName: stackName },
        );
      } catch (err) {
        if (!/No updates are to be performed/i.test(String(err))) throw err;
      }
    }
    const stack = await describeStack(cfn, stackName);
    if (!stack) throw new Error(`stack ${stackName} vanished after its deployment`);
    const out = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
    const listed = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }));
    // moto lists the resources its CloudFormation skipped (AWS::S3::BucketPolicy) without an id or type.
    const resources = Object.fromEntries(
      (listed.StackResources ?? [])
        .filter((r) => r.LogicalResourceId)
        .map((r) => [
          r.LogicalResourceId ?? '',
          { type: r.ResourceType ?? '', physicalId: r.PhysicalResourceId ?? '' },
        ]),
    );
    const need = (key: string) => {
      const v = out[key];
      if (!v) throw new Error(`stack ${stackName} has no output ${key}`);
      return v;
    };
    const deployed: DeployedStack = {
      stackName,
      tableName: need('TableName'),
      tableArn: need('TableArn'),
      bucketName: need('BucketName'),
      bucketArn: need('BucketArn'),
      policyArn: need('PolicyArn'),
      podIdentityRoleArn: need('PodIdentityRoleArn'),
      ...(out['IrsaRoleArn'] ? { irsaRoleArn: out['IrsaRoleArn'] } : {}),
      resources,
      emulatorGaps: [],
    };
    deployed.emulatorGaps = await reconcileEmulatorGaps(template, deployed, clientConfig);
    if (deployed.emulatorGaps.length > 0) {
      for (const g of deployed.emulatorGaps) {
        log(`emulator gap: ${g.property} ${g.action}${g.why ? ` (${g.why})` : ''}`);
      }
    }
    return deployed;
  } finally {
    cfn.destroy();
  }
}

async function describeStack(cfn: CloudFormationClient, stackName: string): Promise<Stack | undefined> {
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = res.Stacks?.[0];
    return stack && stack.StackStatus !== 'DELETE_COMPLETE' ? stack : undefined;
  } catch (err) {
    if (/does not exist/i.test(String(err))) return undefined;
    throw err;
  }
}

function only(template: Template, type: string): [string, Record<string, unknown>] {
  const found = Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  if (found.length !== 1) throw new Error(`expected one ${type} in the template, found ${found.length}`);
  const [id, r] = found[0]!;
  return [id, r.Properties ?? {}];
}

const errorName = (err: unknown) => (err as { name?: string }).name ?? '';

/** Read each property moto's CloudFormation is known to drop; where it is missing, apply the template's value. */
export async function reconcileEmulatorGaps(
  template: Template,
  deployed: Pick<DeployedStack, 'tableName' | 'bucketName' | 'resources'>,
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } },
): Promise<EmulatorGap[]> {
  const gaps: EmulatorGap[] = [];
  const applied = (property: string) => gaps.push({ property, action: 'applied' });
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
  const dynamo = new DynamoDBClient(clientConfig);
  try {
    const Bucket = deployed.bucketName;
    const [, bucket] = only(template, 'AWS::S3::Bucket');

    const versioning = bucket['VersioningConfiguration'] as { Status: 'Enabled' | 'Suspended' } | undefined;
    if (versioning && (await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status !== versioning.Status) {
      await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: versioning.Status } }));
      applied('S3 VersioningConfiguration');
    }

    const lifecycle = bucket['LifecycleConfiguration'] as { Rules: CfnLifecycleRule[] } | undefined;
    if (lifecycle && !(await exists(() => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))))) {
      await s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket,
          LifecycleConfiguration: { Rules: lifecycle.Rules.map(toApiLifecycleRule) },
        }),
      );
      applied('S3 LifecycleConfiguration');
    }

    const pab = bucket['PublicAccessBlockConfiguration'] as Record<string, boolean> | undefined;
    if (pab && !(await exists(() => s3.send(new GetPublicAccessBlockCommand({ Bucket }))))) {
      await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: pab }));
      applied('S3 PublicAccessBlockConfiguration');
    }

    const ownership = bucket['OwnershipControls'] as { Rules: { ObjectOwnership: ObjectOwnership }[] } | undefined;
    if (ownership && !(await exists(() => s3.send(new GetBucketOwnershipControlsCommand({ Bucket }))))) {
      await s3.send(new PutBucketOwnershipControlsCommand({ Bucket, OwnershipControls: ownership }));
      applied('S3 OwnershipControls');
    }

    if (!(await exists(() => s3.send(new GetBucketPolicyCommand({ Bucket }))))) {
      if (new URL(clientConfig.endpoint).protocol !== 'https:') {
        gaps.push({
          property: 'AWS::S3::BucketPolicy',
          action: 'left out',
          why: 'the endpoint is plain HTTP: its aws:SecureTransport deny would refuse every call',
        });
      } else {
        const document = bucketPolicyDocument(template, Bucket);
        await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify(document) }));
        applied('AWS::S3::BucketPolicy');
      }
    }

    const [, table] = only(template, 'AWS::DynamoDB::Table');
    const pitr = table['PointInTimeRecoverySpecification'] as { PointInTimeRecoveryEnabled: boolean } | undefined;
    if (pitr?.PointInTimeRecoveryEnabled) {
      const backups = await dynamo.send(new DescribeContinuousBackupsCommand({ TableName: deployed.tableName }));
      const status = backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus;
      if (status !== 'ENABLED') {
        await dynamo.send(
          new UpdateContinuousBackupsCommand({
            TableName: deployed.tableName,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        );
        applied('DynamoDB PointInTimeRecoverySpecification');
      }
    }
    const sse = table['SSESpecification'] as { SSEEnabled: boolean } | undefined;
    if (sse?.SSEEnabled) {
      const described = await dynamo.send(new DescribeTableCommand({ TableName: deployed.tableName }));
      if (described.Table?.SSEDescription?.Status !== 'ENABLED') {
        gaps.push({
          property: 'DynamoDB SSESpecification',
          action: 'left out',
          why: "the emulator does not report the table's encryption, and has no UpdateTable SSESpecification",
        });
      }
    }
    return gaps;
  } finally {
    s3.destroy();
    dynamo.destroy();
  }
}

/** The template's bucket policy document with the bucket's name and ARN filled in. */
export function bucketPolicyDocument(template: Template, bucketName: string): unknown {
  const [bucketId] = only(template, 'AWS::S3::Bucket');
  const [, policy] = only(template, 'AWS::S3::BucketPolicy');
  return resolveIntrinsics(policy['PolicyDocument'], {
    [bucketId]: { Ref: bucketName, Arn: `arn:aws:s3:::${bucketName}` },
  });
}

/** Whether a Get* call finds its configuration (false on the S3 "no such configuration" errors). */
async function exists(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (err) {
    if (/^NoSuch|NotFound/.test(errorName(err))) return false;
    throw err;
  }
}

interface CfnLifecycleRule {
  Id?: string;
  Status: 'Enabled' | 'Disabled';
  Prefix?: string;
  ExpirationInDays?: number;
  ExpiredObjectDeleteMarker?: boolean;
  NoncurrentVersionExpiration?: { NoncurrentDays: number };
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
}

/** A CloudFormation lifecycle rule as the S3 API spells it (the fields this template uses; anything else throws). */
export function toApiLifecycleRule(rule: CfnLifecycleRule): LifecycleRule {
  const known = new Set([
    'Id',
    'Status',
    'Prefix',
    'ExpirationInDays',
    'ExpiredObjectDeleteMarker',
    'NoncurrentVersionExpiration',
    'AbortIncompleteMultipartUpload',
  ]);
  const unknown = Object.keys(rule).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`lifecycle rule ${rule.Id ?? ''}: no translation for ${unknown.join(', ')}`);
  // Both live in the API's one Expiration element, which takes one or the other (S3 refuses the pair).
  if (rule.ExpirationInDays && rule.ExpiredObjectDeleteMarker)
    throw new Error(
      `lifecycle rule ${rule.Id ?? ''}: ExpirationInDays and ExpiredObjectDeleteMarker exclude each other`,
    );
  return {
    ...(rule.Id ? { ID: rule.Id } : {}),
    Status: rule.Status,
    Filter: { Prefix: rule.Prefix ?? '' },
    ...(rule.ExpirationInDays ? { Expiration: { Days: rule.ExpirationInDays } } : {}),
    ...(rule.ExpiredObjectDeleteMarker ? { Expiration: { ExpiredObjectDeleteMarker: true } } : {}),
    ...(rule.NoncurrentVersionExpiration
      ? { NoncurrentVersionExpiration: { NoncurrentDays: rule.NoncurrentVersionExpiration.NoncurrentDays } }
      : {}),
    ...(rule.AbortIncompleteMultipartUpload
      ? {
          AbortIncompleteMultipartUpload: {
            DaysAfterInitiation: rule.AbortIncompleteMultipartUpload.DaysAfterInitiation,
          },
        }
      : {}),
  };
}

/** Resolve Ref, Fn::GetAtt and Fn::Join against known attributes; anything else is refused, not guessed. */
export function resolveIntrinsics(value: unknown, attributes: Record<string, Record<string, string>>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, attributes));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const attr = (id: string, name: string) => {
    const v = attributes[id]?.[name];
    if (v === undefined) throw new Error(`cannot resolve ${id}.${name}`);
    return v;
  };
  if (keys.length === 1 && keys[0] === 'Ref') return attr(String(obj['Ref']), 'Ref');
  if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
    const [id, name] = obj['Fn::GetAtt'] as [string, string];
    return attr(id, name);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Join') {
    const [sep, parts] = obj['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveIntrinsics(p, attributes)).join(sep);
  }
  const intrinsic = keys.find((k) => k.startsWith('Fn::'));
  if (intrinsic) throw new Error(`cannot resolve ${intrinsic}`);
  return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(obj[k], attributes)]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string' },
      region: { type: 'string', default: process.env['AWS_REGION'] ?? 'us-east-1' },
      'stack-name': { type: 'string', default: DEFAULT_SETTINGS.stackName },
      'table-name': { type: 'string' },
      'bucket-name': { type: 'string' },
    },
  });
  const endpoint = values.endpoint ?? process.env['AWS_ENDPOINT_URL'];
  if (!endpoint) throw new Error('--endpoint (or AWS_ENDPOINT_URL) is required: the emulator to deploy to');
  const deployed = await deployLocal({
    endpoint,
    region: values.region,
    stackName: values['stack-name'],
    // The service's own variables name them too, so that `make up` (users-api's setup) creates what it will use.
    ...((values['table-name'] ?? process.env['USERS_TABLE'])
      ? { tableName: values['table-name'] ?? process.env['USERS_TABLE'] }
      : {}),
    ...((values['bucket-name'] ?? process.env['AVATAR_BUCKET'])
      ? { bucketName: values['bucket-name'] ?? process.env['AVATAR_BUCKET'] }
      : {}),
    // eslint-disable-next-line no-console
    log: (line) => console.error(line),
  });
  process.stdout.write(`${JSON.stringify(deployed, null, 2)}\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`deploy-local: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
