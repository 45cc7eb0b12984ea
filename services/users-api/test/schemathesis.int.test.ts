// schemathesis (pinned in tools/versions.sh) against the live service: requests generated from the OpenAPI
// document the service serves, every response checked against it. Zero 5xx, zero undocumented status codes,
// content types, headers or bodies that break the schema.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { StartedProcess } from '@sre-platform/service-kit/testing';
import { toolBin } from '@sre-platform/test-platform';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { createResources, form, image, PNG_SIGNATURE, postUser, startUsersApi } from './harness.ts';

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
];

let app: StartedProcess;
let work: string;
beforeAll(async () => {
  app = await startUsersApi(await createResources());
  // A few users, so that GET /users and the avatar route have something to answer with.
  for (const email of ['test-user@prima.it', 'second@example.com', 'third@example.com']) {
    const res = await postUser(
      app.url,
      form([
        ['name', 'Test User'],
        ['email', email],
        ['avatar', { bytes: image(PNG_SIGNATURE, 2000) }],
      ]),
    );
    expect(res.status).toBe(201);
  }
  work = mkdtempSync(join(tmpdir(), 'users-api-st-'));
});
afterAll(async () => {
  await app?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('finds no server error and no schema violation', async () => {
  const st = join(toolBin('schemathesis'), 'st');
  const args = [
    'run',
    `${app.url}/openapi.json`,
    '--checks',
    CHECKS.join(','),
    '--max-examples',
    '25',
    '--workers',
    '1',
    // The avatar route's 302 is checked as such; following it would test moto, not this service.
    '--max-redirects',
    '0',
    '--seed',
    '20260701',
    '--no-color',
  ];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    // Its own working directory: schemathesis writes a cache (.hypothesis) there.
    const child = spawn(st, args, { cwd: work, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (c) => resolve({ code: c, output: out }));
  });
  expect(output, output).toMatch(/API Operations:[\s\S]*Tested: 3/);
  expect(code, output).toBe(0);
  expect(output).not.toMatch(/\d+ failures?/);
}, 300_000);
