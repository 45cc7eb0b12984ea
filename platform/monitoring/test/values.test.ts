// The kube-prometheus-stack values file: it parses, sets what its header and the README promise, and sets only
// keys that the pinned chart (and its subcharts) have, checked against their vendored values.yaml files in
// packages/contracts/kube-prometheus-stack. A key the chart does not have is silently ignored by Helm, so a typo
// there would be a setting that looks made and is not.
import { readContract } from '@sre-platform/contracts';
import { get } from '@sre-platform/test-platform/manifests';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';

import { monitoringObject, readMonitoring, yamlData } from './monitoring.ts';

const VALUES_FILE = 'prometheus-grafana-values.yaml';
const text = readMonitoring(VALUES_FILE);
const values = yamlData(text) as Record<string, unknown>;
const chart = yamlData(readContract('kube-prometheus-stack/Chart.yaml')) as {
  version: string;
  appVersion: string;
  dependencies: { name: string; version: string }[];
};

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where each top-level key's defaults live: the chart's own values, or a subchart's. */
const DEFAULTS: Record<string, string> = {
  grafana: 'kube-prometheus-stack/grafana.values.yaml',
  'kube-state-metrics': 'kube-prometheus-stack/kube-state-metrics.values.yaml',
  'prometheus-node-exporter': 'kube-prometheus-stack/prometheus-node-exporter.values.yaml',
};
const kpsDefaults = yamlData(readContract('kube-prometheus-stack/values.yaml')) as Tree;
const subchartDefaults = Object.fromEntries(
  Object.entries(DEFAULTS).map(([key, file]) => [key, yamlData(readContract(file)) as Tree]),
);

/**
 * The paths in `ours` that `defaults` does not have. A default that is an empty map or null is free-form (e.g.
 * `resources: {}`, `storageSpec: {}`): anything below it is the caller's.
 */
function unknownKeys(ours: unknown, defaults: unknown, path: string[] = []): string[] {
  if (!isTree(ours)) return [];
  if (defaults === null || (isTree(defaults) && Object.keys(defaults).length === 0)) return [];
  if (!isTree(defaults)) return [path.join('.')];
  return Object.entries(ours).flatMap(([key, value]) =>
    key in defaults ? unknownKeys(value, defaults[key], [...path, key]) : [[...path, key].join('.')],
  );
}

/** Every key of the values file checked against where its defaults live (the grafana key of kps: both). */
function unknownInValues(v: Tree): string[] {
  return Object.entries(v).flatMap(([key, value]) => {
    if (!(key in kpsDefaults)) return [key];
    const sub = subchartDefaults[key];
    if (!sub) return unknownKeys(value, kpsDefaults[key], [key]);
    // A subchart's section may set the parent's keys (grafana.sidecar.dashboards.* in kps) or the subchart's own.
    return Object.entries(value as Tree).flatMap(([k, inner]) => {
      const inParent = isTree(kpsDefaults[key]) && k in kpsDefaults[key];
      const misses = [
        inParent ? unknownKeys(inner, (kpsDefaults[key] as Tree)[k], [key, k]) : null,
        k in sub ? unknownKeys(inner, sub[k], [key, k]) : null,
      ].filter((m): m is string[] => m !== null);
      if (misses.length === 0) return [`${key}.${k}`];
      return misses.reduce((a, b) => (a.length <= b.length ? a : b));
    });
  });
}

