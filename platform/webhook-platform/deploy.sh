#!/usr/bin/env bash
# Deploys Part A of the webhook challenge to the cluster of the current kubeconfig context, in order: the namespaces,
# every Secret the manifests reference (generated in the cluster, never committed, never printed), Rocket.Chat with
# its MongoDB, GitLab with its runner, then webhook-app with its PostgreSQL; and waits for what can become ready.
# Idempotent: a second run changes nothing and exits 0. An existing Secret is never regenerated.
#
#   platform/webhook-platform/deploy.sh            # or: make webhook-platform-deploy
#
# Where it runs (TARGET, detected from the context and the nodes):
#   local   the repository's control plane (make cluster-up) with its real node (REAL_NODE=1): webhook-app and its
#           PostgreSQL run for real on the real node, placed there by a patch (node selector and toleration) and
#           using images built locally from their Dockerfiles. Rocket.Chat, MongoDB and GitLab cannot run here (their
#           images are out of reach): they are applied, validated by the apiserver and admitted by Pod Security
#           onto kwok nodes, where nothing runs; the script says so and does not wait for them.
#           Without a real node, webhook-app and PostgreSQL are simulated by kwok as well.
#   kind | minikube | other   everything runs; every rollout is waited for (GitLab's first start takes 5-10 minutes).
#
# Env:
#   GITLAB_WEBHOOK_SECRET, ROCKETCHAT_USERNAME, ROCKETCHAT_PASSWORD, ADMIN_TOKEN (or <NAME>_FILE)
#                     webhook-app's Secret. The bootstrap's values (its CI/CD variables of the same names) once it
#                     has run; a value given replaces the stored one, a value not given is kept, or generated when
#                     the Secret does not exist yet (ROCKETCHAT_USERNAME defaults to webhook-bot).
#   ROCKETCHAT_URL, ROCKETCHAT_DEFAULT_RECIPIENT   webhook-app's ConfigMap values, when not the manifests' own
#                     (Rocket.Chat's in-cluster Service, "ops").
#   BUILD=auto|always|never  build webhook-app's image (and, on the real node, PostgreSQL's stand-in). auto: on the
#                     real node when the node does not list the tag yet (tools/image/build, as root), on kind and
#                     minikube when docker lacks it; never elsewhere.
#   IMAGE_TAG         the tag to build and deploy (default: the git commit, plus a hash of uncommitted changes)
#   IMAGE_PREFIX      image name prefix on kind, minikube and other clusters (default sre-platform/)
#   POSTGRES_IMAGE    PostgreSQL's image on the real node (default sre-platform.local/postgres:local, the local
#                     stand-in for postgres:18.1-bookworm that tools/image/build postgres makes); the manifests'
#                     own elsewhere
#   TARGET=auto|local|real-node|kind|minikube|other (real-node: local, failing without the real node)
#   ROLLOUT_TIMEOUT (default 300s)    KUBECTL (default: the pinned one)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-auto}
TARGET=${TARGET:-auto}
IMAGE_PREFIX=${IMAGE_PREFIX:-sre-platform/}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
FIELD_MANAGER=webhook-platform-deploy
APP_NS=webhook-app
REAL_NODE_LABEL=sre-platform/real-node

say() { echo "==> $*" >&2; }
die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

# shellcheck source=platform/deploy-lib.sh
. "$ROOT/platform/deploy-lib.sh"
deploy_use_cluster
apply() { kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" "$@" >&2; }

case "$BUILD" in auto | always | never) ;; *) die "BUILD must be auto, always or never (got '$BUILD')" ;; esac

REAL_NODE=$(kubectl get nodes -l "$REAL_NODE_LABEL=true" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
if [ "$TARGET" = auto ]; then
  case "$CONTEXT" in
    kind-*) TARGET=kind ;;
    minikube) TARGET=minikube ;;
    *) if [ -n "$(kubectl get nodes -l type=kwok -o name 2>/dev/null)" ]; then TARGET=local; else TARGET=other; fi ;;
  esac
