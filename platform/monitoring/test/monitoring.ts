// What the monitoring tests share: the files of platform/monitoring parsed, the metric names webhook-app and
// kube-state-metrics really export (from the app's own registry and from kube-state-metrics' vendored metric
// tables, never from a list copied out of the dashboard), and the metric names a PromQL expression reads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { readContract } from '@sre-platform/contracts';
import { createMetrics } from '@sre-platform/service-kit';
import { REPO_ROOT } from '@sre-platform/test-platform';
import { parseManifests } from '@sre-platform/test-platform/manifests';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';

import { createAppMetrics } from '../../../services/webhook-app/src/metrics.ts';
import type { Outbox } from '../../../services/webhook-app/src/adapters/outbox.ts';

export const MONITORING_DIR = join(REPO_ROOT, 'platform/monitoring');

export const readMonitoring = (file: string) => readFileSync(join(MONITORING_DIR, file), 'utf8');

/** The single object of a one-document YAML file in platform/monitoring. */
export function monitoringObject(file: string): Record<string, unknown> {
  const docs = parseManifests(readMonitoring(file));
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`);
  return docs[0] as Record<string, unknown>;
}

/** The dashboard JSON inside the ConfigMap, as Grafana's sidecar would read it. */
export function dashboardFrom(configMap: unknown): Record<string, unknown> {
  const data = (configMap as { data?: Record<string, string> }).data ?? {};
  const files = Object.entries(data).filter(([name]) => name.endsWith('.json'));
  if (files.length !== 1) throw new Error(`expected one .json key in the ConfigMap, found ${files.length}`);
  return JSON.parse(files[0]![1]) as Record<string, unknown>;
}

/**
 * Every series name webhook-app's /metrics can show: its registry as main.ts builds it (the kit's metrics and the
 * app's), with a histogram's _bucket, _count and _sum.
 */
export async function appSeriesNames(): Promise<Set<string>> {
  const { registry } = createMetrics({ name: 'webhook-app', version: 'test' });
  const outbox = { stats: async () => ({ pending: 0, oldestAgeSeconds: 0, dead: 0 }) } as unknown as Outbox;
  createAppMetrics(registry, outbox);
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    // prom-client's typings declare a numeric enum; at run time the type is the string 'histogram', 'summary'...
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(m.name + s);
    if (type === 'summary') for (const s of ['_count', '_sum']) names.add(m.name + s);
  }
  return names;
}

/** The metric names in kube-state-metrics' own tables (vendored docs of the version the chart ships). */
export function kubeStateMetricsNames(): Set<string> {
  const names = new Set<string>();
  for (const file of ['horizontalpodautoscaler-metrics.md', 'deployment-metrics.md']) {
    for (const m of readContract(`kube-state-metrics/${file}`).matchAll(/^\|\s*(kube_[a-z0-9_]+)\s*\|/gm)) {
      names.add(m[1]!);
    }
  }
  return names;
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads (functions, label names, label values and keywords left out). */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // string literals: label values, regexes
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery windows
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][\w:]*(?=\s*(\()?)/g)) {
    const word = m[0];
    if (m[1] === '(' || KEYWORDS.has(word.toLowerCase())) continue; // a function or an aggregation
    const before = stripped.slice(0, m.index);
    if (/\d$|\d\.$|\de$/i.test(before)) continue; // part of a number such as 1e3
    names.push(word);
  }
  return names;
}

type Schema = Record<string, unknown>;

/**
 * Refuse unknown fields as the apiserver's strict field validation does (kubectl's default): every object schema
 * that lists its properties and does not preserve unknown fields gets additionalProperties: false.
 */
function strictFields(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictFields);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Schema = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, strictFields(v)]));
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  // Go's RE2 flag group "(?i)" (the rest of the pattern case-insensitive) is JavaScript's modifier "(?i:...)".
  if (typeof out.pattern === 'string') out.pattern = out.pattern.replace(/\(\?i\)(.*)$/, '(?i:$1)');
  return out;
}

/**
 * A validator for objects of a CustomResourceDefinition vendored in packages/contracts (its served version's
 * openAPIV3Schema, unknown fields refused). Errors are in the returned function's `errors`.
 */
export function crdValidator(contract: string, version = 'v1'): ValidateFunction {
  const crd = parseAllDocuments(readContract(contract))
    .map(
      (d) =>
        d.toJS() as { kind?: string; spec?: { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] } },
    )
    .find((d) => d.kind === 'CustomResourceDefinition');
  const served = crd?.spec?.versions.find((v) => v.name === version);
  if (!served) throw new Error(`${contract}: no CustomResourceDefinition version ${version}`);
  return new Ajv({ allErrors: true, strict: false }).compile(strictFields(served.schema.openAPIV3Schema) as Schema);
}

/**
 * Whether `object` is valid for the CRD, and whether each broken copy of it (one per `breakers`, each changing a
 * clone) is: the caller expects [true, false, false, ...].
 */
export function crdVerdicts<T>(contract: string, object: T, ...breakers: ((copy: T) => void)[]) {
  const validate = crdValidator(contract);
  const valid = validate(object);
  const errors = JSON.stringify(validate.errors);
  const broken = breakers.map((breaker) => {
    const copy = structuredClone(object);
    breaker(copy);
    return validate(copy);
  });
  return { verdicts: [valid, ...broken], errors };
}

/** A YAML text parsed into plain data. */
export const yamlData = (text: string): unknown => parse(text) as unknown;
