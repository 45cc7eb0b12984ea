// users-api against the real moto server: every status code of both routes, the stored item and objects
// exactly as the contract says, unique keys, real Content-Types, paging and streaming, the avatar redirect.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { StartedProcess } from '@sre-platform/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  clients,
  contentType,
  createResources,
  form,
  GIF_SIGNATURE,
  image,
  itemCount,
  JPEG_SIGNATURE,
  listKeys,
  PNG_SIGNATURE,
  postUser,
  rawItem,
  startUsersApi,
  WEBP_SIGNATURE,
  type Resources,
} from './harness.ts';
import { avatarKeyTime } from '../src/domain/user.ts';

const MAX = 256 * 1024;
let r: Resources;
let app: StartedProcess;
let aws: { dynamodb: DynamoDBClient; s3: S3Client };

beforeAll(async () => {
  r = await createResources();
  aws = clients();
  // Scans of 2 items: listing 5 users crosses pages, as a large table would.
  app = await startUsersApi(r, { AVATAR_MAX_BYTES: String(MAX), SCAN_PAGE_SIZE: '2' });
});
afterAll(async () => {
  await app?.stop();
});

const uuidKey = (prefix: string, ext: string) => new RegExp(`^${prefix}/[0-9a-f-]{36}\\.${ext}$`);
let n = 0;
const email = () => `user-${process.pid}-${++n}@example.com`;

async function problem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body['status']).toBe(status);
  expect(typeof body['error']).toBe('string');
  expect(body['error']).toBe(body['detail']);
  return body;
}