fi
if [ "$TARGET" = real-node ]; then # payments' deploy.sh's name for it: the local cluster, with its real node required
  [ -n "$REAL_NODE" ] || die "TARGET=real-node: the cluster of context '$CONTEXT' has no real node (sudo REAL_NODE=1 make cluster-up)"
  TARGET=local
fi
case "$TARGET" in local | kind | minikube | other) ;; *) die "TARGET must be auto, local, real-node, kind, minikube or other (got '$TARGET')" ;; esac
if [ "$TARGET" = local ]; then
  if [ -n "$REAL_NODE" ]; then say "context $CONTEXT (local control plane, real node $REAL_NODE)"; else
    say "context $CONTEXT (local control plane, no real node: webhook-app and PostgreSQL are simulated by kwok too; REAL_NODE=1 make cluster-up adds one)"
  fi
else
  say "context $CONTEXT ($TARGET)"
fi

deploy_image_tag
ON_REAL_NODE=$([ "$TARGET" = local ] && [ -n "$REAL_NODE" ] && echo 1 || true)
if [ -n "$ON_REAL_NODE" ]; then
  APP_IMAGE=sre-platform.local/webhook-app:$IMAGE_TAG
  POSTGRES_IMAGE=${POSTGRES_IMAGE:-sre-platform.local/postgres:local}
else
  APP_IMAGE=${IMAGE_PREFIX}webhook-app:$IMAGE_TAG
fi

