// A vitest reporter that records, on the wall clock, when each test file started running and when it ended, hooks
// included (vitest's JSON report times only the tests), and writes them as JSON to $SRE_TEST_TIMELINE at the end.
// `make test` prints the slowest files from it (report.ts).
import { writeFileSync } from 'node:fs';

import type { Reporter, TestModule } from 'vitest/node';

import type { FileTiming } from './report.ts';

export default class TimelineReporter implements Reporter {
  readonly #started = new Map<string, number>();
  readonly #files: FileTiming[] = [];

  onTestModuleStart(module: TestModule): void {
    this.#started.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    const startTime = this.#started.get(module.moduleId);
    if (startTime !== undefined) this.#files.push({ name: module.moduleId, startTime, endTime: Date.now() });
  }

  onTestRunEnd(): void {
    const out = process.env['SRE_TEST_TIMELINE'];
    if (out) writeFileSync(out, JSON.stringify(this.#files));
  }
}
