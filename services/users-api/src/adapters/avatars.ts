// The avatar bucket: uploads stream to staging/<uuid>, are copied server-side to avatars/<uuid>.<ext> once
// the user exists, and are read through short-lived presigned URLs. The bucket stays private.
import type { Readable } from 'node:stream';

import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import type { ImageType } from '../domain/image-type.ts';
import { STAGING_PREFIX } from '../domain/user.ts';
import { classify } from './aws.ts';

/** S3's smallest multipart part: lib-storage holds at most one of these per upload (queueSize 1). */
export const PART_SIZE = 5 * 1024 * 1024;

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

export interface StagingObject {
  key: string;
  lastModified: Date;
}

export class AvatarStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  get bucket(): string {
    return this.#bucket;
  }

  /**
   * Streams `body` to `key` (under staging/) with its real Content-Type and the owner's email as metadata.
   * A body that errors (too large, client gone) aborts the upload: no object, no parts left behind.
   */
  async uploadStaging(key: string, body: Readable, type: ImageType, email: string): Promise<void> {
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.#bucket, Key: key, Body: body, ContentType: type.mime, Metadata: { email } },
      partSize: PART_SIZE,
      queueSize: 1,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      // The body's own error (413, client abort) is the caller's to report, not S3's.
      if (body.errored) throw body.errored;
      classify('s3', err);
    }
  }

  /**
   * Copies staging -> final with the real Content-Type, then deletes the staging object. Idempotent: a
   * staging object already moved (by the sweep, or by the request that wrote it) answers 'vanished'.
   */
  async promote(from: string, to: string, type: ImageType, email: string): Promise<'promoted' | 'vanished'> {
    try {
      await this.#s3.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: to,
          CopySource: `${this.#bucket}/${from}`,
          ContentType: type.mime,
          Metadata: { email },
          MetadataDirective: 'REPLACE',
        }),
      );
    } catch (err) {
      if (isNotFound(err)) return 'vanished';
      classify('s3', err);
    }
    await this.delete(from);
    return 'promoted';
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (err) {
      classify('s3', err);
    }
  }

  /** The `email` metadata of a staging object (undefined when it has none), or gone when the object is gone. */
  async stagingOwner(key: string): Promise<{ gone: true } | { gone: false; email: string | undefined }> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { gone: false, email: out.Metadata?.['email'] };
    } catch (err) {
      if (isNotFound(err)) return { gone: true };
      return classify('s3', err);
    }
  }

  /** Every object under staging/, a listing page at a time. */
  async *listStaging(): AsyncGenerator<StagingObject[]> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.#s3.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: STAGING_PREFIX, ContinuationToken: token }),
        );
      } catch (err) {
        return classify('s3', err);
      }
      yield (out.Contents ?? []).flatMap((o) =>
        o.Key !== undefined && o.LastModified !== undefined ? [{ key: o.Key, lastModified: o.LastModified }] : [],
      );
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** A GetObject URL valid for `ttlSeconds`: signed locally, no call to S3. */
  presignedGet(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.#s3, new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { expiresIn: ttlSeconds });
  }

  /** Readiness: the bucket exists and we may list it. */
  async head(signal?: AbortSignal): Promise<void> {
    try {
      await this.#s3.send(new HeadBucketCommand({ Bucket: this.#bucket }), { abortSignal: signal });
    } catch (err) {
      classify('s3', err);
    }
  }
}
