#!/usr/bin/env bash
# Installs Part B's monitoring into the cluster of the current kubeconfig context: kube-prometheus-stack (pinned)
# in namespace monitoring with prometheus-grafana-values.yaml, Grafana's admin Secret (a random password, created
# once and kept), prometheus-adapter (pinned) with prometheus-metrics-adaptor-values.yaml, then webhook-app's
# ServiceMonitor, PrometheusRule and dashboard. Idempotent: a second run
# upgrades in place and keeps the password.
#
#   platform/monitoring/install.sh        # or: make monitoring-install
#
# Needs helm and kubectl, and the cluster must reach ghcr.io and quay.io/docker.io for the chart and its images
# (not the case on this project's build machines: the tests check these files statically instead).
#
# Env:
#   MONITORING_NAMESPACE  default monitoring (webhook-app's NetworkPolicy admits Prometheus from that namespace only)
#   HELM                  helm to use (default: the repo's pinned one if installed, else helm on PATH)
#   KUBECTL               kubectl to use (default: the repo's pinned one if installed, else kubectl on PATH)
#   HELM_TIMEOUT          bound on the chart's install (default 10m)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/platform/monitoring
NAMESPACE=${MONITORING_NAMESPACE:-monitoring}
HELM_TIMEOUT=${HELM_TIMEOUT:-10m}
# The chart version prometheus-grafana-values.yaml was written for (its header; values.test.ts checks both agree).
KPS_CHART_VERSION=88.5.3
KPS_CHART=oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack
RELEASE=kube-prometheus-stack
# The one prometheus-metrics-adaptor-values.yaml was written for (its header; values.test.ts checks both agree).
ADAPTER_CHART_VERSION=5.3.0
ADAPTER_CHART=oci://ghcr.io/prometheus-community/charts/prometheus-adapter

say() { echo "==> $*" >&2; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}

# shellcheck source=platform/deploy-lib.sh
. "$ROOT/platform/deploy-lib.sh"

if [ -z "${HELM:-}" ]; then
  HELM=$(deploy_find_tool helm helm)
fi

deploy_use_cluster
say "context $CONTEXT, namespace $NAMESPACE"

kubectl get namespace "$NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$NAMESPACE"

# Grafana's admin login, referenced by grafana.admin.existingSecret: never in the values file or in git.
if ! secret_exists "$NAMESPACE" grafana-admin; then
  say "creating Secret $NAMESPACE/grafana-admin (random password)"
  kubectl create secret generic grafana-admin -n "$NAMESPACE" \
    --from-literal=admin-user=admin \
    --from-literal=admin-password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-32)"
fi

say "helm upgrade --install $RELEASE $KPS_CHART --version $KPS_CHART_VERSION"
"$HELM" upgrade --install "$RELEASE" "$KPS_CHART" --version "$KPS_CHART_VERSION" \
  --namespace "$NAMESPACE" --values "$HERE/prometheus-grafana-values.yaml" \
  --wait --timeout "$HELM_TIMEOUT"

# webhook-app's custom metrics for its HPA, from the stack's Prometheus (the values name it in namespace monitoring).
say "helm upgrade --install prometheus-adapter $ADAPTER_CHART --version $ADAPTER_CHART_VERSION"
"$HELM" upgrade --install prometheus-adapter "$ADAPTER_CHART" --version "$ADAPTER_CHART_VERSION" \
  --namespace "$NAMESPACE" --values "$HERE/prometheus-metrics-adaptor-values.yaml" \
  --set prometheus.url="http://$RELEASE-prometheus.$NAMESPACE.svc" \
  --wait --timeout "$HELM_TIMEOUT"
# The chart installed the monitoring.coreos.com CRDs the two objects below need.
say "applying webhook-app's ServiceMonitor, PrometheusRule and dashboard"
for file in webhook-app-service-monitor.yaml webhook-app-rules.yaml webhook-app-dashboard.yaml; do
  sed "s/^  namespace: monitoring$/  namespace: $NAMESPACE/" "$HERE/$file" | kubectl apply -f -
done

say "done: Grafana's password: kubectl -n $NAMESPACE get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d"
say "Grafana: kubectl -n $NAMESPACE port-forward svc/$RELEASE-grafana 3000:80, then http://localhost:3000"
