// users-api when things go wrong: DynamoDB or S3 unreachable (503 + Retry-After), the table write failing after
// the upload (the object is removed), and the process killed between the S3 write and the table write, or
// between the table write and the promotion (the staging sweep deletes or promotes within a bounded time).
//
// The kills use the test-only USERS_API_FAULT (README "Fault injection"): the process SIGKILLs itself at that
// point of POST /user, as an OOM kill or a node failure would, with no shutdown and no cleanup.
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { freePort, startProcess } from '@sre-platform/service-kit/testing';
import { eventually } from '@sre-platform/test-platform';
import { afterAll, describe, expect, it } from 'vitest';

import {
  clients,
  contentType,
  createResources,
  form,
  image,
  listKeys,
  MAIN,
  PNG_SIGNATURE,
  postUser,
  rawItem,
  serviceEnv,
  startUsersApi,
} from './harness.ts';

const aws = clients();
const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
});

async function expect503(res: Response, dependency: string) {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(String(body['error'])).toContain(dependency);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack
}

/** POST /user for a@b.cd with a PNG of `size` bytes. */
const postAvatar = (url: string, size: number) =>
  postUser(
    url,
    form([
      ['name', 'A'],
      ['email', 'a@b.cd'],
      ['avatar', { bytes: image(PNG_SIGNATURE, size) }],
    ]),
  );

describe('a dependency that does not answer', () => {
  it('answers 503 with Retry-After on every route, and /readyz says which', async () => {
    const r = await createResources();
    // A port nothing listens on: connections are refused, as when the emulator or an endpoint is down.
    const dead = await freePort();
    const port = await freePort();
    const app = await startProcess(
      MAIN,
      serviceEnv(r, port, {
        AWS_ENDPOINT_URL: `http://127.0.0.1:${dead}`,
        AWS_MAX_ATTEMPTS: '1',
        AWS_TIMEOUT_MS: '1000',
      }),
      { until: 'live' },
    );
    stops.push(() => app.stop());
    await expect503(await fetch(`${app.url}/users`), 'dynamodb');
    await expect503(await fetch(`${app.url}/users?limit=10`), 'dynamodb');
    await expect503(await fetch(`${app.url}/users/a%40b.cd/avatar`, { redirect: 'manual' }), 'dynamodb');
    await expect503(await postAvatar(app.url, 2000), 's3');
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/dynamodb: .*unreachable.*s3: .*unreachable/);
  });
});

describe('the table write failing after the upload', () => {
  it('removes the uploaded object and answers 503', async () => {
    const r = await createResources();
    const app = await startUsersApi(r);
    stops.push(() => app.stop());
    // The table goes away under the running service: PutItem fails after the avatar reached S3.
    await aws.dynamodb.send(new DeleteTableCommand({ TableName: r.table }));
    await expect503(await postAvatar(app.url, 50_000), 'dynamodb');
    expect(await listKeys(aws.s3, r.bucket)).toEqual([]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/users_api_compensations_total\{result="deleted"\} 1/);
  });
});

describe('the process killed between the writes', () => {
  const sweepFast = { STAGING_SWEEP_AFTER_SECONDS: '2', STAGING_SWEEP_INTERVAL_SECONDS: '1' };

  async function killedAt(fault: string, r: Awaited<ReturnType<typeof createResources>>, email: string, bytes: Buffer) {
    const app = await startUsersApi(r, { USERS_API_FAULT: fault, STAGING_SWEEP_INTERVAL_SECONDS: '3600' });
    stops.push(() => app.stop());
    await expect(
      postUser(
        app.url,
        form([
          ['name', 'K'],
          ['email', email],
          ['avatar', { bytes }],
        ]),
      ),
    ).rejects.toThrow();
    expect(await app.exited).toBe('SIGKILL');
  }

  it('before the table write: the orphan in staging/ is deleted by the next process within the sweep bound', async () => {
    const r = await createResources();
    await killedAt('exit-after-staging', r, 'orphan@example.com', image(PNG_SIGNATURE, 30_000));
    const [orphan] = await listKeys(aws.s3, r.bucket, 'staging/');
    expect(orphan).toMatch(/^staging\/[0-9a-f-]{36}$/);
    expect(await contentType(aws.s3, r.bucket, orphan!)).toMatchObject({
      contentType: 'image/png',
      metadata: { email: 'orphan@example.com' },
    });
    expect(await rawItem(aws.dynamodb, r.table, 'orphan@example.com')).toBeUndefined();

    const next = await startUsersApi(r, sweepFast);
    stops.push(() => next.stop());
    // Bound: STAGING_SWEEP_AFTER_SECONDS + one STAGING_SWEEP_INTERVAL_SECONDS (3 s here), with slack for a busy machine.
    await eventually(
      'the orphan deleted',
      async () => ((await listKeys(aws.s3, r.bucket)).length === 0 ? true : undefined),
      30_000,
    );
    expect(await rawItem(aws.dynamodb, r.table, 'orphan@example.com')).toBeUndefined();
  });

  it('after the table write: the avatar is promoted to avatars/ with its Content-Type, and the user is whole', async () => {
    const r = await createResources();
    const bytes = image(PNG_SIGNATURE, 30_000);
    await killedAt('exit-after-put-item', r, 'half@example.com', bytes);
    const url = (await rawItem(aws.dynamodb, r.table, 'half@example.com'))!['avatar_url']!.S!;
    const finalKey = new URL(url).pathname.slice(1);
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual([]);
    expect(await listKeys(aws.s3, r.bucket, 'staging/')).toHaveLength(1);

    const next = await startUsersApi(r, sweepFast);
    stops.push(() => next.stop());
    await eventually(
      'the avatar promoted',
      async () => ((await listKeys(aws.s3, r.bucket)).join() === finalKey ? true : undefined),
      30_000,
    );
    expect(await contentType(aws.s3, r.bucket, finalKey)).toMatchObject({
      contentType: 'image/png',
      size: bytes.length,
    });
    const res = await fetch(`${next.url}/users/half%40example.com/avatar`, { redirect: 'manual' });
    const object = await fetch(res.headers.get('location')!);
    expect(Buffer.from(await object.arrayBuffer()).equals(bytes)).toBe(true);
  });
});
