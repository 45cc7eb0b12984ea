import { homedir } from 'node:os';
import { join } from 'node:path';

import { defineConfig } from 'vitest/config';

// Vitest's record of each file's last duration, in the per-user cache like the tools: the next run, in any checkout,
// starts the slowest files first instead of ordering them by size (a small file that imports long suites went last).
const CACHE =
  process.env['SRE_PLATFORM_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'sre-platform');

const INTEGRATION = [
  'packages/*/test/**/*.int.test.ts',
  'services/*/test/**/*.int.test.ts',
  'tools/**/test/**/*.int.test.ts',
  'platform/*/test/**/*.int.test.ts',
];

const REAL_NODE_END = 'packages/test-platform/test/real-node-teardown.int.test.ts';

export default defineConfig({
  cacheDir: join(CACHE, 'vitest'),
  test: {
    testTimeout: 30_000,
    // Hooks start real things (PGlite compiles PostgreSQL to WebAssembly, clusters, services): generous bounds, since
    // a shared machine can be several times slower than a quiet one.
    hookTimeout: 180_000,
    // Tests start real processes; two workers match the reference 2-core machine.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/test/**/*.test.ts',
            'services/*/test/**/*.test.ts',
            'tools/**/test/**/*.test.ts',
            'platform/*/test/**/*.test.ts',
          ],
          exclude: INTEGRATION,
        },
      },
      {
        // Against real parts: one cluster, Prometheus, moto and PostgreSQL per run (see packages/test-platform).
        extends: true,
        test: {
          name: 'integration',
          include: INTEGRATION,
          exclude: [REAL_NODE_END],
          globalSetup: ['packages/test-platform/src/global-setup.ts'],
          testTimeout: 120_000,
        },
      },
      {
        // The real node's teardown test stops the node the other files share and compares the host before and after,
        // so it runs alone, after every other file (group order 1: after the rest).
        extends: true,
        test: {
          name: 'real-node',
          include: [REAL_NODE_END],
          globalSetup: ['packages/test-platform/src/global-setup.ts'],
          testTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
