// The avatar bucket: uploads stream to avatars/<uuidv7>.<ext> (before the table write that makes the user exist),
// are read through short-lived presigned URLs, and the orphan sweep keeps its checkpoint in sweep/checkpoint.json.
// The bucket stays private.
import type { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import type { ImageType } from '../domain/image-type.ts';
import { CHECKPOINT_KEY, formatCheckpoint, parseCheckpoint } from '../domain/sweep.ts';
import { AVATARS_PREFIX } from '../domain/user.ts';
import { classify } from './aws.ts';

/** S3's smallest multipart part: lib-storage holds at most one of these per upload (queueSize 1). */
export const PART_SIZE = 5 * 1024 * 1024;

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

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
   * Streams `body` to `key` (under avatars/) with its real Content-Type and the owner's email as metadata.
   * A body that errors (too large, client gone) aborts the upload: no object, no parts left behind.
   */
  async upload(key: string, body: Readable, type: ImageType, email: string): Promise<void> {
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

  async delete(key: string): Promise<void> {
    try {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (err) {
      classify('s3', err);
    }
  }

  /** The `email` metadata of an object (undefined when it has none), or gone when the object is gone. */
  async owner(key: string): Promise<{ gone: true } | { gone: false; email: string | undefined }> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { gone: false, email: out.Metadata?.['email'] };
    } catch (err) {
      if (isNotFound(err)) return { gone: true };
      return classify('s3', err);
    }
  }

  /** The keys under avatars/ after `startAfter`, in S3's (lexicographic) order, a listing page at a time. */
  async *listAvatars(startAfter: string): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.#s3.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: AVATARS_PREFIX,
            ...(token === undefined ? { StartAfter: startAfter } : { ContinuationToken: token }),
          }),
        );
      } catch (err) {
        return classify('s3', err);
      }
      yield (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** The sweep's checkpoint (ms since the epoch), or undefined when there is none yet or it is unreadable. */
  async readCheckpoint(): Promise<number | undefined> {
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: CHECKPOINT_KEY }));
      return parseCheckpoint((await out.Body?.transformToString()) ?? '');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      return classify('s3', err);
    }
  }

  async writeCheckpoint(verifiedBefore: number): Promise<void> {
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: CHECKPOINT_KEY,
          Body: formatCheckpoint(verifiedBefore),
          ContentType: 'application/json',
        }),
      );
    } catch (err) {
      classify('s3', err);
    }
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
