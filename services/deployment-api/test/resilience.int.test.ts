// Failure and recovery with real processes: the apiserver going away and coming back, a watch
// path that stalls silently, and the leader dying with a second replica taking over.
import { Code, ConnectError } from '@connectrpc/connect';
import { useNamespace } from '@sre-platform/test-platform';
import { describe, expect, it } from 'vitest';

import { useApiserverProxies } from './proxy.ts';
import {
  apps,
  clientFor,
  createDeployment,
  eventually,
  scaleBehindTheBack,
  useServers,
  type Server,
} from './harness.ts';

const ns = useNamespace('dapi-res');
// Registered before the servers, so that after a test its servers are killed before its proxies stop.
const viaProxy = useApiserverProxies();
const { pki, start } = useServers(ns, { stopSignal: 'SIGKILL' });

async function readyStatus(s: Server): Promise<{ status: number; detail: string }> {
  const res = await fetch(`${s.probeUrl}/readyz`);
  const body = (await res.json()) as { detail?: string };
  return { status: res.status, detail: body.detail ?? '' };
}

async function specReplicas(name: string): Promise<number | undefined> {
  return (await apps().readNamespacedDeployment({ namespace: ns.name, name })).spec?.replicas;
}

describe('deployment-api resilience', () => {
  it('apiserver unreachable: readiness fails, the API answers 503 with the reason, and both recover', async () => {
    await createDeployment(ns.name, 'web', 1);
    const { proxy, kubeconfig } = await viaProxy(pki.dir);
    const s = await start({ KUBECONFIG: kubeconfig });
    const api = clientFor(s, pki, pki.operator);
    await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'web' }, replicas: 2 });
    await eventually('web at 2', async () => ((await specReplicas('web')) === 2 ? true : undefined));

    await proxy.stop();
    const notReady = await eventually('readiness failing on the apiserver probe', async () => {
      const r = await readyStatus(s);
      return r.status === 503 && r.detail.includes('kubernetes: kubernetes apiserver unreachable') ? r : undefined;
    });
    // How the refusal reads depends on when the proxy went: before the connection, mid-handshake or mid-request.
    expect(notReady.detail).toMatch(/ECONNREFUSED|socket hang up|ECONNRESET|socket disconnected before secure TLS/);
    const t0 = performance.now();
    const err = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(performance.now() - t0).toBeLessThan(5000); // answered, not hung
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toContain('apiserver unreachable');
    // Healthy process all along: liveness does not depend on the apiserver.
    expect((await fetch(`${s.probeUrl}/healthz`)).status).toBe(200);

    // Drift made while this server could not see it is restored once it can.
    await scaleBehindTheBack(ns.name, 'web', 4);
    await proxy.start();
    await eventually('readiness back', async () => ((await readyStatus(s)).status === 200 ? true : undefined));
    await eventually('drift made during the outage restored', async () =>
      (await specReplicas('web')) === 2 ? true : undefined,
    );
    const got = await api.getDeployment({ ref: { namespace: ns.name, name: 'web' } });
    expect(got.deployment?.management?.desiredReplicas).toBe(2);
    expect(s.process.child.exitCode).toBeNull();
  });

  it('a watch that stalls silently is noticed and resumed', async () => {
    await createDeployment(ns.name, 'api', 1);
    const { proxy, kubeconfig } = await viaProxy(pki.dir);
    const s = await start({ KUBECONFIG: kubeconfig, KUBE_WATCH_IDLE_TIMEOUT_MS: '3000' });
    const api = clientFor(s, pki, pki.operator);
    await api.setDesiredReplicas({ ref: { namespace: ns.name, name: 'api' }, replicas: 2 });
    await eventually('api at 2', async () => ((await specReplicas('api')) === 2 ? true : undefined));

    // Every open connection (the watches among them) goes silent; new ones work again at once.
    proxy.blackhole();
    proxy.heal();
    await scaleBehindTheBack(ns.name, 'api', 5);
    // Only a watch that was reconnected after its idle bound can see this change.
    await eventually('drift restored through a resumed watch', async () =>
      (await specReplicas('api')) === 2 ? true : undefined,
    );
    // The reconciler counts the restore once its write has returned, which can be after this test saw the write.
    const restored = /deployment_api_drift_restored_total\{namespace="[^"]+"\} 1/;
    const metrics = await eventually('the restore counted', async () => {
      const text = await (await fetch(`${s.probeUrl}/metrics`)).text();
      return restored.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(restored);
  });

  it('the leader dies: the second replica takes over and restores drift', async () => {
    await createDeployment(ns.name, 'db', 1);
    const a = await start({ POD_NAME: 'replica-a' });
    const b = await start({ POD_NAME: 'replica-b' });
    const leaderOf = async () => {
      for (const s of [a, b]) {
        if (s.process.child.exitCode !== null || s.process.child.signalCode !== null) continue;
        const text = await (await fetch(`${s.probeUrl}/metrics`)).text();
        if (/^deployment_api_leader 1$/m.test(text)) return s;
      }
      return undefined;
    };
    const leader = await eventually('a leader', leaderOf);
    const follower = leader === a ? b : a;
    // Both replicas serve the API; the write may go to the follower.
    await clientFor(follower, pki, pki.operator).setDesiredReplicas({
      ref: { namespace: ns.name, name: 'db' },
      replicas: 3,
    });
    await eventually('db at 3', async () => ((await specReplicas('db')) === 3 ? true : undefined));

    leader.process.child.kill('SIGKILL');
    await leader.process.exited;
    await scaleBehindTheBack(ns.name, 'db', 1);
    const next = await eventually('the follower leading', leaderOf);
    expect(next).toBe(follower);
    await eventually('drift restored by the new leader', async () =>
      (await specReplicas('db')) === 3 ? true : undefined,
    );
  });

  it('a leader shutting down cleanly hands over at once instead of letting its lease expire', async () => {
    await createDeployment(ns.name, 'cache', 1);
    // A 60 s lease: without the release on SIGTERM, no takeover within the 30 s this test waits.
    const long = { LEASE_DURATION_MS: '60000', LEASE_RENEW_DEADLINE_MS: '3000', LEASE_RETRY_PERIOD_MS: '500' };
    const a = await start({ POD_NAME: 'clean-a', ...long });
    const b = await start({ POD_NAME: 'clean-b', ...long });
    const leading = async (s: Server) =>
      /^deployment_api_leader 1$/m.test(await (await fetch(`${s.probeUrl}/metrics`)).text());
    const leader = await eventually('a leader', async () =>
      (await leading(a)) ? a : (await leading(b)) ? b : undefined,
    );
    const follower = leader === a ? b : a;
    expect(await leader.process.stop('SIGTERM')).toBe(0);
    await eventually('the follower leading', async () => ((await leading(follower)) ? true : undefined));
    await clientFor(follower, pki, pki.operator).setDesiredReplicas({
      ref: { namespace: ns.name, name: 'cache' },
      replicas: 2,
    });
    await eventually('scaled by the new leader', async () => ((await specReplicas('cache')) === 2 ? true : undefined));
  });
});
