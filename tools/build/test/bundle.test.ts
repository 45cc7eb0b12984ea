import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { asciiOnly, bundle } from '../bundle.ts';

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
      expect.arrayContaining([
        '.compile-cache',
        'bundle.json',
        'main.bundle.js',
        'main.bundle.js.map',
        'main.js',
        'package.json',
      ]),
    );
  });

  it('maps stack traces to our sources when started through the loader, with no node flag', () => {
    const stderr = run('main.js');
    expect(stderr).toContain('fixture failure');
    expect(stderr).toMatch(/tools\/build\/test\/fixture\/src\/main\.ts:4:\d+/);
  });

  it("keeps the header of Node's own errors (with their code) and maps their frames in our sources", () => {
    const stderr = run('node-error.js');
    expect(stderr).toContain('RangeError [ERR_OUT_OF_RANGE]: The value of "size" is out of range.');
    expect(stderr).toMatch(/at allocate \(\/.*tools\/build\/test\/fixture\/src\/node-error\.ts:4:\d+\)/);
  });

  it('names only the bundle without the loader (what the loader adds)', () => {
    const stderr = run('main.bundle.js');
    expect(stderr).toContain('fixture failure');
    expect(stderr).not.toMatch(/src\/main\.ts/);
    expect(stderr).toMatch(/main\.bundle\.js:\d+/);
  });

  it("keeps V8's code in .compile-cache beside the bundle: the first start writes it, the next reads it and writes nothing", () => {
    const start = (env: Record<string, string> = {}) => {
      const result = spawnSync(process.execPath, ['--no-experimental-strip-types', join(out, 'version.js')], {
        env: { ...process.env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE', ...env },
        encoding: 'utf8',
      });
      expect(result.stdout).toBe('fixture 0.0.0\n');
      expect(result.status).toBe(0);
      return result.stderr;
    };
    const bundleUrl = `file://${join(out, 'version.bundle.js')}`;
    // Turned off, nothing is read or written: the next start finds no cache for this bundle and writes one.
    expect(start({ NODE_DISABLE_COMPILE_CACHE: '1' })).not.toContain(bundleUrl);
    const first = start();
    expect(first).toMatch(/reading cache from .* for ESM file:\/\/.*version\.bundle\.js\.\.\. no such file/);
    expect(first).toContain(`writing cache for ESM ${bundleUrl}`);
    const second = start();
    expect(second).toContain(`V8 code cache for ESM ${bundleUrl} was accepted`);
    expect(second).toContain(`skip persisting ESM ${bundleUrl} because cache was the same`);
  });

  it('writes ASCII only (V8 keeps such a source in one byte a character), strings unchanged', () => {
    expect(readFileSync(join(out, 'main.bundle.js'), 'utf8')).not.toMatch(/[\u0080-\uffff]/);
    expect(run('main.js')).toContain('fixture says “naïve”');
  });
});

describe('asciiOnly', () => {
  it('replaces non-ASCII characters of comments one UTF-16 unit for one, so columns stay', () => {
    expect(asciiOnly('a; // request’s 😀\n/* é\n * ü */ b;')).toBe('a; // request?s ??\n/* ?\n * ? */ b;');
  });

  it('refuses a non-ASCII character outside a comment', () => {
    expect(() => asciiOnly('const s = "é";')).toThrow(/outside a comment/);
  });
});
