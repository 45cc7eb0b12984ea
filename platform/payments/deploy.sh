#!/usr/bin/env bash
# Deploys invoice-app and payment-provider (with their namespaces, RBAC, NetworkPolicies and PostgreSQL) to the
# cluster of the current kubeconfig context, and waits until every rollout is done. Idempotent: a second run
# changes nothing and exits 0.
#
#   platform/payments/deploy.sh                    # or: make payments-deploy
#
# Env:
#   BUILD=auto|always|never  build the two images (docker) and load them into the cluster. auto (the default):
#                            kind and minikube build when the tag is not in the local image store yet; the local
#                            kwok control plane never builds (its pods are simulated: no container runs, no image
#                            is pulled); the local real node builds every time (tools/image/build: BuildKit, no
#                            Docker; its layer cache makes an unchanged build quick) and imports into the node;
#                            any other cluster never builds (push the images to its registry yourself).
#   IMAGE_TAG                the tag to build and deploy (default: the git commit, plus a hash of uncommitted changes)
#   IMAGE_PREFIX             image name prefix (default sre-platform/, sre-platform.local/ for real-node); a
#                            registry path for real clusters
#   TARGET=auto|kind|minikube|kwok|real-node|other   what the current context is (default: detected; real-node is
#                            never detected: it is the local cluster's real node, tools/cluster/node, which runs
#                            every pod of the pair as a real container; see "the real node" below)
#   ROLLOUT_TIMEOUT          bound on each rollout (default 300s)
#   KUBECTL                  kubectl to use (default: the repo's pinned one if installed, else kubectl on PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-auto}
TARGET=${TARGET:-auto}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
SERVICES=(invoice-app payment-provider)
# namespace:service pairs; each namespace has its own PostgreSQL whose only client is that service.
TEAMS=(invoices:invoice-app payments:payment-provider)

say() { echo "==> $*" >&2; }
die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

# shellcheck source=platform/deploy-lib.sh
. "$ROOT/platform/deploy-lib.sh"
case "$BUILD" in auto | always | never) ;; *) die "BUILD must be auto, always or never (got '$BUILD')" ;; esac

deploy_use_cluster

if [ "$TARGET" = auto ]; then
  case "$CONTEXT" in
    kind-*) TARGET=kind ;;
    minikube) TARGET=minikube ;;
    kwok-*) TARGET=kwok ;;
    *)
      # kwok labels its simulated nodes type=kwok, whatever the context is called.
      if [ -n "$(kubectl get nodes -l type=kwok -o name 2>/dev/null)" ]; then TARGET=kwok; else TARGET=other; fi
      ;;
  esac
fi
case "$TARGET" in kind | minikube | kwok | real-node | other) ;; *) die "TARGET must be auto, kind, minikube, kwok, real-node or other (got '$TARGET')" ;; esac
say "context $CONTEXT ($TARGET)"

# The real node (tools/cluster/node) runs every pod of the pair: images from its own containerd (it reaches no
# registry), built from our Dockerfiles by tools/image/build, which names them sre-platform.local/<name>:<tag>;
# PostgreSQL too, from the local stand-in of its image. Pods ask for the node (its label and taint) and
# PostgreSQL's claim for its StorageClass, through a kustomize patch (below): the manifests stay as they are.
REAL_NODE_IMAGES=(invoice-app payment-provider postgres)
if [ "$TARGET" = real-node ]; then
  [ -n "$(kubectl get nodes -l sre-platform/real-node=true -o name 2>/dev/null)" ] ||
    die "TARGET=real-node: the cluster of context '$CONTEXT' has no real node (sudo REAL_NODE=1 make cluster-up starts one)"
  kubectl get storageclass real-node -o name >/dev/null 2>&1 ||
    die "TARGET=real-node: no StorageClass real-node (tools/cluster/node up creates it; an older node lacks it: restart it)"
  IMAGE_PREFIX=${IMAGE_PREFIX:-sre-platform.local/}
  [ "$BUILD" = never ] || [ "$IMAGE_PREFIX" = sre-platform.local/ ] ||
    die "TARGET=real-node builds images named sre-platform.local/<name>; IMAGE_PREFIX=$IMAGE_PREFIX needs BUILD=never"
