// webhook-app's provisioned dashboard, read out of its ConfigMap as Grafana's sidecar reads it: valid against
// Grafana's published dashboard JSON schema (vendored in packages/contracts/grafana), every panel with a data
// source, a query, a unit and thresholds, and every metric it queries one that webhook-app (its own registry) or
// kube-state-metrics (its own metric tables) exports.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readContract } from '@sre-platform/contracts';
import { toolBin } from '@sre-platform/test-platform';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import {
  appSeriesNames,
  dashboardFrom,
  kubeStateMetricsNames,
  monitoringObject,
  promqlMetricNames,
} from './monitoring.ts';

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title?: string;
  options?: Record<string, unknown>;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: {
    defaults?: {
      unit?: string;
      thresholds?: { mode?: string; steps?: { value: number | null; color: string }[] };
      custom?: Record<string, unknown>;
    };
  };
}
interface Variable {
  name: string;
  type: string;
  query?: string;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const configMap = monitoringObject('webhook-app-dashboard.yaml');
const dashboard = dashboardFrom(configMap) as unknown as Dashboard;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

const ajv = new Ajv({ allErrors: true, strict: false, formats: { 'date-time': true } });
const validate = ajv.compile(JSON.parse(readContract('grafana/dashboard.jsonschema.json')) as object);

/**
 * The panel plugin's own schema (vendored next to the dashboard's): its Options, and its FieldConfig (the
 * `custom` field options) when it has one. Grafana ignores an option it does not know, so a typo would be silent.
 */
function panelErrors(p: Panel): string[] {
  const schema = JSON.parse(readContract(`grafana/${p.type}.jsonschema.json`)) as { definitions: object };
  const plugin = new Ajv({ allErrors: true, strict: false });
  plugin.addSchema(schema, 'plugin');
  const errors: string[] = [];
  const check = (definition: string, value: unknown) => {
    const v = plugin.getSchema(`plugin#/definitions/${definition}`);
    if (v && !v(value)) errors.push(...(v.errors ?? []).map((e) => `${definition}${e.instancePath} ${e.message}`));
  };
  check('Options', p.options ?? {});
  if ('FieldConfig' in schema.definitions) check('FieldConfig', p.fieldConfig?.defaults?.custom ?? {});
  return errors;
}

/** Grafana's variables replaced by values of their kind, so that Prometheus' own parser can read the query. */
const asPromQL = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '2m')
    .replaceAll('$__range', '6h')
    .replaceAll('$namespace', 'webhook-app')
    .replaceAll('$pod', '.*');

/**
 * `promtool check rules` on every panel query written as a recording rule: Prometheus' parser, so a query that
 * would show "parse error" in the panel fails here. Returns promtool's exit status and output.
 */
