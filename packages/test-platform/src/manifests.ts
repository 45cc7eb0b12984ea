// Static checks of Kubernetes manifests with maintained tools, shared by every part's manifest tests: render a
// kustomization (kustomize is built into kubectl), compute the NetworkPolicy allow/deny matrix (np-guard's
// netpol-analyzer: the local cluster's kwok nodes enforce no policy, so packets would prove nothing), and lint with
// kube-score.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { REPO_ROOT, toolBin } from './tools.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at `path` inside a parsed manifest, or undefined anywhere along the way. */
export const get = (v: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((cur, key) => (isObj(cur) ? cur[key] : undefined), v);

/** The parsed objects of a multi-document YAML text. */
export function parseManifests(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(d.errors[0]!.message);
    return d.toJS() as unknown;
  });
}

/** The pod spec inside a workload object, or undefined for anything that does not run containers. */
export function podSpecOf(doc: unknown): Obj | undefined {
  const kind = get(doc, 'kind');
  const spec =
    kind === 'Pod'
      ? get(doc, 'spec')
      : kind === 'CronJob'
        ? get(doc, 'spec', 'jobTemplate', 'spec', 'template', 'spec')
        : ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'].includes(
              kind as string,
            )
          ? get(doc, 'spec', 'template', 'spec')
          : undefined;
  return isObj(spec) ? spec : undefined;
}

/** `kubectl kustomize <dir>` (relative to the repository root), as one multi-document YAML text. */
export function kustomize(dir: string): string {
  return execFileSync(join(toolBin('kubernetes'), 'kubectl'), ['kustomize', join(REPO_ROOT, dir)], {
    encoding: 'utf8',
  });
}

export interface Connection {
  src: string;
  dst: string;
  conn: string;
}

/** Every allowed connection, as netpol-analyzer lists them, for these YAML texts taken together. */
export function netpolConnections(files: Record<string, string>): Connection[] {
  const dir = mkdtempSync(join(tmpdir(), 'sre-platform-netpol-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const out = execFileSync(
      join(toolBin('netpol-analyzer'), 'k8snetpolicy'),
      ['list', '--quiet', '--dirpath', dir, '--output', 'json'],
      { encoding: 'utf8' },
    );
    const list = JSON.parse(out) as Connection[];
    // --fail would stop on its warning about Ingresses (it cannot see the ingress controller's rule), so check
    // that the analysis did produce a connectivity list instead.
    if (list.length === 0) throw new Error('netpol-analyzer listed no connection at all');
    return list;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ipToInt = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);

/** Whether `peer` (an analyzer name such as "payments/payment-provider[Deployment]", or an IPv4 range) is `name`. */
function matches(peer: string, name: string): boolean {
  const range = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(peer);
  if (range && /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    const ip = ipToInt(name);
    return ipToInt(range[1]!) <= ip && ip <= ipToInt(range[2]!);
  }
  return peer.replace(/\[\w+\]$/, '') === name;
}

/**
 * Whether "TCP 53,UDP 53", "TCP 22,5050" (a protocol applies to the ports after it), "TCP 8000-9000" or
 * "All Connections" includes protocol/port.
 */
export function permits(conn: string, protocol: string, port: number): boolean {
  if (conn === 'All Connections') return true;
  let current = '';
  return conn.split(/[,;]\s*/).some((part) => {
    const m = /^(?:(\w+) )?(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return false;
    current = m[1] ?? current;
    return current === protocol && Number(m[2]) <= port && port <= Number(m[3] ?? m[2]);
  });
}

/** Whether the list allows `src` (namespace/name or an IPv4 address) to reach `dst` on protocol/port. */
export const netpolAllows = (list: Connection[], src: string, dst: string, port: number, protocol = 'TCP') =>
  list.some((c) => matches(c.src, src) && matches(c.dst, dst) && permits(c.conn, protocol, port));

/** kube-score's CI output and exit code for these manifests, with the named checks turned off. */
export function kubeScore(input: string, ignored: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(
      join(toolBin('kube-score'), 'kube-score'),
      ['score', '--output-format', 'ci', ...ignored.flatMap((t) => ['--ignore-test', t]), '-'],
      { input, encoding: 'utf8' },
    );
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, out: e.stdout };
  }
}
