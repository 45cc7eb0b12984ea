// The policy as IAM evaluates it, not only as written: a moto server of this file's own with IAM enforcement on
// (the run's shared moto keeps it off, and switching it there would break every other file), the stack deployed to
// it, the IRSA role assumed through STS's web identity call, and then the service's S3 calls made with the role's
// credentials: the contract's calls succeed, anything beside them is refused.
//
// Only S3 is checked here. moto authorizes DynamoDB calls against the resource "*" (it derives no table ARN), so a
// policy scoped to one table is refused everything there: a moto limit, not the policy's; the DynamoDB statement is
// asserted exactly in deploy-local.int.test.ts and users-api-stack.test.ts instead.
import { join } from 'node:path';

import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { toolBin, uniqueName } from '@sre-platform/test-platform';
import { freePort, startManaged, waitFor, type Managed } from '@sre-platform/test-platform/process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deployLocal, type DeployedStack } from '../src/deploy-local.ts';

let moto: Managed;
let endpoint: string;
let deployed: DeployedStack;
let s3: S3Client;

/** moto's switch: the next `count` requests go unauthenticated, every later one is authorized ("inf": never). */
async function authAfter(count: number | 'inf'): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    body: String(count),
    headers: { 'content-type': 'text/plain' },
  });
  if (!res.ok) throw new Error(`moto reset-auth: ${res.status}`);
}

beforeAll(async () => {
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  moto = startManaged('moto-iam', join(toolBin('moto'), 'moto_server'), ['-H', '127.0.0.1', '-p', String(port)]);
  await waitFor('moto (IAM enforced)', async () => (await fetch(`${endpoint}/moto-api/`)).ok, 30_000, moto);
  deployed = await deployLocal({
    endpoint,
    stackName: uniqueName('users-api'),
    tableName: uniqueName('users'),
    bucketName: uniqueName('avatars'),
  });
  // One unauthenticated request left: AssumeRoleWithWebIdentity, which the SDK sends unsigned (as on AWS, where the
  // web identity token is the credential); moto cannot authorize an unsigned request once enforcement is on.
  await authAfter(1);
  const sts = new STSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const assumed = await sts.send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: deployed.irsaRoleArn,
      RoleSessionName: 'users-api-pod',
      WebIdentityToken: 'a projected service account token',
    }),
  );
  sts.destroy();
  const c = assumed.Credentials!;
  s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! },
  });
}, 180_000);

afterAll(async () => {
  s3?.destroy();
  await moto?.stop();
});

const status = async (call: () => Promise<unknown>): Promise<number> => {
  try {
    await call();
    return 200;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? -1;
  }
};

describe('the users-api policy under IAM enforcement (moto), with the IRSA role assumed by web identity', () => {
  it("allows the service's S3 calls: staging upload (single and multipart), promotion by copy, reads, deletes, listing", async () => {
    const Bucket = deployed.bucketName;
    const key = `${crypto.randomUUID()}.png`;
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: `staging/${key}`, Body: 'png' })))).toBe(200);
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: `staging/${key}` })))).toBe(200);
    expect(
      await status(() =>
        s3.send(new CopyObjectCommand({ Bucket, Key: `avatars/${key}`, CopySource: `${Bucket}/staging/${key}` })),
      ),
    ).toBe(200);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: `staging/${key}` })))).toBe(200);
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: `avatars/${key}` })))).toBe(200);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: `avatars/${key}` })))).toBe(200);
    expect(await status(() => s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'staging/' })))).toBe(200);
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: `staging/${key}` }));
    expect(
      await status(() =>
        s3.send(new AbortMultipartUploadCommand({ Bucket, Key: `staging/${key}`, UploadId: upload.UploadId! })),
      ),
    ).toBe(200);
  });

  it('refuses everything else: other prefixes, bucket administration', async () => {
    const Bucket = deployed.bucketName;
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: 'public/x.png', Body: 'png' })))).toBe(403);
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: 'x.png', Body: 'png' })))).toBe(403);
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: 'other/x.png' })))).toBe(403);
    expect(await status(() => s3.send(new DeleteBucketCommand({ Bucket })))).toBe(403);
    expect(
      await status(() =>
        s3.send(
          new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [] }) }),
        ),
      ),
    ).toBe(403);
  });

  it("pins moto's HeadBucket check (s3:HeadBucket, an action IAM does not have; AWS checks s3:ListBucket)", async () => {
    // When this fails, moto authorizes HeadBucket as AWS does, and the service's readiness call is covered above.
    expect(await status(() => s3.send(new HeadBucketCommand({ Bucket: deployed.bucketName })))).toBe(403);
  });
});