describe('prometheus-grafana-values.yaml', () => {
  it('parses as one YAML document without errors or warnings', () => {
    const doc = parseDocument(text);
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([]);
    expect(isTree(values)).toBe(true);
  });

  it('names the chart version and the prometheus-operator version it was written for, as the vendored chart has them', () => {
    expect(chart.version).toBe('88.5.3');
    expect(text).toContain(`kube-prometheus-stack ${chart.version}`);
    expect(text).toContain(`prometheus-operator ${chart.appVersion}`);
    const grafana = chart.dependencies.find((d) => d.name === 'grafana')!;
    const grafanaChart = yamlData(readContract('kube-prometheus-stack/grafana.Chart.yaml')) as Tree;
    expect(grafanaChart.version).toBe(grafana.version);
    expect(text).toContain(`Grafana ${String(grafanaChart.appVersion)}`);
  });

  it('sets only keys that kube-prometheus-stack 88.5.3 and its subcharts have', () => {
    expect(unknownInValues(values)).toEqual([]);
  });

  it('finds a key the chart does not have (the check can fail)', () => {
    const typo = structuredClone(values);
    (get(typo, 'prometheus', 'prometheusSpec') as Tree).serviceMonitorSelectorNilUsesHelmValue = false;
    (get(typo, 'grafana', 'sidecar', 'dashboards') as Tree).searchNamespaces = 'ALL';
    (typo as Tree).kubeEtcdd = { enabled: false };
    expect(unknownInValues(typo).sort()).toEqual([
      'grafana.sidecar.dashboards.searchNamespaces',
      'kubeEtcdd',
      'prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValue',
    ]);
    // Below a free-form default (resources: {}) anything goes.
    expect(unknownKeys({ resources: { requests: { cpu: '1' } } }, { resources: {} })).toEqual([]);
  });

  it('selects ServiceMonitors, PodMonitors, Probes, ScrapeConfigs and rules in every namespace, release label or not', () => {
    const spec = get(values, 'prometheus', 'prometheusSpec') as Tree;
    for (const kind of ['serviceMonitor', 'podMonitor', 'probe', 'scrapeConfig', 'rule']) {
      expect(spec[`${kind}SelectorNilUsesHelmValues`], kind).toBe(false);
    }
    for (const selector of ['serviceMonitor', 'podMonitor', 'rule']) {
      for (const key of [`${selector}Selector`, `${selector}NamespaceSelector`]) {
        // Absent or {} (everything); never a matchLabels that would narrow it.
        expect(spec[key] ?? {}, key).toEqual({});
      }
    }
  });

  it('turns on Grafana\'s dashboard sidecar for ConfigMaps labelled grafana_dashboard: "1" in all namespaces', () => {
    const dashboards = get(values, 'grafana', 'sidecar', 'dashboards') as Tree;
    expect(dashboards).toMatchObject({
      enabled: true,
      label: 'grafana_dashboard',
      labelValue: '1',
      searchNamespace: 'ALL',
    });
    // The dashboard's ConfigMap carries exactly that label.
    const labels = get(monitoringObject('webhook-app-dashboard.yaml'), 'metadata', 'labels') as Tree;
    expect(labels[dashboards.label as string]).toBe(dashboards.labelValue);
  });

  it("takes Grafana's admin login from an existing Secret and commits no password", () => {
    expect(get(values, 'grafana', 'admin', 'existingSecret')).toBe('grafana-admin');
    expect(get(values, 'grafana', 'adminPassword')).toBeUndefined();
    expect(text).not.toMatch(/password:\s*\S/i);
    // install.sh creates that Secret with the keys the values name.
    const install = readMonitoring('install.sh');
    expect(install).toContain('grafana-admin');
    for (const key of [get(values, 'grafana', 'admin', 'userKey'), get(values, 'grafana', 'admin', 'passwordKey')]) {
      expect(install).toContain(`--from-literal=${String(key)}=`);
    }
  });

  it('turns off the control-plane scrapers kind and minikube cannot serve, with a note why', () => {
    for (const component of ['kubeControllerManager', 'kubeScheduler', 'kubeEtcd', 'kubeProxy']) {
      expect(get(values, component, 'enabled'), component).toBe(false);
    }
    expect(text).toMatch(/kind and minikube cannot serve/);
  });

  it('sizes retention and storage, and gives every component requests and a memory limit', () => {
    const spec = get(values, 'prometheus', 'prometheusSpec') as Tree;
    expect(spec.retention).toMatch(/^\d+[hdw]$/);
    expect(spec.retentionSize).toMatch(/^\d+(MB|GB)$/);
    const volume = String(get(spec, 'storageSpec', 'volumeClaimTemplate', 'spec', 'resources', 'requests', 'storage'));
    // retentionSize must leave the volume room for the WAL and compaction.
    const gib = (s: string) => Number.parseFloat(s) * (/Gi$/.test(s) ? 1.073741824 : 1);
    expect(Number.parseFloat(String(spec.retentionSize))).toBeLessThan(gib(volume));
    for (const path of [
      ['prometheus', 'prometheusSpec'],
      ['alertmanager', 'alertmanagerSpec'],
      ['grafana'],
      ['grafana', 'sidecar'],
      ['prometheusOperator'],
      ['kube-state-metrics'],
      ['prometheus-node-exporter'],
    ]) {
      expect(get(values, ...path, 'resources', 'requests', 'memory'), path.join('.')).toBeTruthy();
      expect(get(values, ...path, 'resources', 'requests', 'cpu'), path.join('.')).toBeTruthy();
      expect(get(values, ...path, 'resources', 'limits', 'memory'), path.join('.')).toBeTruthy();
    }
  });

  it('install.sh and the README install the chart version the values were written for', () => {
    const pinned = `--version ${chart.version}`;
    expect(readMonitoring('install.sh')).toContain(`KPS_CHART_VERSION=${chart.version}`);
    expect(readMonitoring('README.md')).toContain(pinned);
  });

  it('install.sh and the README install the prometheus-adapter chart version its values were written for', () => {
    const header = /chart prometheus-adapter (\d+\.\d+\.\d+)/.exec(
      readMonitoring('prometheus-metrics-adaptor-values.yaml'),
    );
    expect(header, 'the values name their chart version').not.toBeNull();
    const version = header![1]!;
    expect(readMonitoring('install.sh')).toContain(`ADAPTER_CHART_VERSION=${version}`);
    expect(readMonitoring('README.md')).toContain(`charts/prometheus-adapter \\\n  --version ${version}`);
  });
});
