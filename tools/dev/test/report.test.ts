import { describe, expect, it } from 'vitest';

import { slowestFiles } from '../report.ts';

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
