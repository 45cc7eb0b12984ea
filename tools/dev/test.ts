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
let timeline: FileTiming[] = [];
try {
  report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  timeline = JSON.parse(readFileSync(timelineFile, 'utf8')) as FileTiming[];
} catch {
  // vitest died before writing a report; its exit code below tells the story
}
rmSync(dir, { recursive: true, force: true });

if (report) {
  const slowest = slowestFiles(timeline, process.cwd());
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
