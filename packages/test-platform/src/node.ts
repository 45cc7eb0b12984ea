// The real node (tools/cluster/node) for tests that need real containers: containerd, runc, the CNI
// bridge, a kubelet and kube-proxy, joined to the run's cluster beside the kwok nodes. There is one per
// machine; the first test that asks starts it for its run (a second run waits for it, saying so), and the
// run's cluster teardown stops it and restores the host.
import { execFile, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import type { V1Toleration } from '@kubernetes/client-node';

import type { ClusterInfo } from './cluster.ts';
import { REPO_ROOT, toolBin } from './tools.ts';

const NODE_SCRIPT = join(REPO_ROOT, 'tools/cluster/node');

export const REAL_NODE = {
  name: 'real-node',
  /** The node IP, on the bridge the node creates; also the pods' gateway. */
  ip: '10.244.0.1',
  bridge: 'sre-node0',
  /** On a pod spec, these land it on the real node, and only there. */
  nodeSelector: { 'sre-platform/real-node': 'true' } as Record<string, string>,
  tolerations: [
    { key: 'sre-platform/real-node', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
  ] as V1Toleration[],
} as const;

/** The test run that owns the node: the vitest main process (set by the global setup). */
function runPid(): string {
  return process.env['SRE_TEST_RUN_PID'] ?? String(process.ppid);
}

function runNodeScript(args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      NODE_SCRIPT,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`tools/cluster/node ${args.join(' ')} failed:\n${stderr.trim() || err.message}`));
        else resolve(stdout + stderr);
      },
    );
    // Waiting for another run's node, and why, is shown as it happens.
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (text.includes('waiting') || text.includes('stale')) process.stderr.write(text);
    });
  });
}

/**
 * Starts the machine's real node in the run's cluster, or reuses it when this run already did. Fails,
 * never skips, when the machine cannot run it (not root, a missing tool...), naming what to do; with
 * TEST_KUBECONFIG it fails too, since tests import their images into the local node's containerd.
 * SRE_REAL_NODE_WAIT: seconds to wait while another run holds the node (default 900).
 */