describe('POST /user', () => {
  it('creates the user: 201, the exact item, the avatar under avatars/ (a UUIDv7 key) with its real Content-Type', async () => {
    const address = email();
    const bytes = image(PNG_SIGNATURE, 20_000);
    const res = await postUser(
      app.url,
      form([
        ['name', 'Test User'],
        ['email', address],
        ['avatar', { bytes }],
      ]),
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ success: 'User created' });

    const item = await rawItem(aws.dynamodb, r.table, address);
    expect(Object.keys(item!).sort()).toEqual(['avatar_url', 'email', 'name']);
    expect(item!['name']).toEqual({ S: 'Test User' });
    expect(item!['email']).toEqual({ S: address });
    const url = item!['avatar_url']!.S!;
    const prefix = `https://${r.bucket}.s3.us-east-1.amazonaws.com/`;
    expect(url.startsWith(prefix)).toBe(true);
    const key = url.slice(prefix.length);
    expect(key).toMatch(uuidKey('avatars', 'png'));
    expect(await contentType(aws.s3, r.bucket, key)).toMatchObject({
      contentType: 'image/png',
      size: bytes.length,
      metadata: { email: address },
    });
    // Written straight to its final key (two calls per user), at a time-ordered key the orphan sweep lists by time.
    expect(avatarKeyTime(key)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('decides the type by content: a JPEG named .png declared image/png is stored as image/jpeg', async () => {
    const cases = [
      [JPEG_SIGNATURE, 'jpg', 'image/jpeg'],
      [GIF_SIGNATURE, 'gif', 'image/gif'],
      [WEBP_SIGNATURE, 'webp', 'image/webp'],
    ] as const;
    for (const [signature, ext, mime] of cases) {
      const address = email();
      const res = await postUser(
        app.url,
        form([
          ['name', 'T'],
          ['email', address],
          ['avatar', { bytes: image(signature, 5000), filename: 'avatar.png', type: 'image/png' }],
        ]),
      );
      expect(res.status).toBe(201);
      const key = new URL((await rawItem(aws.dynamodb, r.table, address))!['avatar_url']!.S!).pathname.slice(1);
      expect(key).toMatch(uuidKey('avatars', ext));
      expect((await contentType(aws.s3, r.bucket, key)).contentType).toBe(mime);
    }
  });

  it('gives two uploads of the same file name their own keys', async () => {
    const [a, b] = [email(), email()];
    for (const address of [a, b]) {
      const res = await postUser(
        app.url,
        form([
          ['name', 'Same'],
          ['email', address],
          ['avatar', { bytes: image(PNG_SIGNATURE, 1000), filename: 'avatar.png' }],
        ]),
      );
      expect(res.status).toBe(201);
    }
    const urlA = (await rawItem(aws.dynamodb, r.table, a))!['avatar_url']!.S!;
    const urlB = (await rawItem(aws.dynamodb, r.table, b))!['avatar_url']!.S!;
    expect(urlA).not.toBe(urlB);
  });

  it('answers 409 to a second user with the same email (in any case) and changes nothing', async () => {
    const address = email();
    expect(
      (
        await postUser(
          app.url,
          form([
            ['name', 'First'],
            ['email', address],
            ['avatar', { bytes: image(PNG_SIGNATURE, 3000) }],
          ]),
        )
      ).status,
    ).toBe(201);
    const before = await rawItem(aws.dynamodb, r.table, address);
    const objectsBefore = await listKeys(aws.s3, r.bucket, 'avatars/');
    const res = await postUser(
      app.url,
      form([
        ['name', 'Second'],
        ['email', address.toUpperCase()],
        ['avatar', { bytes: image(PNG_SIGNATURE, 3000) }],
      ]),
    );
    const body = await problem(res, 409);
    expect(body['field']).toBe('email');
    expect(await rawItem(aws.dynamodb, r.table, address)).toEqual(before);
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual(objectsBefore);
  });

  it('answers 400 naming the field, and stores nothing', async () => {
    const count = await itemCount(aws.dynamodb, r.table);
    const objects = await listKeys(aws.s3, r.bucket, 'avatars/');
    const png = { bytes: image(PNG_SIGNATURE, 500) };
    const cases: [Parameters<typeof form>[0], string][] = [
      [
        [
          ['email', email()],
          ['avatar', png],
        ],
        'name',
      ],
      [
        [
          ['name', '  '],
          ['email', email()],
          ['avatar', png],
        ],
        'name',
      ],
      [
        [
          ['name', 'x'.repeat(201)],
          ['email', email()],
          ['avatar', png],
        ],
        'name',
      ],
      [
        [
          ['name', 'A'],
          ['avatar', png],
        ],
        'email',
      ],
      [
        [
          ['name', 'A'],
          ['email', 'not-an-email'],
          ['avatar', png],
        ],
        'email',
      ],
      [
        [
          ['name', 'A'],
          ['email', email()],
        ],
        'avatar',
      ],
      [
        [
          ['name', 'A'],
          ['email', email()],
          ['avatar', { bytes: Buffer.alloc(0) }],
        ],
        'avatar',
      ],
      [
        [
          ['name', 'A'],
          ['email', email()],
          ['role', 'admin'],
          ['avatar', png],
        ],
        'role',
      ],
      [
        [
          ['name', 'A'],
          ['name', 'B'],
          ['email', email()],
          ['avatar', png],
        ],
        'name',
      ],
    ];
    for (const [parts, field] of cases) {
      const body = await problem(await postUser(app.url, form(parts)), 400);
      expect(body['field'], JSON.stringify(parts.map((p) => p[0]))).toBe(field);
      expect(String(body['error'])).toContain(field);
    }
    expect(await itemCount(aws.dynamodb, r.table)).toBe(count);
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual(objects);
  });

  it('answers 400 to a malformed multipart body', async () => {
    const res = await fetch(`${app.url}/user`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nA\r\n--xyz\r\nContent-Disp',
    });
    await problem(res, 400);
  });

  it('answers 415 to content that is not an image whatever its name and declared type, and to a body that is not a form', async () => {
    const objects = await listKeys(aws.s3, r.bucket, 'avatars/');
    const fake = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const body = await problem(
      await postUser(
        app.url,
        form([
          ['name', 'A'],
          ['email', email()],
          ['avatar', { bytes: fake, filename: 'avatar.png', type: 'image/png' }],
        ]),
      ),
      415,
    );
    expect(body['field']).toBe('avatar');
    await problem(
      await fetch(`${app.url}/user`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"A"}',
      }),
      415,
    );
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual(objects);
  });

  it('answers 413 past AVATAR_MAX_BYTES while streaming, leaves nothing behind, and accepts exactly the limit', async () => {
    const objects = await listKeys(aws.s3, r.bucket, 'avatars/');
    const address = email();
    const res = await postUser(
      app.url,
      form([
        ['name', 'A'],
        ['email', address],
        ['avatar', { bytes: image(PNG_SIGNATURE, MAX + 1) }],
      ]),
    );
    const body = await problem(res, 413);
    expect(body['field']).toBe('avatar');
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual(objects);
    expect(await rawItem(aws.dynamodb, r.table, address)).toBeUndefined();
    const ok = await postUser(
      app.url,
      form([
        ['name', 'A'],
        ['email', address],
        ['avatar', { bytes: image(PNG_SIGNATURE, MAX) }],
      ]),
    );
    expect(ok.status).toBe(201);
  });
});

