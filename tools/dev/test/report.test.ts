import { describe, expect, it } from 'vitest';

import { failures, slowestFiles } from '../report.ts';

describe('slowestFiles', () => {
  it('lists the longest files first, relative to the repository, with when each ran since the first started', () => {
    const t0 = 1_700_000_000_000;
    const lines = slowestFiles(
      [
        { name: '/repo/a.test.ts', startTime: t0 + 2_000, endTime: t0 + 5_000 },
        { name: '/repo/b.int.test.ts', startTime: t0, endTime: t0 + 60_400 },
        { name: '/repo/c.test.ts', startTime: t0 + 1_000, endTime: t0 + 11_000 },
        { name: '/repo/not-run.test.ts', startTime: 0, endTime: 0 },
      ],
      '/repo',
      2,
    );
    expect(lines).toEqual(['   60 s  b.int.test.ts  (0 s to 60 s)', '   10 s  c.test.ts  (1 s to 11 s)']);
  });

  it('prints nothing when no file ran', () => {
    expect(slowestFiles([], '/repo')).toEqual([]);
  });
});

describe('failures', () => {
  it('names a failed file with the first line of its own message (a file that did not import)', () => {
    const lines = failures(
      [
        {
          name: '/repo/a.int.test.ts',
          status: 'failed',
          message: '\nError: Cannot find module ./gone.ts\n    at load (/repo/x.ts:1:1)',
          assertionResults: [{ fullName: 'a works', status: 'skipped', failureMessages: [] }],
        },
        { name: '/repo/b.test.ts', status: 'passed', message: '', assertionResults: [] },
      ],
      '/repo',
    );
    expect(lines).toEqual(['  a.int.test.ts', '    Error: Cannot find module ./gone.ts']);
  });

  it('lists each failed test with the first line of its message, clipped', () => {
    const lines = failures(
      [
        {
          name: '/repo/c.test.ts',
          status: 'failed',
          message: '',
          assertionResults: [
            { fullName: 'c passes', status: 'passed' },
            { fullName: 'c fails', status: 'failed', failureMessages: ['AssertionError: expected 1 to be 2\n at'] },
          ],
        },
      ],
      '/repo',
      20,
    );
    expect(lines).toEqual(['  c.test.ts', '    ✗ c fails: AssertionError: expe…']);
  });

  it('prints nothing when everything passed', () => {
    expect(failures([{ name: '/repo/d.test.ts', status: 'passed', assertionResults: [] }], '/repo')).toEqual([]);
  });
});