export async function startRealNode(cluster: ClusterInfo): Promise<typeof REAL_NODE & { log: string }> {
  if (cluster.name === 'external') {
    throw new Error(
      'the real-node tests import locally made images into the local node (tools/cluster/node); ' +
        'they do not run against TEST_KUBECONFIG: unset it to run them',
    );
  }
  try {
    execFileSync(NODE_SCRIPT, ['check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error((err as { stderr?: string }).stderr?.trim() || 'tools/cluster/node check failed', { cause: err });
  }
  const wait = Number(process.env['SRE_REAL_NODE_WAIT'] ?? 900);
  const log = await runNodeScript(
    ['up'],
    {
      CLUSTER_KUBECONFIG: cluster.kubeconfig,
      NODE_DIR: join(cluster.workdir, 'real-node'),
      NODE_OWNER_PID: runPid(),
      NODE_WAIT: String(wait),
    },
    (wait + 300) * 1000,
  );
  return { ...REAL_NODE, log };
}

/** tools/cluster/node with `env`, as another test run would call it: its exit code and output, never a throw. */
export function nodeCommand(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(NODE_SCRIPT, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

/** Stops the node if this run owns it, undoing every host change (the cluster teardown does this too). */
export async function stopRealNode(): Promise<void> {
  await runNodeScript(['down'], { NODE_OWNER_ONLY: runPid() }, 120_000);
}

/**
 * A one-layer OCI image of `rootfs` (no Docker, no registry), imported into the node's containerd
 * with its own ctr. `user` is the image's USER ('' is root, as in a Dockerfile without USER).
 */
export async function importImage(ref: string, rootfs: string, user: string, entrypoint: string[]): Promise<string> {
  await runNodeScript(['image', ref, rootfs, user, JSON.stringify(entrypoint)], {}, 300_000);
  return ref;
}

/**
 * A root filesystem holding the project's pinned Node.js (/usr/local/bin/node) and the shared libraries
 * it loads, as `ldd` lists them: the smallest image that runs JavaScript. Remove it after use.
 */
export function nodeRootfs(): string {
  const node = realpathSync(join(toolBin('node'), 'node'));
  const rootfs = mkdtempSync(join(tmpdir(), 'sre-platform-rootfs-'));
  const put = (from: string, to: string) => {
    mkdirSync(join(rootfs, dirname(to)), { recursive: true });
    copyFileSync(realpathSync(from), join(rootfs, to));
  };
  put(node, '/usr/local/bin/node');
  const ldd = execFileSync('ldd', [node], { encoding: 'utf8' });
  for (const m of ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) put(m[1]!, m[1]!);
  mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
  return rootfs;
}

// --- host state, for the test that proves teardown restores it ---------------------------------------

const SYSCTL_DIRS = ['/proc/sys/vm', '/proc/sys/kernel/keys', '/proc/sys/net/bridge'];
const SYSCTL_FILES = [
  '/proc/sys/kernel/panic',
  '/proc/sys/kernel/panic_on_oops',
  '/proc/sys/net/ipv4/ip_forward',
  '/proc/sys/net/ipv4/conf/all/forwarding',
  '/proc/sys/net/ipv4/conf/default/forwarding',
  '/proc/sys/net/ipv4/conf/all/route_localnet',
  '/proc/sys/net/ipv6/conf/all/forwarding',
  '/proc/sys/net/netfilter/nf_conntrack_max',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal',
  '/proc/sys/net/netfilter/nf_conntrack_udp_timeout',
  '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream',
];
// Paths the node's programs could create outside its own directory.
const HOST_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/run/containerd',
  '/run/netns',
  '/var/run/netns',
  '/etc/cni',
  '/opt/cni',
  '/usr/libexec/kubernetes',
  '/etc/kubernetes',
  '/var/lib/containerd',
  '/etc/containerd',
];

function readSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined; // write-only or unreadable entries are not state
  }
}

export interface HostState {
  sysctls: Record<string, string>;
  links: string[];
  addresses: string[];
  routes: string[];
  nftTables: string[];
  /** Netlink queues a program is bound to (NetworkPolicy enforcement binds one). */
  nfQueues: string[];
  mounts: string[];
  cgroups: string[];
  paths: Record<string, boolean>;
}

/**
 * What the node may change on the host: sysctls, interfaces, routes, nftables tables, bound netlink queues,
 * mounts, cgroups, paths.
 */
export function hostState(): HostState {
  const sysctls: Record<string, string> = {};
  for (const dir of SYSCTL_DIRS) {
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const v = readSafe(join(dir, f));
      if (v !== undefined) sysctls[join(dir, f)] = v;
    }
  }
  for (const f of SYSCTL_FILES) {
    const v = readSafe(f);
    if (v !== undefined) sysctls[f] = v;
  }
  // Per interface: the node sets route_localnet on its bridge only (and never on one that outlives it).
  for (const iface of readdirSync('/proc/sys/net/ipv4/conf')) {
    const f = `/proc/sys/net/ipv4/conf/${iface}/route_localnet`;
    const v = readSafe(f);
    if (v !== undefined) sysctls[f] = v;
  }
  const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  const nft = join(toolBin('nftables'), 'nft');
  const cgroupMounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1]!);
  return {
    sysctls,
    // Names and flags only: counters and the link's queue state change on their own.
    links: ip('-o', 'link', 'show').map((l) => l.split(/\s+/).slice(1, 3).join(' ')),
    addresses: ip('-o', 'addr', 'show').map((l) => l.replace(/valid_lft.*$/, '').trim()),
    routes: ip('route', 'show', 'table', 'all'),
    nftTables: execFileSync(nft, ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort(),
    // The queue number of each bound queue (the other columns are counters).
    nfQueues: (readSafe('/proc/net/netfilter/nfnetlink_queue') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/)[0]!)
      .sort(),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[4]!)
      .sort(),
    cgroups: cgroupMounts.flatMap((m) => readdirSync(m).map((d) => join(m, d))).sort(),
    paths: Object.fromEntries(HOST_PATHS.map((p) => [p, existsSync(p)])),
  };
}

/** Removes a directory made by nodeRootfs. */
export function removeRootfs(rootfs: string): void {
  rmSync(rootfs, { recursive: true, force: true });
}