function checkQueries(d: Dashboard): { status: number | null; out: string } {
  const rules = d.panels.flatMap((p) =>
    (p.targets ?? []).map((t, i) => ({ record: `dashboard:panel_${p.id}:query_${i}`, expr: asPromQL(t.expr ?? '') })),
  );
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-dashboard-'));
  try {
    writeFileSync(join(dir, 'queries.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = spawnSync(join(toolBin('prometheus'), 'promtool'), ['check', 'rules', 'queries.yaml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every metric name the dashboard's panels and variables query. */
function queriedMetrics(d: Dashboard): { where: string; metric: string }[] {
  const fromPanels = d.panels.flatMap((p) =>
    (p.targets ?? []).flatMap((t) =>
      promqlMetricNames(t.expr ?? '').map((metric) => ({ where: p.title ?? '', metric })),
    ),
  );
  const fromVariables = d.templating.list.flatMap((v) =>
    [...(v.query ?? '').matchAll(/label_values\(\s*([a-zA-Z_:][\w:]*)/g)].map((m) => ({
      where: `$${v.name}`,
      metric: m[1]!,
    })),
  );
  return [...fromPanels, ...fromVariables];
}

describe('webhook-app-dashboard.yaml', () => {
  let exported: Set<string>;
  beforeAll(async () => {
    exported = new Set([...(await appSeriesNames()), ...kubeStateMetricsNames()]);
  });

  it('is a ConfigMap labelled for the Grafana sidecar, holding one dashboard JSON', () => {
    expect(configMap.kind).toBe('ConfigMap');
    expect((configMap.metadata as { labels: Record<string, string> }).labels.grafana_dashboard).toBe('1');
    expect(dashboard.uid).toBe('webhook-app');
  });

  it("is valid against Grafana's published dashboard JSON schema", () => {
    const ok = validate(dashboard);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('is refused by the schema when a field is unknown or of the wrong type (the check can fail)', () => {
    const typo = structuredClone(dashboard) as unknown as { panels: Record<string, unknown>[] };
    typo.panels[1]!.gridpos = typo.panels[1]!.gridPos; // wrong case: Grafana would ignore it
    expect(validate(typo)).toBe(false);
    const wrongType = structuredClone(dashboard) as unknown as { schemaVersion: unknown };
    wrongType.schemaVersion = '42';
    expect(validate(wrongType)).toBe(false);
  });

  it("sets only options and field options that each panel plugin's published schema has", () => {
    expect(new Set(queryPanels.map((p) => p.type))).toEqual(new Set(['timeseries', 'stat']));
    for (const p of queryPanels) expect(panelErrors(p), p.title).toEqual([]);
    const typo = structuredClone(queryPanels.find((p) => p.type === 'timeseries')!);
    typo.options!.legend = { ...(typo.options!.legend as object), placment: 'right' };
    typo.fieldConfig!.defaults!.custom = { fillOpacity: 10, drawstyle: 'line' };
    expect(panelErrors(typo)).toHaveLength(2);
  });

  it('gives every panel a Prometheus data source, a query, a unit and thresholds', () => {
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.expr?.trim(), `${p.title} ${t.refId}`).toBeTruthy();
        expect(t.datasource, p.title).toEqual(p.datasource);
      }
      expect(p.fieldConfig?.defaults?.unit, p.title).toBeTruthy();
      expect(p.fieldConfig?.defaults?.thresholds?.steps?.length, p.title).toBeGreaterThan(0);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lays the panels out on the grid without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('has namespace and pod variables, and every webhook-app query is scoped by namespace', () => {
    const variables = dashboard.templating.list.map((v) => v.name);
    expect(variables).toEqual(expect.arrayContaining(['datasource', 'namespace', 'pod']));
    for (const p of queryPanels) {
      for (const t of p.targets ?? []) expect(t.expr, p.title).toContain('namespace="$namespace"');
    }
  });

  it("writes every query in PromQL that Prometheus' parser accepts", () => {
    const { status, out } = checkQueries(dashboard);
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    expect(status, out).toBe(0);
    const broken = structuredClone(dashboard);
    broken.panels[1]!.targets![0]!.expr = 'sum by (event (rate(webhook_events_received_total[5m]))';
    expect(checkQueries(broken).status).not.toBe(0);
  });

  it('queries only metrics that webhook-app or kube-state-metrics export', () => {
    const queried = queriedMetrics(dashboard);
    expect(queried.length).toBeGreaterThan(10);
    expect(queried.filter((q) => !exported.has(q.metric))).toEqual([]);
  });

  it('finds a misspelt metric (the check can fail)', () => {
    const typo = structuredClone(dashboard);
    typo.panels[1]!.targets![0]!.expr = 'sum(rate(webhook_events_recieved_total{namespace="$namespace"}[5m]))';
    expect(queriedMetrics(typo).filter((q) => !exported.has(q.metric))).toEqual([
      { where: typo.panels[1]!.title, metric: 'webhook_events_recieved_total' },
    ]);
  });

  it('shows what Part B asks for: received webhooks, in-flight requests, replicas against the HPA, delivery', () => {
    const metrics = new Set(queriedMetrics(dashboard).map((q) => q.metric));
    for (const m of [
      'webhook_events_received_total',
      'http_requests_in_flight',
      'kube_horizontalpodautoscaler_status_desired_replicas',
      'kube_deployment_status_replicas',
      'webhook_delivery_latency_seconds_bucket',
      'webhook_outbox_pending',
      'webhook_outbox_oldest_age_seconds',
      'webhook_outbox_dead',
      'webhook_dead_letters_total',
      'http_request_duration_seconds_count',
    ]) {
      expect(metrics, m).toContain(m);
    }
  });
});

describe('promqlMetricNames', () => {
  it('reads metric names, not functions, labels, label values or windows', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x", route=~"/m.*"}[$__rate_interval]))) / on (ns) group_left b_total offset 5m > bool 1e3',
      ),
    ).toEqual(['a_bucket', 'b_total']);
  });
});
