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
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { toolBin, uniqueName } from '@sre-platform/test-platform';
import { freePort, startManaged, waitFor, type Managed } from '@sre-platform/test-platform/process';
import { v7 as uuidv7 } from 'uuid';
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

const CHECKPOINT = 'sweep/checkpoint.json';

describe('the users-api policy under IAM enforcement (moto), with the IRSA role assumed by web identity', () => {
  it("allows POST /user's calls: the direct upload to avatars/ (single and multipart), multipart abort, the compensating delete", async () => {
    const Bucket = deployed.bucketName;
    const Key = `avatars/${uuidv7()}.png`;
    const put = () =>
      s3.send(
        new PutObjectCommand({ Bucket, Key, Body: 'png', ContentType: 'image/png', Metadata: { email: 'a@x.io' } }),
      );
    expect(await status(put)).toBe(200);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key })))).toBe(200);
    // Above 5 MiB the upload is multipart: create, parts, complete are all s3:PutObject; a failed one is aborted.
    const big = `avatars/${uuidv7()}.png`;
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: big, ContentType: 'image/png' }));
    const part = await s3.send(
      new UploadPartCommand({ Bucket, Key: big, UploadId: upload.UploadId!, PartNumber: 1, Body: 'last part' }),
    );
    expect(
      await status(() =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key: big,
            UploadId: upload.UploadId!,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] },
          }),
        ),
      ),
    ).toBe(200);
    const failed = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: `avatars/${uuidv7()}.webp` }));
    expect(
      await status(() =>
        s3.send(new AbortMultipartUploadCommand({ Bucket, Key: failed.Key!, UploadId: failed.UploadId! })),
      ),
    ).toBe(200);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: big })))).toBe(200);
  });

  it("allows the reads and the orphan sweep's calls: list after a checkpoint, HeadObject, GetObject, delete, checkpoint get/put", async () => {
    const Bucket = deployed.bucketName;
    const Key = `avatars/${uuidv7()}.gif`;
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'gif', Metadata: { email: 'orphan@x.io' } }));
    // The first sweep finds no checkpoint: 404, not 403 (on AWS, s3:ListBucket is what makes a missing key say so).
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: CHECKPOINT })))).toBe(404);
    const listed = await s3.send(
      new ListObjectsV2Command({
        Bucket,
        Prefix: 'avatars/',
        StartAfter: `avatars/${uuidv7({ msecs: Date.now() - 60_000 })}`,
      }),
    );
    expect(listed.Contents?.map((o) => o.Key)).toContain(Key);
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(head.Metadata).toEqual({ email: 'orphan@x.io' });
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key })))).toBe(200); // presigned reads too
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key })))).toBe(200);
    const checkpoint = JSON.stringify({ after: Key });
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: CHECKPOINT, Body: checkpoint })))).toBe(200);
    const read = await s3.send(new GetObjectCommand({ Bucket, Key: CHECKPOINT }));
    expect(await read.Body!.transformToString()).toBe(checkpoint);
  });

  it('refuses the old staging/ prefix, every other key, version deletes and bucket administration', async () => {
    const Bucket = deployed.bucketName;
    const key = `${uuidv7()}.png`;
    // staging/ is gone from the design, and from the policy.
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: `staging/${key}`, Body: 'png' })))).toBe(403);
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: `staging/${key}` })))).toBe(403);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: `staging/${key}` })))).toBe(403);
    expect(await status(() => s3.send(new CreateMultipartUploadCommand({ Bucket, Key: `staging/${key}` })))).toBe(403);
    // A copy is GetObject on the source plus PutObject on the target: none into a key outside avatars/.
    // (moto checks only the target; on AWS a source outside avatars/ and the checkpoint is refused as well.)
    const { VersionId } = await s3.send(new PutObjectCommand({ Bucket, Key: `avatars/${key}`, Body: 'png' }));
    expect(
      await status(() =>
        s3.send(new CopyObjectCommand({ Bucket, Key: `staging/${key}`, CopySource: `${Bucket}/avatars/${key}` })),
      ),
    ).toBe(403);
    // The checkpoint is one key, read and written, never deleted; nothing else under sweep/.
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: CHECKPOINT })))).toBe(403);
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: 'sweep/other.json', Body: '{}' })))).toBe(
      403,
    );
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: 'sweep/other.json' })))).toBe(403);
    // Other keys anywhere.
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: 'public/x.png', Body: 'png' })))).toBe(403);
    expect(await status(() => s3.send(new PutObjectCommand({ Bucket, Key: 'x.png', Body: 'png' })))).toBe(403);
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: 'other/x.png' })))).toBe(403);
    // Versions: a delete leaves the bytes as a noncurrent version (the lifecycle expires them); the role can neither
    // destroy nor read history.
    expect(VersionId).toBeDefined();
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket, Key: `avatars/${key}` }));
    expect(deleted.DeleteMarker).toBe(true);
    expect(await status(() => s3.send(new DeleteObjectCommand({ Bucket, Key: `avatars/${key}`, VersionId })))).toBe(
      403,
    );
    expect(await status(() => s3.send(new GetObjectCommand({ Bucket, Key: `avatars/${key}`, VersionId })))).toBe(403);
    // Bucket administration.
    expect(await status(() => s3.send(new DeleteBucketCommand({ Bucket })))).toBe(403);
    expect(
      await status(() =>
        s3.send(
          new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [] }) }),
        ),
      ),
    ).toBe(403);
    expect(
      await status(() =>
        s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: [] } })),
      ),
    ).toBe(403);
  });

  it("pins moto's HeadBucket check (s3:HeadBucket, an action IAM does not have; AWS checks s3:ListBucket)", async () => {
    // When this fails, moto authorizes HeadBucket as AWS does, and the service's readiness call is covered above.
    expect(await status(() => s3.send(new HeadBucketCommand({ Bucket: deployed.bucketName })))).toBe(403);
  });
});
