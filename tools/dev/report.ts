// What `make test` prints besides the counts, from timeline-reporter.ts's record of the run.

export interface FileTiming {
  name: string;
  startTime: number;
  endTime: number;
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
