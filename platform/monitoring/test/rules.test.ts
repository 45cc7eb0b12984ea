// webhook-app's PrometheusRule, proved with promtool (the pinned Prometheus package ships it): the groups pass
// `promtool check rules`, and the unit tests in test/rules/ (one file per group, each alert firing and not
// firing) pass `promtool test rules`. Each alert has a runbook in docs/runbooks/ with a section for it, and the
// rules read only metrics that webhook-app exports (or Prometheus' own `up`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT, toolBin } from '@sre-platform/test-platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { appSeriesNames, crdVerdicts, MONITORING_DIR, monitoringObject, promqlMetricNames } from './monitoring.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}
interface UnitTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const RULES_FILE = 'webhook-app-rules.yaml';
const TESTS_DIR = join(MONITORING_DIR, 'test/rules');
const RUNBOOK_BASE = 'https://github.com/sre-platform/sre-platform/blob/main/';
const PROMTOOL_TIMEOUT = 300_000;

const prometheusRule = monitoringObject(RULES_FILE);
const groups = (prometheusRule.spec as { groups: Group[] }).groups;
const alerts = groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => ({ group: g.name, ...r })));
const testFiles = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.test.yaml'));

/** The unit-test file of a group: webhook-app-slo and webhook-app-slo.rules -> slo.test.yaml. */
const testFileOf = (group: string) => `${group.replace(/^webhook-app-/, '').replace(/\.rules$/, '')}.test.yaml`;

/** GitHub's anchor for a markdown heading. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

let dir: string;
let promtool: string;

/** Runs promtool in the scratch directory that holds the extracted rules and the unit-test files. */
function run(...args: string[]) {
  const r = spawnSync(promtool, args, { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Writes the PrometheusRule's groups as a plain Prometheus rules file (what promtool reads). */
const writeRules = (g: Group[]) => writeFileSync(join(dir, RULES_FILE), stringify({ groups: g }));

describe('webhook-app-rules.yaml', () => {
  beforeAll(() => {
    // Under CI=true as everywhere: a missing promtool fails with the command that installs it, never skips.
    promtool = join(toolBin('prometheus'), 'promtool');
    dir = mkdtempSync(join(tmpdir(), 'sre-platform-rules-'));
    writeRules(groups);
    for (const f of testFiles) copyFileSync(join(TESTS_DIR, f), join(dir, f));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a monitoring.coreos.com/v1 PrometheusRule in namespace monitoring', () => {
    expect(prometheusRule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(prometheusRule.kind).toBe('PrometheusRule');
    expect((prometheusRule.metadata as { namespace: string }).namespace).toBe('monitoring');
  });

  it("is valid against prometheus-operator v0.93.1's PrometheusRule schema, unknown fields refused", () => {
    const { verdicts, errors } = crdVerdicts(
      'kube-prometheus-stack/crd-prometheusrules.yaml',
      prometheusRule as { spec: { groups: Record<string, unknown>[] } },
      (typo) => (typo.spec.groups[0]!.interval_ = '1m'),
    );
    expect(verdicts, errors).toEqual([true, false]);
  });

  it('passes promtool check rules', () => {
    const { status, out } = run('check', 'rules', RULES_FILE);
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    expect(status, out).toBe(0);
  });

  // promtool evaluates every rule at every minute of each test's series: seconds of CPU, so no tight timeout.
  it.each(testFiles)(
    'passes promtool test rules %s',
    (file) => {
      const { status, out } = run('test', 'rules', file);
      expect(out).toContain('SUCCESS');
      expect(status, out).toBe(0);
    },
    PROMTOOL_TIMEOUT,
  );

  it(
    'fails promtool test rules when a rule changes (the unit tests can fail)',
    () => {
      const loosened = structuredClone(groups);
      for (const g of loosened) {
        for (const r of g.rules) {
          if (r.alert === 'WebhookOutboxStale') r.expr = r.expr.replace('> 900', '> 9000');
          if (r.alert === 'WebhookAcceptBudgetBurnFast') r.expr = r.expr.replaceAll('* 0.001)', '* 0.1)');
        }
      }
      try {
        writeRules(loosened);
        for (const file of ['outbox.test.yaml', 'slo.test.yaml']) {
          const { status, out } = run('test', 'rules', file);
          expect(status, file).not.toBe(0);
          expect(out).toContain('FAILED');
        }
      } finally {
        writeRules(groups);
      }
    },
    PROMTOOL_TIMEOUT,
  );

  it('has a unit-test file per group that tests each of its alerts firing and not firing', () => {
    for (const g of groups) {
      const file = testFileOf(g.name);
      expect(testFiles, `${g.name} has no ${file}`).toContain(file);
      const tests = parse(readFileSync(join(TESTS_DIR, file), 'utf8')) as UnitTests;
      expect(tests.rule_files).toEqual([RULES_FILE]);
      const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
      for (const a of g.rules.filter((r) => r.alert)) {
        const mine = cases.filter((c) => c.alertname === a.alert);
        expect(
          mine.some((c) => c.exp_alerts.length > 0),
          `${a.alert} is never tested firing`,
        ).toBe(true);
        expect(
          mine.some((c) => c.exp_alerts.length === 0),
          `${a.alert} is never tested not firing`,
        ).toBe(true);
      }
    }
  });

  it('gives every alert a severity, a summary, a description and a runbook section in docs/runbooks', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      const url = a.annotations?.runbook_url ?? '';
      expect(url.startsWith(`${RUNBOOK_BASE}docs/runbooks/`), `${a.alert}: ${url}`).toBe(true);
      const [path, fragment] = url.slice(RUNBOOK_BASE.length).split('#');
      const file = join(REPO_ROOT, path!);
      expect(existsSync(file), `${a.alert}: ${path} does not exist`).toBe(true);
      const headings = [...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!));
      expect(headings, `${a.alert}: no heading #${fragment} in ${path}`).toContain(fragment);
      expect(fragment).toBe(anchor(a.alert!));
    }
  });

  it('reads only metrics that webhook-app exports, its own recording rules, or up', async () => {
    const known = new Set([...(await appSeriesNames()), 'up', ...groups.flatMap((g) => g.rules.map((r) => r.record))]);
    const read = groups.flatMap((g) => g.rules.flatMap((r) => promqlMetricNames(r.expr)));
    expect(read.length).toBeGreaterThan(20);
    expect(read.filter((m) => !known.has(m))).toEqual([]);
  });
});