fi
IMAGE_PREFIX=${IMAGE_PREFIX:-sre-platform/}

deploy_image_tag
image() { echo "$IMAGE_PREFIX$1:$IMAGE_TAG"; }

# --- images -----------------------------------------------------------------------------------------------
build_needed() { # <image>
  case "$BUILD" in
    always) return 0 ;;
    never) return 1 ;;
  esac
  case "$TARGET" in
    kind | minikube) ! docker image inspect "$1" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

load_image() { # <image>: into the kind or minikube cluster's nodes
  case "$TARGET" in
    kind)
      command -v kind >/dev/null 2>&1 || die "kind is not on PATH (needed to load $1 into the kind cluster)"
      kind load docker-image --name "${CONTEXT#kind-}" "$1" >&2
      ;;
    minikube)
      command -v minikube >/dev/null 2>&1 || die "minikube is not on PATH (needed to load $1 into minikube)"
      minikube image load "$1" >&2
      ;;
  esac
}

if [ "$TARGET" = real-node ]; then
  if [ "$BUILD" = never ]; then
    say "images: not built; the real node's containerd must hold $(image '<name>') for ${REAL_NODE_IMAGES[*]}"
  else
    say "building ${REAL_NODE_IMAGES[*]} (tools/image/build) and importing them into the real node"
    IMAGE_TAG=$IMAGE_TAG IMPORT=1 "$ROOT/tools/image/build" "${REAL_NODE_IMAGES[@]}" >&2
  fi
  # The loop below is docker's, for kind and minikube.
  BUILD=never
fi
case "$TARGET:$BUILD" in
  kwok:auto) say "images: not built (kwok simulates pods: no container runs and no image is pulled; BUILD=always builds anyway)" ;;
  other:auto | other:never) say "images: not built; the cluster must be able to pull $(image '<service>') (set IMAGE_PREFIX=<registry>/)" ;;
esac
for svc in "${SERVICES[@]}"; do
  img=$(image "$svc")
  if build_needed "$img"; then
    command -v docker >/dev/null 2>&1 || die "docker is not on PATH (needed to build $img; BUILD=never skips it)"
    say "building $img"
    docker build -f "$ROOT/services/$svc/Dockerfile" -t "$img" "$ROOT" >&2
    if [ "$TARGET" = other ]; then say "$img built; push it to a registry the cluster pulls from before it can start"; fi
  fi
  # Loaded even when the build was skipped: the image may be local but not in this (perhaps new) cluster yet.
  # Both tools skip nodes that already have it.
  case "$TARGET:$BUILD" in kind:auto | kind:always | minikube:auto | minikube:always) load_image "$img" ;; esac
done

# --- namespaces and secrets ---------------------------------------------------------------------------------
kubectl apply --server-side --field-manager=payments-deploy -f "$ROOT/platform/payments/namespaces.yaml" >&2

