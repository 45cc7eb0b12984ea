// The users-api Helm chart: lint, what it renders (probes, HPA behavior, the IRSA annotation, NetworkPolicy,
// ServiceMonitor, the contract's configuration), what its schema refuses, and a real install and upgrade on the
// run's control plane (kwok nodes: pods are simulated, so "ready" is the kubelet's stand-in, and the HPA is driven
// by the real kube-controller-manager). The objects are read back from the apiserver, not from helm's output.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';
import { eventually, kubeConfig, toolBin, useNamespace } from '@sre-platform/test-platform';
import { helm as helmIn, kubectl } from '@sre-platform/test-platform/kubectl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHART = join(dirname(fileURLToPath(import.meta.url)), '..', 'chart');
const ROLE_ARN = 'arn:aws:iam::111122223333:role/users-api-IrsaRole-EXAMPLE';
const ns = useNamespace('users-chart');
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'sre-platform-users-chart-'));
  // The ServiceMonitor CRD from the pinned prometheus-operator (the version kube-prometheus-stack pins).
  const crds = join(toolBin('prometheus-operator'), '../crds');
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager=users-api-chart-test', '-f', crds);
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', crds);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const helm = (...args: string[]) => helmIn(scratch, ...args);

const sets = (set: string[]) => set.flatMap((s) => ['--set', s]);

async function render(...set: string[]): Promise<k8s.KubernetesObject[]> {
  const out = await helm('template', 'rel', CHART, '--namespace', 'users', ...sets(set));
  return (k8s.loadAllYaml(out) as (k8s.KubernetesObject | null)[]).filter((o): o is k8s.KubernetesObject => o !== null);
}

const find = <T extends k8s.KubernetesObject>(objs: k8s.KubernetesObject[], kind: string) =>
  objs.find((o) => o.kind === kind) as T | undefined;

const values = (name: string, v: unknown): string[] => {
  const file = join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(v)); // JSON is YAML
  return ['--values', file];
};

