// users-api when things go wrong: DynamoDB or S3 unreachable (503 + Retry-After), the table write failing after
// the upload (the object is removed), the process killed between the S3 write and the table write (the orphan
// sweep deletes the object within a bounded time), and an upload too slow to be written safely (503).
//
// The kills use the test-only USERS_API_FAULT (README "Fault injection"): the process SIGKILLs itself at that
// point of POST /user, as an OOM kill or a node failure would, with no shutdown and no cleanup.
import { request, type IncomingHttpHeaders } from 'node:http';

import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
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
import { avatarKeyTime } from '../src/domain/user.ts';

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
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual([]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/users_api_compensations_total\{result="deleted"\} 1/);
  });
});

describe('the process killed between the writes', () => {
  // The next process sweeps every second, judging avatars older than 4 s (the table write's worst case must fit in
  // half of that: config.ts), so the bound here is about 5 s.
  const sweepFast = {
    ORPHAN_SWEEP_AFTER_SECONDS: '4',
    ORPHAN_SWEEP_INTERVAL_SECONDS: '1',
    AWS_TIMEOUT_MS: '1500',
    AWS_MAX_ATTEMPTS: '1',
  };

  async function killedAt(fault: string, r: Awaited<ReturnType<typeof createResources>>, email: string, bytes: Buffer) {
    const app = await startUsersApi(r, { USERS_API_FAULT: fault, ORPHAN_SWEEP_INTERVAL_SECONDS: '3600' });
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

  it("deletes the orphans of killed requests within the sweep's bound, and keeps every user's avatar", async () => {
    const r = await createResources();
    const first = await startUsersApi(r, { ORPHAN_SWEEP_INTERVAL_SECONDS: '3600' });
    stops.push(() => first.stop());
    const create = async (email: string) => {
      const res = await postUser(
        first.url,
        form([
          ['name', 'Kept'],
          ['email', email],
          ['avatar', { bytes: image(PNG_SIGNATURE, 20_000) }],
        ]),
      );
      expect(res.status).toBe(201);
      return new URL((await rawItem(aws.dynamodb, r.table, email))!['avatar_url']!.S!).pathname.slice(1);
    };
    const kept = [await create('before@example.com')];
    // A new user killed after its upload (no item), and a duplicate of an existing user killed before it could
    // delete its upload (the item references the first upload): two orphans, between two users' avatars.
    await killedAt('exit-after-upload', r, 'orphan@example.com', image(PNG_SIGNATURE, 30_000));
    await killedAt('exit-after-upload', r, 'before@example.com', image(PNG_SIGNATURE, 30_000));
    kept.push(await create('after@example.com'));
    const orphans = (await listKeys(aws.s3, r.bucket, 'avatars/')).filter((k) => !kept.includes(k));
    expect(orphans).toHaveLength(2);
    for (const key of orphans) {
      expect(key).toMatch(/^avatars\/[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f-]{21}\.png$/);
      expect(await contentType(aws.s3, r.bucket, key)).toMatchObject({ contentType: 'image/png' });
    }
    expect(await rawItem(aws.dynamodb, r.table, 'orphan@example.com')).toBeUndefined();

    const next = await startUsersApi(r, sweepFast);
    stops.push(() => next.stop());
    // Bound: ORPHAN_SWEEP_AFTER_SECONDS + one ORPHAN_SWEEP_INTERVAL_SECONDS (5 s here), with slack for a busy machine.
    await eventually(
      'the orphans deleted',
      async () => ((await listKeys(aws.s3, r.bucket, 'avatars/')).some((k) => orphans.includes(k)) ? undefined : true),
      30_000,
    );
    expect((await listKeys(aws.s3, r.bucket, 'avatars/')).sort()).toEqual([...kept].sort());
    // The sweep's progress: once the checkpoint is past every key, later runs list only newer keys, so each
    // object was judged exactly once however many runs there were (S3's StartAfter, as moto serves it).
    const judged = [...kept, ...orphans].map((k) => avatarKeyTime(k)!);
    const checkpoint = async () => {
      const out = await aws.s3.send(new GetObjectCommand({ Bucket: r.bucket, Key: 'sweep/checkpoint.json' }));
      return (JSON.parse(await out.Body!.transformToString()) as { verifiedBefore: number }).verifiedBefore;
    };
    await eventually(
      'the checkpoint past every key',
      async () => ((await checkpoint()) > Math.max(...judged) ? true : undefined),
      30_000,
    );
    const runs = async () =>
      Number(/users_api_orphan_sweep_runs_total\{result="ok"\} (\d+)/.exec(await metricsText())?.[1] ?? 0);
    const metricsText = async () => (await fetch(`${next.url}/metrics`)).text();
    const after = await runs();
    await eventually('two more sweeps', async () => ((await runs()) >= after + 2 ? true : undefined), 30_000);
    const metrics = await metricsText();
    expect(metrics).toMatch(/users_api_orphan_sweep_objects_total\{action="delete"\} 2\n/);
    expect(metrics).toMatch(/users_api_orphan_sweep_objects_total\{action="keep"\} 2\n/);
  });

  it('refuses (408) an upload too slow to be written before the sweep could judge it, and leaves nothing', async () => {
    const r = await createResources();
    const app = await startUsersApi(r, { ...sweepFast, ORPHAN_SWEEP_INTERVAL_SECONDS: '3600' });
    stops.push(() => app.stop());
    // 60 KB sent over about 3 s: longer than half of ORPHAN_SWEEP_AFTER_SECONDS.
    const { status, headers, body } = await slowPost(app.url, 'slow@example.com', image(PNG_SIGNATURE, 60_000), 3000);
    expect(status).toBe(408);
    expect(headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(body)).toMatchObject({
      field: 'avatar',
      error: expect.stringMatching(/^the upload took \d+ s; send it within 2 s$/),
    });
    expect(await listKeys(aws.s3, r.bucket, 'avatars/')).toEqual([]);
    expect(await rawItem(aws.dynamodb, r.table, 'slow@example.com')).toBeUndefined();
  });
});

/** POST /user with the avatar's bytes sent in ten pieces spread over `ms`. */
function slowPost(base: string, email: string, avatar: Buffer, ms: number) {
  const boundary = 'slow-upload-boundary';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nSlow\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n${email}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n` +
      'Content-Type: image/png\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = request(
      `${base}/user`,
      {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + avatar.length + tail.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.write(head);
    const piece = Math.ceil(avatar.length / 10);
    let i = 0;
    const next = () => {
      if (i * piece >= avatar.length) {
        req.end(tail);
        return;
      }
      req.write(avatar.subarray(i * piece, (i + 1) * piece));
      i++;
      setTimeout(next, ms / 10);
    };
    next();
  });
}
