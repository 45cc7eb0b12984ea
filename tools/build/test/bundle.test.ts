import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bundle } from '../bundle.ts';

let out: string;
beforeAll(async () => {
  out = join(mkdtempSync(join(tmpdir(), 'bundle-test-')), 'out');
  await bundle('tools/build/test/fixture', { out });
});
afterAll(() => rmSync(join(out, '..'), { recursive: true, force: true }));

/** Runs a file of the bundle as the images do (no flag, type stripping off) and returns its stderr. */
const run = (file: string) =>
  spawnSync(process.execPath, ['--no-experimental-strip-types', join(out, file)], { encoding: 'utf8' }).stderr;

describe('bundle', () => {
  it('writes each entry as <name>.bundle.js with its map, and <name>.js, the loader that starts it', () => {
    expect(readdirSync(out).sort()).toEqual(
      expect.arrayContaining(['bundle.json', 'main.bundle.js', 'main.bundle.js.map', 'main.js', 'package.json']),
    );
  });

  it('maps stack traces to our sources when started through the loader, with no node flag', () => {
    const stderr = run('main.js');
    expect(stderr).toContain('fixture failure');
    expect(stderr).toMatch(/tools\/build\/test\/fixture\/src\/main\.ts:4:\d+/);
  });

  it('names only the bundle without the loader (what the loader adds)', () => {
    const stderr = run('main.bundle.js');
    expect(stderr).toContain('fixture failure');
    expect(stderr).not.toMatch(/src\/main\.ts/);
    expect(stderr).toMatch(/main\.bundle\.js:\d+/);
  });
});