describe('users-api chart', () => {
  it('lints clean (--strict) with defaults and with every optional part on', async () => {
    for (const set of [
      [],
      [
        `aws.irsaRoleArn=${ROLE_ARN}`,
        'aws.endpointUrl=http://moto.aws-emulator.svc:5000',
        'aws.credentialsSecret=emulator-credentials',
        'serviceMonitor.enabled=true',
        'networkPolicy.podIdentityAgent=true',
        'networkPolicy.ingressFrom[0].podSelector.matchLabels.role=frontend',
        'autoscaling.enabled=false',
      ],
    ]) {
      expect(await helm('lint', '--strict', CHART, ...sets(set))).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  it('renders a hardened Deployment with startup, liveness and table-and-bucket readiness probes', async () => {
    const objs = await render();
    const d = find<k8s.V1Deployment>(objs, 'Deployment')!;
    expect(d.spec?.replicas).toBeUndefined(); // the HPA owns the count
    expect(d.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.image).toBe('sre-platform.local/users-api:0.1.0');
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8084, protocol: 'TCP' }]);
    expect(c.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources?.limits?.['memory']).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('users-api');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan((5000 + 15000) / 1000);
    expect(pod.topologySpreadConstraints?.map((t) => t.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    expect(find(objs, 'PodDisruptionBudget')).toBeDefined();
    for (const o of objs)
      expect(o.metadata?.labels?.['app.kubernetes.io/part-of'], `${o.kind} labels`).toBe('sre-platform');
  });

  it("puts the contract's configuration in a ConfigMap, and rolls the pods when it changes", async () => {
    const objs = await render('aws.endpointUrl=http://moto.aws-emulator.svc:5000');
    expect(find<k8s.V1ConfigMap>(objs, 'ConfigMap')!.data).toEqual({
      HOST: '0.0.0.0',
      PORT: '8084',
      LOG_LEVEL: 'info',
      USERS_TABLE: 'users',
      AVATAR_BUCKET: 'users-api-avatars',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: 'http://moto.aws-emulator.svc:5000',
      AVATAR_MAX_BYTES: '5242880',
      AVATAR_URL_TTL_SECONDS: '300',
      ORPHAN_SWEEP_AFTER_SECONDS: '300',
      ORPHAN_SWEEP_INTERVAL_SECONDS: '60',
      SHUTDOWN_DELAY_MS: '5000',
      SHUTDOWN_TIMEOUT_MS: '15000',
    });
    const checksum = async (...set: string[]) =>
      find<k8s.V1Deployment>(await render(...set), 'Deployment')!.spec!.template.metadata!.annotations![
        'checksum/config'
      ];
    expect(await checksum('config.avatarBucket=other-bucket')).not.toBe(await checksum());
    expect(find(await render(), 'ConfigMap')).not.toHaveProperty(['data', 'AWS_ENDPOINT_URL']);
    const extra = find<k8s.V1ConfigMap>(await render('config.extraEnv.UPLOADS_IN_FLIGHT=16'), 'ConfigMap')!;
    expect(extra.data?.['UPLOADS_IN_FLIGHT']).toBe('16');
  });

  it('scales on CPU and memory with the behavior from values, and annotates the ServiceAccount for IRSA', async () => {
    const objs = await render(`aws.irsaRoleArn=${ROLE_ARN}`);
    const hpa = find<k8s.V2HorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler')!;
    expect(hpa.spec?.metrics?.map((m) => [m.resource?.name, m.resource?.target.averageUtilization])).toEqual([
      ['cpu', 70],
      ['memory', 80],
    ]);
    expect(hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(300);
    expect(hpa.spec?.behavior?.scaleUp?.stabilizationWindowSeconds).toBe(0);
    const sa = find<k8s.V1ServiceAccount>(objs, 'ServiceAccount')!;
    expect(sa.metadata?.name).toBe('users-api');
    expect(sa.metadata?.annotations).toEqual({ 'eks.amazonaws.com/role-arn': ROLE_ARN });
    expect(find<k8s.V1ServiceAccount>(await render(), 'ServiceAccount')!.metadata?.annotations).toBeUndefined();
  });

  it('allows egress to DNS and HTTPS only (never the metadata service), the Pod Identity agent on request', async () => {
    const egress = async (...set: string[]) =>
      find<k8s.V1NetworkPolicy>(await render(...set), 'NetworkPolicy')!.spec!.egress!;
    const base = await egress();
    expect(base.map((r) => r.ports?.map((p) => `${p.protocol}/${p.port}`).join(','))).toEqual([
      'UDP/53,TCP/53',
      'TCP/443',
    ]);
    expect(base[1]!.to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.169.254/32'] } }]);
    const withAgent = await egress('networkPolicy.podIdentityAgent=true');
    expect(withAgent[2]).toEqual({
      to: [{ ipBlock: { cidr: '169.254.170.23/32' } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    });
    // An emulator by address and port (chart-real-node.int.test.ts uses this to reach moto), after the others.
    const withEmulator = await egress(
      'networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.244.0.1/32',
      'networkPolicy.extraEgress[0].ports[0].port=4566',
    );
    expect(withEmulator.slice(0, 2)).toEqual(base);
    expect(withEmulator[2]).toEqual({ to: [{ ipBlock: { cidr: '10.244.0.1/32' } }], ports: [{ port: 4566 }] });
  });

  it("runs its helm test pod where the release's pods run: the image's pull policy, nodeSelector and tolerations", async () => {
    const testPod = (objs: k8s.KubernetesObject[]) => find<k8s.V1Pod>(objs, 'Pod')!;
    const plain = testPod(await render());
    expect(plain.metadata?.annotations?.['helm.sh/hook']).toBe('test');
    expect(plain.spec?.nodeSelector).toBeUndefined();
    expect(plain.spec?.tolerations).toBeUndefined();
    const placed = testPod(
      await render(
        'image.pullPolicy=Never',
        'nodeSelector.pool=uploads',
        'tolerations[0].key=pool',
        'tolerations[0].operator=Exists',
        'tolerations[0].effect=NoSchedule',
      ),
    );
    expect(placed.spec?.containers[0]?.imagePullPolicy).toBe('Never');
    expect(placed.spec?.nodeSelector).toEqual({ pool: 'uploads' });
    expect(placed.spec?.tolerations).toEqual([{ key: 'pool', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('refuses values its schema does not allow', async () => {
    await expect(render('replicaCount=0')).rejects.toThrow(/replicaCount/);
    await expect(render('aws.irsaRoleArn=users-api-role')).rejects.toThrow(/irsaRoleArn/);
    await expect(render('aws.region=Frankfurt')).rejects.toThrow(/region/);
    await expect(render('config.avatarBucket=Not_A_Bucket')).rejects.toThrow(/avatarBucket/);
    await expect(render('autoscaling.behavior.scaleUp.selectPolicy=Sometimes')).rejects.toThrow(/selectPolicy/);
    await expect(render('confg.usersTable=typo')).rejects.toThrow(/confg/);
    await expect(render('config.extraEnv.lower=1')).rejects.toThrow(/lower/);
  });

  it('installs on the control plane: the apiserver holds the probes, HPA behavior, IRSA annotation, NetworkPolicy and ServiceMonitor; upgrades roll', async () => {
    const kc = kubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const namespace = ns.name;
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'emulator-credentials' },
        stringData: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
      },
    });
    const install = {
      aws: {
        irsaRoleArn: ROLE_ARN,
        endpointUrl: 'http://moto.aws-emulator.svc:5000',
        credentialsSecret: 'emulator-credentials',
      },
      serviceMonitor: { enabled: true },
    };
    await helm(
      'install',
      'users',
      CHART,
      '--namespace',
      namespace,
      ...values('install', install),
      '--wait',
      '--timeout',
      '90s',
    );
    const name = 'users-users-api';

    const d = await apps.readNamespacedDeployment({ namespace, name });
    const c = d.spec!.template.spec!.containers[0]!;
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(c.startupProbe?.httpGet?.path).toBe('/healthz');
    expect(c.envFrom).toEqual([{ configMapRef: { name } }, { secretRef: { name: 'emulator-credentials' } }]);

    const hpa = await kc.makeApiClient(k8s.AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ namespace, name });
    expect(hpa.spec?.behavior?.scaleUp).toEqual({
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 30 },
        { type: 'Pods', value: 4, periodSeconds: 30 },
      ],
    });
    expect(hpa.spec?.behavior?.scaleDown).toEqual({
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Min',
      policies: [
        { type: 'Percent', value: 50, periodSeconds: 60 },
        { type: 'Pods', value: 2, periodSeconds: 60 },
      ],
    });
    // The Deployment has no replica count of its own: kube-controller-manager's HPA raises it to minReplicas.
    await eventually('the HPA scales the Deployment to minReplicas', async () => {
      const now = await apps.readNamespacedDeployment({ namespace, name });
      return now.status?.readyReplicas === 2 ? true : undefined;
    });

    const sa = await core.readNamespacedServiceAccount({ namespace, name: 'users-api' });
    expect(sa.metadata?.annotations?.['eks.amazonaws.com/role-arn']).toBe(ROLE_ARN);
    expect(sa.automountServiceAccountToken).toBe(false);

    const netpol = await kc.makeApiClient(k8s.NetworkingV1Api).readNamespacedNetworkPolicy({ namespace, name });
    expect(netpol.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(netpol.spec?.egress?.[1]?.to?.[0]?.ipBlock?.except).toEqual(['169.254.169.254/32']);

    const sm = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace,
      plural: 'servicemonitors',
      name,
    })) as { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
    const svc = await core.readNamespacedService({ namespace, name });
    expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
    expect(svc.spec?.selector).toEqual(sm.spec.selector.matchLabels);
    expect(svc.spec?.ports?.[0]).toMatchObject({ name: 'http', port: 8084 });

    const pdb = await kc.makeApiClient(k8s.PolicyV1Api).readNamespacedPodDisruptionBudget({ namespace, name });
    expect(pdb.spec?.minAvailable).toBe(1);

    // A configuration change alone rolls the pods (the checksum annotation), and the rollout completes.
    const before = d.spec!.template.metadata!.annotations!['checksum/config'];
    await helm(
      'upgrade',
      'users',
      CHART,
      '--namespace',
      namespace,
      ...values('install', install),
      '--set',
      'config.avatarBucket=users-api-avatars-2',
      '--wait',
      '--timeout',
      '90s',
    );
    const after = await apps.readNamespacedDeployment({ namespace, name });
    expect(after.spec!.template.metadata!.annotations!['checksum/config']).not.toBe(before);
    const cm = await core.readNamespacedConfigMap({ namespace, name });
    expect(cm.data?.['AVATAR_BUCKET']).toBe('users-api-avatars-2');
    expect(after.spec?.replicas).toBe(2); // the upgrade left the HPA's count alone
    await helm('uninstall', 'users', '--namespace', namespace, '--wait');
  });
});
