// Creates the users table and the avatar bucket when they are missing: for `make up` and the benchmark,
// against the local emulator only (AWS_ENDPOINT_URL is required). Real accounts get them from the IaC
// (platform/aws), with encryption, versioning, the TLS-only policy and the lifecycle rules; this is the
// same names, keys and lifecycle rules, nothing more, until `make up` deploys that template to the emulator.
//   AWS_ENDPOINT_URL=http://127.0.0.1:5000 node services/users-api/scripts/ensure-resources.ts
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
  type LifecycleRule,
} from '@aws-sdk/client-s3';

/**
 * The stack's lifecycle rules (platform/aws/src/users-api-stack.ts) as the S3 API spells them; a test there
 * (users-api-stack.test.ts) fails when the two differ. No rule expires avatars/: orphans are the sweep's to delete.
 */
export const LIFECYCLE_RULES: LifecycleRule[] = [
  {
    ID: 'abort-incomplete-multipart-uploads',
    Status: 'Enabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
  },
  {
    ID: 'expire-noncurrent-avatars',
    Status: 'Enabled',
    Filter: { Prefix: 'avatars/' },
    Expiration: { ExpiredObjectDeleteMarker: true },
    NoncurrentVersionExpiration: { NoncurrentDays: 30 },
  },
  {
    ID: 'expire-noncurrent-sweep-checkpoint',
    Status: 'Enabled',
    Filter: { Prefix: 'sweep/checkpoint.json' },
    NoncurrentVersionExpiration: { NoncurrentDays: 1 },
  },
];

export interface Resources {
  endpoint: string;
  region: string;
  table: string;
  bucket: string;
  /** Else the SDK's default chain (the emulator accepts any). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The environment of a users-api process against `r`: the emulator, the credentials when given, the names. */
export function resourcesEnv(r: Resources): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: r.endpoint,
    AWS_REGION: r.region,
    ...(r.credentials
      ? { AWS_ACCESS_KEY_ID: r.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: r.credentials.secretAccessKey }
      : {}),
    USERS_TABLE: r.table,
    AVATAR_BUCKET: r.bucket,
  };
}

export async function ensureResources(r: Resources): Promise<void> {
  const common = { endpoint: r.endpoint, region: r.region, ...(r.credentials ? { credentials: r.credentials } : {}) };
  const dynamodb = new DynamoDBClient(common);
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  try {
    try {
      await dynamodb.send(new DescribeTableCommand({ TableName: r.table }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
      await dynamodb.send(
        new CreateTableCommand({
          TableName: r.table,
          AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: r.table });
    }
    try {
      await s3.send(new HeadBucketCommand({ Bucket: r.bucket }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404) throw err;
      await s3.send(new CreateBucketCommand({ Bucket: r.bucket }));
      // The stack's rules: unfinished multipart uploads aborted after a day, non-current versions expired (inert
      // here, where the bucket is not versioned, and kept so the emulator bucket says what the real one does).
      await s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: r.bucket,
          LifecycleConfiguration: { Rules: LIFECYCLE_RULES },
        }),
      );
    }
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}

if (import.meta.main) {
  const endpoint = process.env['AWS_ENDPOINT_URL'];
  if (!endpoint) {
    process.stderr.write('ensure-resources: AWS_ENDPOINT_URL is required (this script is for the local emulator)\n');
    process.exit(1);
  }
  const r = {
    endpoint,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    table: process.env['USERS_TABLE'] ?? 'users',
    bucket: process.env['AVATAR_BUCKET'] ?? 'users-api-avatars',
  };
  await ensureResources(r);
  process.stdout.write(`ensure-resources: table ${r.table} and bucket ${r.bucket} ready at ${endpoint}\n`);
}
