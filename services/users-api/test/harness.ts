// What users-api's integration tests share: a table and bucket of their own on the run's moto server, the
// service as a real process against them, SDK clients to look behind it, and multipart forms.
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort, startProcess, type StartedProcess } from '@sre-platform/service-kit/testing';
import { awsClientConfig, moto, uniqueName } from '@sre-platform/test-platform';

import { ensureResources, resourcesEnv } from '../scripts/ensure-resources.ts';

export const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
export const GIF_SIGNATURE = Buffer.from('GIF89a', 'latin1');
export const WEBP_SIGNATURE = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0, 0, 0, 0]), Buffer.from('WEBPVP8 ')]);

/**
 * A real PNG (any decoder reads it): `width` x `height` RGB pixels of a gradient shifted by `seed`, as IHDR, one
 * zlib-compressed IDAT and IEND, each chunk with its CRC.
 */
export function png(width: number, height: number, seed = 0): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits per sample, RGB, deflate, adaptive filtering, no interlace
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3); // filter byte 0 (None), then the pixels
    for (let x = 0; x < width; x++) rows.set([(x + seed) & 255, (y + seed) & 255, (x ^ y) & 255], row + 1 + x * 3);
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An "image" of `size` bytes: the signature, then distinct filler (so that two avatars never have equal bytes). */
export function image(signature: Buffer, size: number, seed = Math.random()): Buffer {
  const out = Buffer.alloc(size);
  signature.copy(out);
  const fill = Buffer.from(`${seed}-`);
  for (let i = signature.length; i < size; i++) out[i] = fill[i % fill.length]!;
  return out;
}

export interface Resources {
  table: string;
  bucket: string;
}

/** The credentials the tests give moto (it accepts any). */
const TESTING = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export async function createResources(): Promise<Resources> {
  const { endpoint, region } = moto();
  const r = { table: uniqueName('users'), bucket: uniqueName('avatars') };
  await ensureResources({
    endpoint,
    region,
    ...r,
    credentials: TESTING,
  });
  return r;
}

/** The environment of a users-api process against `r` on the run's moto server. */
export function serviceEnv(r: Resources, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: String(port),
    LOG_LEVEL: 'warn',
    ...resourcesEnv({ ...moto(), ...r, credentials: TESTING }),
    ...extra,
  };
}

export async function startUsersApi(
  r: Resources,
  extra: Record<string, string> = {},
  options: { until?: 'ready' | 'live' } = {},
): Promise<StartedProcess> {
  const port = await freePort();
  return startProcess(MAIN, serviceEnv(r, port, extra), options);
}

export function clients() {
  const config = awsClientConfig();
  return { dynamodb: new DynamoDBClient(config), s3: new S3Client(config) };
}

export async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

export async function rawItem(dynamodb: DynamoDBClient, table: string, email: string) {
  const out = await dynamodb.send(
    new GetItemCommand({ TableName: table, Key: { email: { S: email } }, ConsistentRead: true }),
  );
  return out.Item;
}

export async function itemCount(dynamodb: DynamoDBClient, table: string): Promise<number> {
  const out = await dynamodb.send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
  return out.Count ?? 0;
}

export async function contentType(s3: S3Client, bucket: string, key: string) {
  const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return { contentType: out.ContentType, metadata: out.Metadata, size: out.ContentLength };
}

/** A multipart/form-data body in this order (streaming needs the fields before the file). */
export function form(parts: [string, string | { bytes: Buffer; filename?: string; type?: string }][]): FormData {
  const f = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === 'string') f.append(name, value);
    else
      f.append(
        name,
        new Blob([new Uint8Array(value.bytes)], { type: value.type ?? 'image/png' }),
        value.filename ?? 'avatar.png',
      );
  }
  return f;
}

export function postUser(base: string, body: FormData) {
  return fetch(`${base}/user`, { method: 'POST', body });
}
