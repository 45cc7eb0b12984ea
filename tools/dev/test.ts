// `make test`: every vitest project, then one closing line that CI systems can read:
// "vitest: N passed, N failed, N skipped". Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
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
