// webhook-app's ServiceMonitor against webhook-app's Service as it is deployed (services/webhook-app/k8s rendered by
// kubectl kustomize, what deploy.sh applies): its selector picks that Service and nothing else in the namespace,
// its port name is one of the Service's ports, and its relabelling keeps the labels prometheus-adapter needs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT } from '@sre-platform/test-platform';
import { get, kustomize, parseManifests } from '@sre-platform/test-platform/manifests';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { crdVerdicts, monitoringObject } from './monitoring.ts';

type Labels = Record<string, string>;
interface Endpoint {
  port?: string;
  path?: string;
  interval?: string;
  relabelings?: { action?: string; sourceLabels?: string[]; targetLabel?: string }[];
}

const str = (v: unknown, ...path: string[]) => get(v, ...path) as string | undefined;
const matches = (selector: Labels, labels: Labels | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The Services a ServiceMonitor selects among `services` (matchLabels and namespaceSelector.matchNames). */
function selected(monitor: unknown, services: unknown[]): unknown[] {
  const selector = (get(monitor, 'spec', 'selector', 'matchLabels') ?? {}) as Labels;
  const namespaces = get(monitor, 'spec', 'namespaceSelector', 'matchNames') as string[] | undefined;
  const own = str(monitor, 'metadata', 'namespace');
  return services.filter(
    (s) =>
      (namespaces ?? [own]).includes(str(s, 'metadata', 'namespace')) &&
      Object.keys(selector).length > 0 &&
      matches(selector, get(s, 'metadata', 'labels') as Labels),
  );
}

/** Whether every endpoint's port is a named port of each selected Service. */
const portsExist = (monitor: unknown, service: unknown) =>
  ((get(monitor, 'spec', 'endpoints') ?? []) as Endpoint[]).every((e) =>
    ((get(service, 'spec', 'ports') ?? []) as { name?: string }[]).some((p) => p.name === e.port),
  );

describe('webhook-app-service-monitor.yaml', () => {
  const monitor = monitoringObject('webhook-app-service-monitor.yaml');
  let services: unknown[];
  let webhookService: unknown;
  beforeAll(() => {
    services = parseManifests(kustomize('services/webhook-app/k8s')).filter((d) => str(d, 'kind') === 'Service');
    webhookService = services.find((s) => str(s, 'metadata', 'name') === 'webhook-app');
  });

  it('is a monitoring.coreos.com/v1 ServiceMonitor in namespace monitoring', () => {
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.kind).toBe('ServiceMonitor');
    expect(str(monitor, 'metadata', 'namespace')).toBe('monitoring');
  });

  it("is valid against prometheus-operator v0.93.1's ServiceMonitor schema, unknown fields refused", () => {
    const { verdicts, errors } = crdVerdicts(
      'kube-prometheus-stack/crd-servicemonitors.yaml',
      monitor as { spec: { endpoints: Record<string, unknown>[] } },
      (typo) => (typo.spec.endpoints[0]!.intervall = '15s'),
      (badDuration) => (badDuration.spec.endpoints[0]!.interval = '15 seconds'),
    );
    expect(verdicts, errors).toEqual([true, false, false]);
  });

  it("selects webhook-app's Service, and only it, by its recommended labels", () => {
    expect(webhookService).toBeDefined();
    expect(services.length).toBeGreaterThan(1); // postgres's Service is there too, and must not be selected
    expect(selected(monitor, services)).toEqual([webhookService]);
    const selector = get(monitor, 'spec', 'selector', 'matchLabels') as Labels;
    expect(Object.keys(selector).every((k) => k.startsWith('app.kubernetes.io/'))).toBe(true);
    // The file in the repository, before kustomize, carries the same labels.
    const file = parse(readFileSync(join(REPO_ROOT, 'services/webhook-app/k8s/service.yaml'), 'utf8')) as unknown;
    expect(matches(selector, get(file, 'metadata', 'labels') as Labels)).toBe(true);
  });

  it('scrapes a named port of the Service, at /metrics, every 15 s', () => {
    expect(portsExist(monitor, webhookService)).toBe(true);
    const [endpoint] = get(monitor, 'spec', 'endpoints') as Endpoint[];
    expect(endpoint).toMatchObject({ port: 'metrics', path: '/metrics', interval: '15s' });
  });

  it('selects nothing, or a missing port, when the Service changes (the checks can fail)', () => {
    const renamed = structuredClone(webhookService) as {
      metadata: { labels: Labels };
      spec: { ports: { name: string }[] };
    };
    renamed.metadata.labels['app.kubernetes.io/instance'] = 'webhook-app-canary';
    expect(selected(monitor, [renamed])).toEqual([]);
    const elsewhere = structuredClone(webhookService) as { metadata: { namespace: string } };
    elsewhere.metadata.namespace = 'other-team';
    expect(selected(monitor, [elsewhere])).toEqual([]);
    const noMetricsPort = structuredClone(webhookService) as { spec: { ports: { name: string }[] } };
    noMetricsPort.spec.ports = noMetricsPort.spec.ports.filter((p) => p.name !== 'metrics');
    expect(portsExist(monitor, noMetricsPort)).toBe(false);
  });

  it('keeps namespace, pod and service labels on every series (prometheus-adapter maps them to objects)', () => {
    const [endpoint] = get(monitor, 'spec', 'endpoints') as Endpoint[];
    const written = Object.fromEntries(
      (endpoint!.relabelings ?? [])
        .filter((r) => (r.action ?? 'replace') === 'replace')
        .map((r) => [r.targetLabel, r.sourceLabels?.join(';')]),
    );
    expect(written).toMatchObject({
      namespace: '__meta_kubernetes_namespace',
      pod: '__meta_kubernetes_pod_name',
      service: '__meta_kubernetes_service_name',
    });
    // Nothing drops them afterwards.
    const drops = (endpoint!.relabelings ?? []).filter((r) =>
      ['labeldrop', 'labelkeep', 'drop'].includes(r.action ?? ''),
    );
    expect(drops).toEqual([]);
    expect(get(monitor, 'spec', 'jobLabel')).toBe('app.kubernetes.io/name');
  });
});
