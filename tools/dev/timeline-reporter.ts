// A vitest reporter that records, on the wall clock, when each test file started running and when it ended, hooks
// included (vitest's JSON report times only the tests), and the errors that fail a run without failing a test (a
// file's or a suite's hook, an import, an unhandled rejection: the JSON report leaves all of them out), and writes
// them as JSON to $SRE_TEST_TIMELINE at the end. `make test` prints the slowest files and the errors (report.ts).
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';

import type { Reporter, SerializedError, TestModule } from 'vitest/node';

import type { FileTiming, Timeline } from './report.ts';

export default class TimelineReporter implements Reporter {
  readonly #started = new Map<string, number>();
  readonly #files: FileTiming[] = [];
  readonly #errors: string[] = [];

  onTestModuleStart(module: TestModule): void {
    this.#started.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    const startTime = this.#started.get(module.moduleId);
    if (startTime !== undefined) this.#files.push({ name: module.moduleId, startTime, endTime: Date.now() });
    const file = relative(process.cwd(), module.moduleId);
    for (const e of module.errors()) this.#errors.push(`${file}: ${describe(e)}`);
    for (const suite of module.children.allSuites()) {
      for (const e of suite.errors()) this.#errors.push(`${file} > ${suite.fullName}: ${describe(e)}`);
    }
  }

  onTestRunEnd(_modules: readonly TestModule[], errors: readonly SerializedError[]): void {
    const out = process.env['SRE_TEST_TIMELINE'];
    const timeline: Timeline = {
      files: this.#files,
      errors: [...this.#errors, ...errors.map((e) => `unhandled ${describe(e)}`)],
    };
    if (out) writeFileSync(out, JSON.stringify(timeline));
  }
}

function describe(e: SerializedError): string {
  return `${e.name ?? 'Error'}: ${e.message.split('\n')[0] ?? ''}`;
}
