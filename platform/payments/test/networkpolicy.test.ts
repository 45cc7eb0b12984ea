// The NetworkPolicy allow/deny matrix of the payments namespaces, computed from the manifests by np-guard's
// netpol-analyzer (kwok enforces no NetworkPolicy, so sending packets would prove nothing). The rendered manifests
// (what deploy.sh applies) are analysed together with the rest of a cluster (fixtures/peers.yaml): the ingress
// controller, Prometheus, cluster DNS, another team's pod, a pod in default, and unrelated pods in both namespaces.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT } from '@sre-platform/test-platform';
import {
  kustomize,
  netpolAllows as allowed,
  netpolConnections,
  type Connection,
} from '@sre-platform/test-platform/manifests';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';

const rendered = () => kustomize('platform/payments');
const PEERS = readFileSync(join(REPO_ROOT, 'platform/payments/test/fixtures/peers.yaml'), 'utf8');
/** The payments manifests analysed together with the rest of a cluster (fixtures/peers.yaml). */
const analyse = (manifests: string) => netpolConnections({ 'payments.yaml': manifests, 'peers.yaml': PEERS });

let list: Connection[];
beforeAll(() => {
  list = analyse(rendered());
});

describe('payments NetworkPolicy matrix (netpol-analyzer)', () => {
  const outside = '203.0.113.7'; // any address outside the cluster (TEST-NET-3)
  const internet = '1.1.1.1';
  it.each([
    // Into invoice-app: from outside (NodePort, load balancer), the ingress controller and Prometheus; on 8081 only.
    [outside, 'invoices/invoice-app', 8081, true],
    [outside, 'invoices/invoice-app', 22, false],
    ['ingress-nginx/ingress-nginx-controller', 'invoices/invoice-app', 8081, true],
    ['monitoring/prometheus', 'invoices/invoice-app', 8081, true],
    ['monitoring/grafana', 'invoices/invoice-app', 8081, false],
    ['default/curl', 'invoices/invoice-app', 8081, false],
    ['other-team/impostor', 'invoices/invoice-app', 8081, false],
    // Into payment-provider: invoice-app and Prometheus only; nothing from outside, other namespaces or its own.
    ['invoices/invoice-app', 'payments/payment-provider', 8082, true],
    ['invoices/invoice-app', 'payments/payment-provider', 8081, false],
    ['monitoring/prometheus', 'payments/payment-provider', 8082, true],
    [outside, 'payments/payment-provider', 8082, false],
    ['ingress-nginx/ingress-nginx-controller', 'payments/payment-provider', 8082, false],
    ['other-team/impostor', 'payments/payment-provider', 8082, false],
    ['default/curl', 'payments/payment-provider', 8082, false],
    ['invoices/debug', 'payments/payment-provider', 8082, false],
    ['payments/debug', 'payments/payment-provider', 8082, false],
    ['invoices/postgres', 'payments/payment-provider', 8082, false],
    // Out of payment-provider: its database and DNS; no internet, no other namespace, not invoice-app.
    ['payments/payment-provider', 'payments/postgres', 5432, true],
    ['payments/payment-provider', 'kube-system/coredns', 53, true],
    ['payments/payment-provider', internet, 443, false],
    ['payments/payment-provider', 'invoices/invoice-app', 8081, false],
    ['payments/payment-provider', 'invoices/postgres', 5432, false],
    ['payments/payment-provider', 'default/curl', 80, false],
    // Out of invoice-app: the provider, its database, DNS; no internet, not the other team's database.
    ['invoices/invoice-app', 'invoices/postgres', 5432, true],
    ['invoices/invoice-app', 'kube-system/coredns', 53, true],
    ['invoices/invoice-app', internet, 443, false],
    ['invoices/invoice-app', 'payments/postgres', 5432, false],
    ['invoices/invoice-app', 'default/curl', 80, false],
    // Each PostgreSQL: only its own service in, nothing out.
    ['invoices/debug', 'invoices/postgres', 5432, false],
    ['payments/debug', 'payments/postgres', 5432, false],
    ['monitoring/prometheus', 'payments/postgres', 5432, false],
    [outside, 'invoices/postgres', 5432, false],
    ['invoices/postgres', internet, 443, false],
    ['payments/postgres', 'kube-system/coredns', 53, false],
    // Unrelated pods in the team namespaces are denied both ways by default-deny.
    ['invoices/debug', internet, 443, false],
    ['default/curl', 'payments/debug', 80, false],
  ] as const)('%s -> %s:%i allowed: %s', (src, dst, port, expected) => {
    expect(allowed(list, src, dst, port)).toBe(expected);
  });

  it('DNS is allowed over UDP as well as TCP', () => {
    expect(allowed(list, 'invoices/invoice-app', 'kube-system/coredns', 53, 'UDP')).toBe(true);
    expect(allowed(list, 'payments/payment-provider', 'kube-system/coredns', 53, 'UDP')).toBe(true);
  });

  it('allows exactly these flows in or out of the payments namespaces, and nothing else', () => {
    const ours = /^(invoices|payments)\//;
    const flows = list
      .filter((c) => ours.test(c.src) || ours.test(c.dst))
      .map((c) => `${c.src} => ${c.dst} : ${c.conn}`)
      .sort();
    expect(flows).toEqual(
      [
        // From outside the cluster, except the pod network (10.244.0.0/16), which ipBlocks must not admit.
        '0.0.0.0-10.243.255.255 => invoices/invoice-app[Deployment] : TCP 8081',
        '10.245.0.0-255.255.255.255 => invoices/invoice-app[Deployment] : TCP 8081',
        'ingress-nginx/ingress-nginx-controller[Pod] => invoices/invoice-app[Deployment] : TCP 8081',
        'invoices/invoice-app[Deployment] => invoices/postgres[StatefulSet] : TCP 5432',
        'invoices/invoice-app[Deployment] => kube-system/coredns[Pod] : TCP 53,UDP 53',
        'invoices/invoice-app[Deployment] => payments/payment-provider[Deployment] : TCP 8082',
        'monitoring/prometheus[Pod] => invoices/invoice-app[Deployment] : TCP 8081',
        'monitoring/prometheus[Pod] => payments/payment-provider[Deployment] : TCP 8082',
        'payments/payment-provider[Deployment] => kube-system/coredns[Pod] : TCP 53,UDP 53',
        'payments/payment-provider[Deployment] => payments/postgres[StatefulSet] : TCP 5432',
      ].sort(),
    );
  });

  it('would catch a missing policy: without the payments namespace policies, anyone reaches payment-provider', () => {
    const withoutPaymentsPolicies = parseAllDocuments(rendered())
      .map((d) => d.toJS() as { kind: string; metadata: { namespace?: string } })
      .filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.namespace === 'payments'))
      .map((o) => stringify(o))
      .join('---\n');
    const open = analyse(withoutPaymentsPolicies);
    expect(allowed(open, 'default/curl', 'payments/payment-provider', 8082)).toBe(true);
    expect(allowed(open, 'other-team/impostor', 'payments/payment-provider', 8082)).toBe(true);
    expect(allowed(open, 'payments/payment-provider', '1.1.1.1', 443)).toBe(true);
  });
});
