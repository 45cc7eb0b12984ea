import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { MissingToolError, toolBin } from '../src/tools.ts';

describe('toolBin', () => {
  const saved = process.env['SRE_PLATFORM_CACHE'];
  afterEach(() => {
    if (saved === undefined) delete process.env['SRE_PLATFORM_CACHE'];
    else process.env['SRE_PLATFORM_CACHE'] = saved;
  });

  it('fails, never skips, when a tool is missing: naming the tool and the command that installs it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sre-platform-empty-cache-'));
    process.env['SRE_PLATFORM_CACHE'] = empty;
    try {
      expect(() => toolBin('helm')).toThrow(MissingToolError);
      expect(() => toolBin('helm')).toThrow(/helm v[\d.]+ is not installed: run 'tools\/install helm'/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('rejects a tool the installer does not know', () => {
    expect(() => toolBin('no-such-tool')).toThrow(/unknown tool 'no-such-tool'/);
  });
});
