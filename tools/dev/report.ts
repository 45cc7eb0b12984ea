// What `make test` prints besides the counts, from timeline-reporter.ts's record of the run.

export interface FileTiming {
  name: string;
  startTime: number;
  endTime: number;
}

/** What timeline-reporter.ts writes: each file's wall-clock span, and the errors no test's result holds. */
export interface Timeline {
  files: FileTiming[];
  errors: string[];
}

/** The `count` slowest test files, with when each started and ended in seconds since the first one started. */
export function slowestFiles(timeline: FileTiming[], root: string, count = 12): string[] {
  const files = timeline.filter((f) => f.startTime > 0 && f.endTime >= f.startTime);
  if (files.length === 0) return [];
  const t0 = Math.min(...files.map((f) => f.startTime));
  const s = (ms: number) => Math.round(ms / 1000);
  return files
    .sort((a, b) => b.endTime - b.startTime - (a.endTime - a.startTime))
    .slice(0, count)
    .map(
      (f) =>
        `${String(s(f.endTime - f.startTime)).padStart(5)} s  ${f.name.replace(`${root}/`, '')}` +
        `  (${s(f.startTime - t0)} s to ${s(f.endTime - t0)} s)`,
    );
}

/** A file's entry in vitest's JSON report (the Jest-compatible shape), as far as `failures` reads it. */
export interface FileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
}

/**
 * What failed, for the last lines of a run (CI systems often keep only the tail): each failed file, relative to the
 * repository, with its message if the report has one and the first line of each failed test's message. (A failed
 * hook's tests count as skipped and its error is not in the report: timeline-reporter.ts records it.)
 */
export function failures(files: FileResult[], root: string, width = 300): string[] {
  const clip = (text: string) => {
    const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
    return line.length > width ? `${line.slice(0, width)}…` : line;
  };
  const lines: string[] = [];
  for (const file of files) {
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    if (file.status !== 'failed' && failedTests.length === 0) continue;
    lines.push(`  ${file.name.replace(`${root}/`, '')}`);
    if (file.message) lines.push(`    ${clip(file.message)}`);
    for (const t of failedTests) lines.push(`    ✗ ${t.fullName}: ${clip(t.failureMessages?.[0] ?? '')}`);
  }
  return lines;
}
