// The GitHub Actions workflow is code too: actionlint (with shellcheck on its run: blocks) must pass.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

describe('.github/workflows/deployment-api.yml', () => {
  it('passes actionlint', () => {
    const shellcheck = join(toolBin('shellcheck'), 'shellcheck');
    let out = '';
    try {
      execFileSync(
        join(toolBin('actionlint'), 'actionlint'),
        ['-shellcheck', shellcheck, '.github/workflows/deployment-api.yml'],
        { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' },
      );
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err); // the findings, shown by the assertion
    }
    expect(out).toBe('');
  });
});