describe('GET /users', () => {
  it("returns the seed's bare array, every user, across scan pages", async () => {
    const res = await fetch(`${app.url}/users`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const users = (await res.json()) as Record<string, string>[];
    expect(Array.isArray(users)).toBe(true);
    expect(users.length).toBe(await itemCount(aws.dynamodb, r.table));
    expect(users.length).toBeGreaterThan(4);
    for (const u of users) expect(Object.keys(u)).toEqual(['avatar_url', 'email', 'name']);
    expect(new Set(users.map((u) => u.email)).size).toBe(users.length);
  });

  it('pages with ?limit= and the cursor in X-Next-Cursor, visiting every user once', async () => {
    const all = ((await (await fetch(`${app.url}/users`)).json()) as { email: string }[]).map((u) => u.email).sort();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await fetch(`${app.url}/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { email: string }[];
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((u) => u.email));
      cursor = res.headers.get('x-next-cursor');
      pages++;
    } while (cursor && pages < 100);
    expect(seen.sort()).toEqual(all);
    expect(pages).toBeGreaterThan(2);
  });

  it('answers 400 to a limit out of range and to a cursor it did not issue', async () => {
    await problem(await fetch(`${app.url}/users?limit=0`), 400);
    await problem(await fetch(`${app.url}/users?limit=abc`), 400);
    const body = await problem(await fetch(`${app.url}/users?limit=5&cursor=bm90LWEtY3Vyc29y`), 400);
    expect(body['field']).toBe('cursor');
  });
});

describe('GET /users/{email}/avatar', () => {
  it('redirects to a presigned URL that serves the bytes with their Content-Type', async () => {
    const address = email();
    const bytes = image(GIF_SIGNATURE, 4096);
    expect(
      (
        await postUser(
          app.url,
          form([
            ['name', 'G'],
            ['email', address],
            ['avatar', { bytes }],
          ]),
        )
      ).status,
    ).toBe(201);
    const res = await fetch(`${app.url}/users/${encodeURIComponent(address)}/avatar`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(location).toContain('X-Amz-Signature=');
    expect(location).toContain('X-Amz-Expires=300');
    const object = await fetch(location);
    expect(object.status).toBe(200);
    expect(object.headers.get('content-type')).toBe('image/gif');
    expect(Buffer.from(await object.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('answers 404 for an unknown user and 400 for what is not an email', async () => {
    await problem(await fetch(`${app.url}/users/nobody%40example.com/avatar`, { redirect: 'manual' }), 404);
    await problem(await fetch(`${app.url}/users/not-an-email/avatar`, { redirect: 'manual' }), 400);
  });
});

describe('the service', () => {
  it('serves its OpenAPI document, generated from the route schemas', async () => {
    const doc = (await (await fetch(`${app.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual(['/user', '/users', '/users/{email}/avatar']);
    expect(JSON.stringify(doc.paths['/user'])).toContain('multipart/form-data');
  });

  it('is ready when the table and bucket answer, and counts what it did', async () => {
    const ready = (await (await fetch(`${app.url}/readyz`)).json()) as { checks: Record<string, string> };
    expect(ready.checks).toEqual({ dynamodb: 'ok', s3: 'ok' });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/users_api_create_total\{result="created"\} [1-9]/);
    expect(metrics).toMatch(/users_api_create_total\{result="duplicate"\} [1-9]/);
  });
});