# --- webhook-app's image ------------------------------------------------------------------------------------------
node_has_image() { # <ref>: the kubelet lists the images of its containerd in the node's status
  kubectl get node "$REAL_NODE" -o jsonpath='{range .status.images[*]}{range .names[*]}{@}{"\n"}{end}{end}' |
    grep -qxF "$1"
}
if [ -n "$ON_REAL_NODE" ]; then
  if [ "$BUILD" = always ] || { [ "$BUILD" = auto ] && ! node_has_image "$APP_IMAGE"; }; then
    say "building $APP_IMAGE from services/webhook-app/Dockerfile into the real node (tools/image/build)"
    IMAGE_TAG=$IMAGE_TAG IMPORT=1 "$ROOT/tools/image/build" webhook-app
  fi
  # PostgreSQL's local stand-in (tools/image/postgres), when it is the one named and the node lacks it.
  if [ "$BUILD" != never ] && [ "${POSTGRES_IMAGE%:*}" = sre-platform.local/postgres ] &&
    { [ "$BUILD" = always ] || ! node_has_image "$POSTGRES_IMAGE"; }; then
    say "building $POSTGRES_IMAGE (tools/image/build postgres) into the real node"
    IMAGE_TAG=${POSTGRES_IMAGE##*:} IMPORT=1 "$ROOT/tools/image/build" postgres
  fi
elif [ "$TARGET" = kind ] || [ "$TARGET" = minikube ]; then
  if [ "$BUILD" = always ] || { [ "$BUILD" = auto ] && ! docker image inspect "$APP_IMAGE" >/dev/null 2>&1; }; then
    say "building $APP_IMAGE (docker)"
    docker build -f "$ROOT/services/webhook-app/Dockerfile" -t "$APP_IMAGE" "$ROOT" >&2
  fi
  if [ "$BUILD" != never ]; then
    if [ "$TARGET" = kind ]; then kind load docker-image --name "${CONTEXT#kind-}" "$APP_IMAGE" >&2; else minikube image load "$APP_IMAGE" >&2; fi
  fi
elif [ "$TARGET" = other ]; then
  say "images: not built; the cluster must be able to pull $APP_IMAGE (set IMAGE_PREFIX=<registry>/)"
fi

# --- namespaces ---------------------------------------------------------------------------------------------------
# Under a field manager of their own: the kustomizations apply the same namespaces again with their labels, and a
# manager's apply removes what its previous apply set and this one omits (each run would flip those labels).
kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER-namespaces" \
  -f "$ROOT/platform/rocketchat/namespace.yaml" -f "$ROOT/platform/gitlab/namespaces.yaml" \
  -f "$ROOT/services/webhook-app/k8s/namespace.yaml" >&2

# --- Secrets: generated in the cluster on the first run, kept afterwards ------------------------------------------
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
# create_secret <namespace> <name> <part-of>: KEY=VALUE lines on stdin, never on a command line (ps, /proc).
create_secret() {
  kubectl create secret generic "$2" -n "$1" --from-env-file=/dev/stdin --dry-run=client -o json |
    kubectl label --local -f - -o json app.kubernetes.io/name="$2" app.kubernetes.io/part-of="$3" |
    apply -f -
}
# env_or_file NAME: $NAME, else the content of the file $NAME_FILE, else empty.
env_or_file() {
  local file_var=$1_FILE
  if [ -n "${!1:-}" ]; then printf '%s' "${!1}"; elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var: cannot read ${!file_var}"
    tr -d '\n' <"${!file_var}"
  fi
}

if ! secret_exists rocketchat mongodb-auth; then
  say "rocketchat: generating MongoDB's keyfile and credentials (Secret mongodb-auth)"
  app_password=$(random_hex 24)
  create_secret rocketchat mongodb-auth rocketchat <<EOF
keyfile=$(head -c 756 /dev/urandom | base64 -w0)
root-username=root
root-password=$(random_hex 24)
rocketchat-password=$app_password
MONGO_URL=mongodb://rocketchat:$app_password@mongodb-0.mongodb.rocketchat.svc.cluster.local:27017/rocketchat?replicaSet=rs0&authSource=admin
EOF
fi
if ! secret_exists rocketchat rocketchat-admin; then
  say "rocketchat: generating the first administrator (Secret rocketchat-admin)"
  create_secret rocketchat rocketchat-admin rocketchat <<EOF
ADMIN_USERNAME=admin
ADMIN_PASS=$(random_hex 16)
ADMIN_EMAIL=admin@sre-platform.test
EOF
fi
if ! secret_exists gitlab gitlab-root; then
  say "gitlab: generating the root password (Secret gitlab-root)"
  create_secret gitlab gitlab-root gitlab <<<"root-password=$(random_hex 16)"
fi
if ! secret_exists "$APP_NS" postgres-credentials; then
  say "$APP_NS: generating the PostgreSQL credentials (Secret postgres-credentials)"
  create_secret "$APP_NS" postgres-credentials webhook-app <<EOF
POSTGRES_USER=webhook_app
POSTGRES_PASSWORD=$(random_hex 24)
POSTGRES_DB=webhook_app
EOF
fi
if ! secret_exists "$APP_NS" webhook-app-database; then
  say "$APP_NS: writing webhook-app's DATABASE_URL (Secret webhook-app-database)"
  create_secret "$APP_NS" webhook-app-database webhook-app <<<"DATABASE_URL=postgres://$(
    secret_key "$APP_NS" postgres-credentials POSTGRES_USER
  ):$(secret_key "$APP_NS" postgres-credentials POSTGRES_PASSWORD)@postgres.$APP_NS.svc.cluster.local:5432/$(
    secret_key "$APP_NS" postgres-credentials POSTGRES_DB
  )"
fi

# webhook-app's own Secret: the bootstrap's values where given; stored values kept; the rest generated once.
declare -A app_secret=() given=()
for key in GITLAB_WEBHOOK_SECRET ADMIN_TOKEN ROCKETCHAT_USERNAME ROCKETCHAT_PASSWORD; do
  given[$key]=$(env_or_file "$key")
  stored=$(secret_exists "$APP_NS" webhook-app && secret_key "$APP_NS" webhook-app "$key" || true)
  app_secret[$key]=${given[$key]:-$stored}