# Credentials are generated in the cluster on first deploy, never committed, never printed; later runs keep them.
for team in "${TEAMS[@]}"; do
  ns=${team%%:*} svc=${team#*:}
  db=${svc//-/_}
  if ! secret_exists "$ns" postgres-credentials; then
    say "$ns: generating the PostgreSQL credentials (Secret postgres-credentials)"
    password=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    # Through a file descriptor, not arguments: command lines are visible to every local user (ps, /proc).
    kubectl create secret generic postgres-credentials -n "$ns" \
      --from-env-file=<(printf 'POSTGRES_USER=%s\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=%s\n' "$db" "$password" "$db") \
      >/dev/null
    kubectl label secret postgres-credentials -n "$ns" app.kubernetes.io/name=postgres \
      app.kubernetes.io/part-of=payments >/dev/null
  fi
  if ! secret_exists "$ns" "$svc-database"; then
    say "$ns: writing $svc's DATABASE_URL (Secret $svc-database)"
    user=$(secret_key "$ns" postgres-credentials POSTGRES_USER)
    password=$(secret_key "$ns" postgres-credentials POSTGRES_PASSWORD)
    name=$(secret_key "$ns" postgres-credentials POSTGRES_DB)
    kubectl create secret generic "$svc-database" -n "$ns" \
      --from-env-file=<(printf 'DATABASE_URL=postgres://%s:%s@postgres.%s.svc.cluster.local:5432/%s\n' \
        "$user" "$password" "$ns" "$name") >/dev/null
    kubectl label secret "$svc-database" -n "$ns" app.kubernetes.io/name="$svc" app.kubernetes.io/part-of=payments >/dev/null
  fi
done

# --- storage on the local control plane ---------------------------------------------------------------------
# kwok has no storage provisioner: pre-bind one PersistentVolume per PostgreSQL claim, and create the claim (the
# StatefulSet adopts it by name) bound before the pod exists: the scheduler does not retry a pod that saw its claim
# unbound. Nothing is ever written to the volume (no container runs). Real clusters use their default StorageClass.
if [ "$TARGET" = kwok ]; then
  for team in "${TEAMS[@]}"; do
    ns=${team%%:*}
    kubectl apply --server-side --field-manager=payments-deploy -f - >&2 <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: payments-postgres-$ns
  labels:
    app.kubernetes.io/name: postgres
    app.kubernetes.io/part-of: payments
spec:
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ''
  claimRef:
    namespace: $ns
    name: data-postgres-0
  hostPath:
    path: /var/lib/sre-platform/payments-postgres-$ns
    type: DirectoryOrCreate
EOF
    # Once bound, the claim stays bound: a second run has nothing more to do here.
    [ "$(kubectl get pvc -n "$ns" data-postgres-0 -o jsonpath='{.status.phase}' 2>/dev/null)" = Bound ] && continue
    # The claim only once the controller has seen the volume: a claim naming a volume it does not know yet waits
    # for the controller's next periodic resync (about 15 s).
    kubectl wait "pv/payments-postgres-$ns" --for=jsonpath='{.status.phase}'=Available --timeout="$ROLLOUT_TIMEOUT" >&2
    kubectl apply --server-side --field-manager=payments-deploy -f - >&2 <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-postgres-0
  namespace: $ns
  labels:
    app.kubernetes.io/name: postgres
    app.kubernetes.io/instance: postgres
    app.kubernetes.io/component: database
    app.kubernetes.io/part-of: payments
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ''
  volumeName: payments-postgres-$ns
  resources:
    requests:
      storage: 1Gi
EOF
  done
  # Both claims were created before waiting: when the controller is slow to bind, they bind in the same resync.
  for team in "${TEAMS[@]}"; do
    kubectl wait -n "${team%%:*}" pvc/data-postgres-0 --for=jsonpath='{.status.phase}'=Bound --timeout="$ROLLOUT_TIMEOUT" >&2
  done
elif [ "$TARGET" != real-node ] && [ -z "$(kubectl get storageclass -o jsonpath='{range .items[?(@.metadata.annotations.storageclass\.kubernetes\.io/is-default-class=="true")]}{.metadata.name}{end}' 2>/dev/null)" ]; then
  say "warning: no default StorageClass; PostgreSQL's claims (data-postgres-0) stay Pending until one binds them"
fi

# --- everything else ------------------------------------------------------------------------------------------
if [ "$TARGET" = real-node ]; then
  # kustomize refuses an overlay inside the folder it patches, and absolute paths: a throwaway overlay that names
  # platform/payments by its relative path.
  overlay=$(mktemp -d)
  trap 'rm -rf "$overlay"' EXIT
  cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$overlay" "$ROOT/platform/payments")
patches:
  - target: { group: apps, kind: Deployment }
    patch: &onRealNode |-
      - { op: add, path: /spec/template/spec/nodeSelector, value: { sre-platform/real-node: 'true' } }
      - op: add
        path: /spec/template/spec/tolerations
        value: [{ key: sre-platform/real-node, operator: Equal, value: 'true', effect: NoSchedule }]
      - { op: replace, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never }
  - target: { group: apps, kind: StatefulSet }
    patch: *onRealNode
  - target: { group: apps, kind: StatefulSet, name: postgres }
    patch: |-
      - { op: add, path: /spec/volumeClaimTemplates/0/spec/storageClassName, value: real-node }
EOF
  rendered=$(kubectl kustomize "$overlay")
  rendered=$(sed -E "s#image: postgres:[^[:space:]]+#image: $(image postgres)#" <<<"$rendered")
else
  rendered=$(kubectl kustomize "$ROOT/platform/payments")
fi
for svc in "${SERVICES[@]}"; do
  rendered=$(sed -E "s#image: sre-platform/$svc:[^[:space:]]+#image: $(image "$svc")#" <<<"$rendered")
done
say "applying platform/payments (images tagged $IMAGE_TAG)"
# Server-side apply: deploy.sh owns the fields it sets; --force-conflicts takes them back from hand edits.
kubectl apply --server-side --force-conflicts --field-manager=payments-deploy -f - <<<"$rendered" >&2

for team in "${TEAMS[@]}"; do
  ns=${team%%:*} svc=${team#*:}
  kubectl rollout status -n "$ns" statefulset/postgres --timeout="$ROLLOUT_TIMEOUT" >&2
  kubectl rollout status -n "$ns" "deployment/$svc" --timeout="$ROLLOUT_TIMEOUT" >&2
done
kubectl get pods -n invoices -l app.kubernetes.io/name=invoice-app >&2
kubectl get pods -n payments -l app.kubernetes.io/name=payment-provider >&2

# --- how to reach invoice-app ---------------------------------------------------------------------------------
case "$TARGET" in
  real-node)
    # kube-proxy programs the NodePort a moment after the pods are Ready (it follows the EndpointSlices): wait for it
    # (120 x 0.5 s), so that "deployed" means the URL below accepts connections. Until then it refuses them.
    for _ in $(seq 1 120); do
      if (exec 3<>/dev/tcp/10.244.0.1/30081) 2>/dev/null; then break; fi
      sleep 0.5
    done
    (exec 3<>/dev/tcp/10.244.0.1/30081) 2>/dev/null ||
      die "invoice-app's NodePort 10.244.0.1:30081 refuses connections 60 s after the rollout (kube-proxy: tools/cluster/node status)"
    say "deployed on the real node. invoice-app: http://10.244.0.1:30081/invoices (NodePort on the node's IP, from this machine)"
    say "test: INVOICE_APP_URL=http://10.244.0.1:30081 platform/payments/test.sh"
    ;;
  kwok)
    say "deployed. kwok simulates the pods (nothing listens): run the services with 'make up', then platform/payments/test.sh"
    ;;
  minikube)
    say "deployed. invoice-app: http://$(minikube ip 2>/dev/null || echo '<minikube ip>'):30081/invoices (NodePort), or through the ingress addon at http://<minikube ip>/invoices"
    say "test: INVOICE_APP_URL=http://\$(minikube ip):30081 platform/payments/test.sh"
    ;;
  *)
    say "deployed. invoice-app: NodePort 30081 on any node, the Ingress (class nginx) at /invoices, or:"
    say "  kubectl port-forward -n invoices svc/invoice-app 8081:8081   then   platform/payments/test.sh"
    say "  (or PORT_FORWARD=1 platform/payments/test.sh, which does the port-forward itself)"
    ;;
esac
