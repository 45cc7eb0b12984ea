// `make test`: every vitest project, then one closing line that CI systems can read:
// "vitest: N passed, N failed, N skipped", after the slowest files and when each ran (where a run's time goes).
// Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { failures, slowestFiles, type FileResult, type Timeline } from './report.ts';

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
  testResults: FileResult[];
}

const dir = mkdtempSync(join(tmpdir(), 'sre-platform-test-'));
const reportFile = join(dir, 'report.json');
// SRE_TEST_TIMELINE=<file> keeps the timeline of every file after the run.
const timelineFile = process.env['SRE_TEST_TIMELINE'] ?? join(dir, 'timeline.json');
const result = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${reportFile}`,
    '--reporter=./tools/dev/timeline-reporter.ts',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', env: { ...process.env, SRE_TEST_TIMELINE: timelineFile } },
);
let report: Report | undefined;
let timeline: Timeline = { files: [], errors: [] };
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  timeline = JSON.parse(readFileSync(timelineFile, 'utf8')) as Timeline;
} catch {
  // vitest died before writing a report; its exit code below tells the story
}
rmSync(dir, { recursive: true, force: true });

if (report) {
  const slowest = slowestFiles(timeline.files, process.cwd());
  if (slowest.length > 0) process.stdout.write(`\nslowest test files:\n${slowest.join('\n')}\n`);
  const failed = [...failures(report.testResults, process.cwd()), ...timeline.errors.map((e) => `  ${e}`)];
  if (failed.length > 0) process.stdout.write(`\nfailed:\n${failed.join('\n')}\n`);
  const failedFiles = report.testResults.filter((f) => f.status === 'failed').length;
  const skipped = report.numPendingTests + report.numTodoTests;
  process.stdout.write(
    `\nvitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped` +
      (failedFiles > 0 ? `; ${failedFiles} file(s) failed` : '') +
      '\n',
  );
  if (report.numTotalTests === 0) {
    process.stderr.write('make test: no test ran\n');
    process.exit(1);
  }
}
process.exit(result.status ?? 1);
