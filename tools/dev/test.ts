// `make test`: every vitest project, then one closing line that CI systems can read:
// "vitest: N passed, N failed, N skipped", after the slowest files and when each ran (where a run's time goes).
// Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { slowestFiles, type FileTiming } from './report.ts';

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
  testResults: FileTiming[];
}

const dir = mkdtempSync(join(tmpdir(), 'sre-platform-test-'));
const reportFile = join(dir, 'report.json');
const result = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${reportFile}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let report: Report | undefined;
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
} catch {
  // vitest died before writing a report; its exit code below tells the story
}
rmSync(dir, { recursive: true, force: true });

if (report) {
  const slowest = slowestFiles(report, process.cwd());
  if (slowest.length > 0) process.stdout.write(`\nslowest test files:\n${slowest.join('\n')}\n`);
  const skipped = report.numPendingTests + report.numTodoTests;
  process.stdout.write(
    `\nvitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped\n`,
  );
  if (report.numTotalTests === 0) {
    process.stderr.write('make test: no test ran\n');
    process.exit(1);
  }
}
process.exit(result.status ?? 1);