done
[ -n "${app_secret[GITLAB_WEBHOOK_SECRET]}" ] || app_secret[GITLAB_WEBHOOK_SECRET]=$(random_hex 32)
[ -n "${app_secret[ADMIN_TOKEN]}" ] || app_secret[ADMIN_TOKEN]=$(random_hex 32)
[ -n "${app_secret[ROCKETCHAT_USERNAME]}" ] || app_secret[ROCKETCHAT_USERNAME]=webhook-bot
[ -n "${app_secret[ROCKETCHAT_PASSWORD]}" ] || app_secret[ROCKETCHAT_PASSWORD]=$(random_hex 24)
changed=()
for key in "${!app_secret[@]}"; do
  if ! secret_exists "$APP_NS" webhook-app || [ "$(secret_key "$APP_NS" webhook-app "$key")" != "${app_secret[$key]}" ]; then
    changed+=("$key")
  fi
done
if [ ${#changed[@]} -gt 0 ]; then
  say "$APP_NS: writing webhook-app's Secret (keys set: $(printf '%s\n' "${changed[@]}" | sort | tr '\n' ' '))"
  for key in "${!app_secret[@]}"; do printf '%s=%s\n' "$key" "${app_secret[$key]}"; done |
    create_secret "$APP_NS" webhook-app webhook-app
fi

# --- Rocket.Chat + MongoDB, GitLab + runner -------------------------------------------------------------------------
say "applying platform/rocketchat"
apply -k "$ROOT/platform/rocketchat"
say "applying platform/gitlab"
apply -k "$ROOT/platform/gitlab"

# --- webhook-app + its PostgreSQL -----------------------------------------------------------------------------------
# An overlay made for this run: the image built above, the ConfigMap values given, the real node's placement, and a
# hash of the configuration on the pod template, so that a changed Secret or ConfigMap rolls the pods (env is read
# at start) while an unchanged one changes nothing.
OVERLAY=$(mktemp -d)
trap 'rm -rf "$OVERLAY"' EXIT
config_patch=()
for key in ROCKETCHAT_URL ROCKETCHAT_DEFAULT_RECIPIENT; do
  [ -z "${!key:-}" ] || config_patch+=("      $key: '${!key//\'/\'\'}'")
done
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  # kustomize takes no absolute path: the manifests' folder relative to this temporary one.
  echo "resources: [$(realpath --relative-to="$OVERLAY" "$ROOT/services/webhook-app/k8s")]"
  echo "images:"
  echo "  - { name: sre-platform/webhook-app, newName: ${APP_IMAGE%:*}, newTag: $IMAGE_TAG }"
  [ -z "$ON_REAL_NODE" ] || echo "  - { name: postgres, newName: ${POSTGRES_IMAGE%:*}, newTag: ${POSTGRES_IMAGE##*:} }"
  echo "patches:"
  if [ ${#config_patch[@]} -gt 0 ]; then
    printf '  - patch: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: { name: webhook-app }\n      data:\n'
    printf '  %s\n' "${config_patch[@]}"
  fi
  if [ -n "$ON_REAL_NODE" ]; then
    for workload in Deployment/webhook-app StatefulSet/postgres; do
      cat <<EOF
  - patch: |
      apiVersion: apps/v1
      kind: ${workload%/*}
      metadata: { name: ${workload#*/} }
      spec:
        template:
          spec:
            nodeSelector: { $REAL_NODE_LABEL: 'true' }
            tolerations: [{ key: $REAL_NODE_LABEL, operator: Equal, value: 'true', effect: NoSchedule }]
EOF
    done
    # The real node's own volumes (tools/cluster/node-volumes): a local directory per claim, made on the node.
    cat <<EOF
  - target: { kind: StatefulSet, name: postgres }
    patch: |
      - { op: add, path: /spec/volumeClaimTemplates/0/spec/storageClassName, value: real-node }
EOF
  fi
} >"$OVERLAY/kustomization.yaml"
rendered=$(kubectl kustomize "$OVERLAY")
config_hash=$(
  {
    kubectl get secret -n "$APP_NS" webhook-app webhook-app-database -o jsonpath='{range .items[*]}{.data}{"\n"}{end}'
    awk '/^kind: ConfigMap$/,/^---$/' <<<"$rendered"
  } | sha256sum | cut -c1-16
)
cat >>"$OVERLAY/kustomization.yaml" <<EOF
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: webhook-app }
      spec:
        template:
          metadata:
            annotations: { sre-platform/config-hash: '$config_hash' }
EOF
say "applying services/webhook-app/k8s (image $APP_IMAGE)"
apply -f - <<<"$(kubectl kustomize "$OVERLAY")"

# --- wait for what can become ready -------------------------------------------------------------------------------
# admitted <namespace> <kind/name>: the workload's controller created its pods, so Pod Security admission let them in.
admitted() {
  local selector
  # shellcheck disable=SC2016 # a Go template, not shell
  selector=$(kubectl get -n "$1" "$2" -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')
  for _ in $(seq 1 120); do
    [ -z "$(kubectl get pods -n "$1" -l "${selector%,}" -o name)" ] || return 0
    sleep 1
  done
  die "$1/$2: no pod was created; kubectl describe -n $1 $2, and its events, say why"
}
parts=(rocketchat:statefulset/mongodb rocketchat:job/mongodb-init rocketchat:deployment/rocketchat
  gitlab:statefulset/gitlab gitlab-runner:deployment/gitlab-runner)
if [ "$TARGET" = local ]; then
  for part in "${parts[@]}"; do admitted "${part%%:*}" "${part#*:}"; done
  say "Rocket.Chat, MongoDB, GitLab and the runner: applied, validated by the apiserver, their pods admitted by Pod Security onto kwok nodes; not run (their images cannot be pulled here)"
else
  kubectl rollout status -n rocketchat statefulset/mongodb --timeout="$ROLLOUT_TIMEOUT" >&2
  kubectl wait -n rocketchat job/mongodb-init --for=condition=Complete --timeout="$ROLLOUT_TIMEOUT" >&2
  # Rocket.Chat's first start runs its migrations, GitLab's its reconfigure: minutes each.
  kubectl rollout status -n rocketchat deployment/rocketchat --timeout=15m >&2
  kubectl rollout status -n gitlab statefulset/gitlab --timeout=20m >&2
  if secret_exists gitlab-runner gitlab-runner-token; then
    kubectl rollout status -n gitlab-runner deployment/gitlab-runner --timeout="$ROLLOUT_TIMEOUT" >&2
  else
    say "gitlab-runner waits for its token: run the bootstrap (make webhook-bootstrap), which stores it"
  fi
fi
if [ "$TARGET" = local ] && [ -z "$ON_REAL_NODE" ]; then
  # kwok has no storage provisioner: PostgreSQL's claim stays unbound and its pod Pending; webhook-app's simulated
  # pods are Ready at once (nothing runs them).
  admitted "$APP_NS" statefulset/postgres
else
  kubectl rollout status -n "$APP_NS" statefulset/postgres --timeout="$ROLLOUT_TIMEOUT" >&2
fi
# webhook-app's replica count is the HPA's (services/webhook-app/k8s/hpa.yaml): a new Deployment starts with one pod
# and the HPA raises it to its minReplicas at its next sync (every 15 s by default), metrics or not.
hpa_min=$(kubectl get hpa -n "$APP_NS" webhook-app -o jsonpath='{.spec.minReplicas}')
for _ in $(seq 1 120); do
  [ "$(kubectl get deployment -n "$APP_NS" webhook-app -o jsonpath='{.spec.replicas}')" -lt "${hpa_min:-1}" ] || break
  sleep 1
done
[ "$(kubectl get deployment -n "$APP_NS" webhook-app -o jsonpath='{.spec.replicas}')" -ge "${hpa_min:-1}" ] ||
  die "$APP_NS: the HPA did not raise webhook-app to its minReplicas ($hpa_min) in 120 s; kubectl describe hpa -n $APP_NS webhook-app says why (is kube-controller-manager's HPA controller running?)"
kubectl rollout status -n "$APP_NS" deployment/webhook-app --timeout="$ROLLOUT_TIMEOUT" >&2
kubectl get pods -n "$APP_NS" -o wide >&2
say "deployed. webhook-app: http://webhook-app.$APP_NS.svc.cluster.local:8080/webhooks/gitlab (Service webhook-app)"
