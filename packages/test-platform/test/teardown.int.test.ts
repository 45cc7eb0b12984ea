// Teardown leaves no process and no temporary directory behind, even when a test fails.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT, type PlatformInfo } from '../src/index.ts';

const CONFIG = fileURLToPath(new URL('./fixtures/teardown/vitest.config.ts', import.meta.url));

function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmd.includes(text) ? [`${pid}: ${cmd.slice(0, 160)}`] : [];
      } catch {
        return [];
      }
    });
}

describe('test platform teardown', () => {
  it('stops every component and removes every temp dir after a failing run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sre-platform-teardown-'));
    const record = join(dir, 'platform.json');
    try {
      const result = await new Promise<{ code: number | null; output: string }>((done) => {
        const child = execFile(
          process.execPath,
          [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', CONFIG],
          { env: { ...process.env, PLATFORM_RECORD: record }, timeout: 180_000 },
          (_err, stdout, stderr) => {
            done({ code: child.exitCode, output: stdout + stderr });
          },
        );
      });
      expect(result.output).toContain('failing on purpose');
      expect(result.code).toBe(1);

      const platform = JSON.parse(readFileSync(record, 'utf8')) as PlatformInfo;
      expect(Object.keys(platform).sort()).toEqual(['cluster', 'moto', 'postgres', 'prometheus']);
      // Nothing that the nested run started is still running...
      expect(processesMentioning(platform.cluster!.workdir)).toEqual([]);
      expect(processesMentioning(platform.prometheus!.targetsDir.replace(/\/targets$/, ''))).toEqual([]);
      expect(processesMentioning(`-p ${new URL(platform.moto!.endpoint).port}`)).toEqual([]);
      expect(processesMentioning(`-p ${platform.postgres!.port}`)).toEqual([]);
      // ...and none of its directories are left.
      expect(existsSync(platform.cluster!.workdir)).toBe(false);
      expect(existsSync(platform.prometheus!.targetsDir)).toBe(false);
      // The servers no longer answer.
      await expect(fetch(`${platform.prometheus!.url}/-/ready`)).rejects.toThrow();
      await expect(fetch(`${platform.moto!.endpoint}/moto-api/`)).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
