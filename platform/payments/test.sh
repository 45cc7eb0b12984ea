#!/usr/bin/env bash
# Pays every invoice through invoice-app, then checks through GET /invoices that every invoice is paid.
# Exits 0 only when that is true; otherwise prints why and exits 1 (2 for bad usage).
#
#   platform/payments/test.sh                                   # against `make up` (http://127.0.0.1:8081)
#   INVOICE_APP_URL=http://$(minikube ip):30081 platform/payments/test.sh   # against a cluster's NodePort
#   PORT_FORWARD=1 platform/payments/test.sh                    # kubectl port-forward to svc/invoice-app first
#
# Env: INVOICE_APP_URL (default http://127.0.0.1:8081), PORT_FORWARD=1 (namespace INVOICES_NAMESPACE, default
# invoices), REQUEST_TIMEOUT_MS (default 30000, per request), KUBECTL (as in deploy.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
URL=${INVOICE_APP_URL:-http://127.0.0.1:8081}
REQUEST_TIMEOUT_MS=${REQUEST_TIMEOUT_MS:-30000}

fail() {
  echo "test.sh: FAIL: $*" >&2
  exit 1
}

# Node (>= 18, for fetch) does the HTTP and the JSON: the repo's pinned one if installed, else node on PATH.
if pinned=$("$ROOT/tools/install" --check node 2>/dev/null); then
  NODE=$pinned/node
elif command -v node >/dev/null 2>&1; then
  NODE=$(command -v node)
else
  echo "test.sh: node is not on PATH (run 'tools/install node', or install Node.js >= 18)" >&2
  exit 2
fi

if [ "${PORT_FORWARD:-0}" = 1 ]; then
  if [ -z "${KUBECTL:-}" ]; then
    if pinned=$("$ROOT/tools/install" --check kubernetes 2>/dev/null) && [ -x "$pinned/kubectl" ]; then
      KUBECTL=$pinned/kubectl
    else
      KUBECTL=kubectl
    fi
  fi
  log=$(mktemp)
  # Port 0: kubectl picks a free local port and prints it.
  "$KUBECTL" port-forward -n "${INVOICES_NAMESPACE:-invoices}" svc/invoice-app :8081 >"$log" 2>&1 &
  forward=$!
  # Stop the forward, and wait for it: when test.sh exits, nothing it started is left listening.
  trap 'kill "$forward" 2>/dev/null || true; wait "$forward" 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$forward" 2>/dev/null || fail "kubectl port-forward exited: $(cat "$log")"
    sleep 0.1
  done
  [ -n "${port:-}" ] || fail "kubectl port-forward did not start within 10 s: $(cat "$log")"
  URL=http://127.0.0.1:$port
fi

echo "==> invoice-app at $URL" >&2
INVOICE_APP_URL=$URL REQUEST_TIMEOUT_MS=$REQUEST_TIMEOUT_MS "$NODE" --input-type=module - <<'EOF'
const base = process.env.INVOICE_APP_URL.replace(/\/+$/, '');
const timeout = Number(process.env.REQUEST_TIMEOUT_MS);
const fail = (why) => {
  process.stderr.write(`test.sh: FAIL: ${why}\n`);
  process.exit(1);
};
const call = async (method, path) => {
  let res;
  try {
    res = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(timeout) });
  } catch (err) {
    fail(`${method} ${path}: ${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`);
  }
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    fail(`${method} ${path}: ${res.status}, and the body is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body, text };
};
const invoices = async () => {
  const { status, body, text } = await call('GET', '/invoices');
  if (status !== 200) fail(`GET /invoices answered ${status}: ${text.slice(0, 300)}`);
  if (!Array.isArray(body)) fail(`GET /invoices is not a JSON array: ${text.slice(0, 300)}`);
  for (const i of body) {
    if (typeof i?.InvoiceId !== 'string' || typeof i?.IsPaid !== 'boolean') {
      fail(`GET /invoices has an entry without InvoiceId and IsPaid: ${JSON.stringify(i)}`);
    }
  }
  return body;
};
const show = (list) =>
  list.map((i) => `  ${i.InvoiceId.padEnd(8)} ${String(i.Value).padStart(10)} ${String(i.Currency).padEnd(4)} ${i.IsPaid ? 'paid' : 'UNPAID'}`).join('\n');

const before = await invoices();
if (before.length === 0) fail('GET /invoices returned no invoices: nothing to pay, nothing proven');
process.stderr.write(`==> before: ${before.filter((i) => !i.IsPaid).length} of ${before.length} unpaid\n`);

const pay = await call('POST', '/invoices/pay');
const payProblem = pay.status >= 200 && pay.status < 300 ? undefined : `POST /invoices/pay answered ${pay.status}: ${pay.text.slice(0, 500)}`;
if (payProblem) process.stderr.write(`==> ${payProblem}\n`);

const after = await invoices();
process.stdout.write(`${show(after)}\n`);
const unpaid = after.filter((i) => !i.IsPaid);
if (unpaid.length > 0) {
  fail(`${unpaid.length} of ${after.length} invoices unpaid after POST /invoices/pay: ${unpaid.map((i) => i.InvoiceId).join(', ')}`);
}
if (payProblem) fail(`every invoice reads as paid, but ${payProblem}`);
process.stderr.write(`==> PASS: all ${after.length} invoices paid\n`);
EOF
