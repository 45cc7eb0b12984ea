import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CONTRACTS_DIR, readContract } from '../src/index.ts';

// Vendored data is never edited: a change to a file must come with a new source, version and
// checksum, never as a silent local fix.
describe('vendored contracts', () => {
  const sums = readContract('SHA256SUMS')
    .trim()
    .split('\n')
    .map((line) => {
      const [sum, file] = line.split(/\s+/);
      return { sum: sum!, file: file! };
    });

  it('every vendored file matches its pinned checksum', () => {
    expect(sums.length).toBeGreaterThan(0);
    for (const { sum, file } of sums) {
      const actual = createHash('sha256')
        .update(readFileSync(join(CONTRACTS_DIR, file)))
        .digest('hex');
      expect(actual, file).toBe(sum);
    }
  });

  it('every vendored file (gitlab/, rocketchat/, grafana/, kube-prometheus-stack/, kube-state-metrics/) is pinned and named in the README', () => {
    const readme = readContract('README.md');
    for (const dir of ['gitlab', 'rocketchat', 'grafana', 'kube-prometheus-stack', 'kube-state-metrics']) {
      for (const name of readdirSync(join(CONTRACTS_DIR, dir))) {
        expect(
          sums.map((s) => s.file),
          `${dir}/${name} is not in SHA256SUMS`,
        ).toContain(`${dir}/${name}`);
        expect(readme, `${dir}/${name} is not described in README.md`).toContain(name);
      }
    }
  });
});
