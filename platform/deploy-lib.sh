# shellcheck shell=bash
# What the deploy scripts share (platform/payments/deploy.sh, platform/webhook-platform/deploy.sh): sourced after
# ROOT (the repository) and die() are set, never run on its own.

# The path of program <bin>: the repository's pinned one (tools/install <tool>), else the one on PATH; fails
# naming the install command when there is neither. Usage: X=$(deploy_find_tool <tool> <bin>)
deploy_find_tool() {
  local pinned
  if pinned=$("$ROOT/tools/install" --check "$1" 2>/dev/null) && [ -x "$pinned/$2" ]; then
    echo "$pinned/$2"
  elif command -v "$2" >/dev/null 2>&1; then
    command -v "$2"
  else
    die "no $2: install one, or run 'tools/install $1'"
  fi
}

# kubectl: $KUBECTL, else the repository's pinned one (tools/install kubernetes, which matches the local control
# plane), else the one on PATH. Then the current context in CONTEXT, failing when its cluster does not answer.
deploy_use_cluster() {
  if [ -z "${KUBECTL:-}" ]; then
    KUBECTL=$(deploy_find_tool kubernetes kubectl)
  fi
  CONTEXT=$(kubectl config current-context 2>/dev/null) ||
    die "no current kubeconfig context (KUBECONFIG=${KUBECONFIG:-~/.kube/config}); start a cluster first (kind create cluster, minikube start, make cluster-up)"
  kubectl get --raw /readyz >/dev/null 2>&1 || die "the cluster of context '$CONTEXT' does not answer"
}
kubectl() { "$KUBECTL" "$@"; }

# IMAGE_TAG unless set: the git commit, plus a hash of uncommitted changes, so that a second run of the same
# sources deploys the same tag and changes nothing.
deploy_image_tag() {
  [ -z "${IMAGE_TAG:-}" ] || return 0
  if IMAGE_TAG=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      IMAGE_TAG+=-dirty-$(git -C "$ROOT" diff HEAD | sha256sum | cut -c1-8)
    fi
  else
    IMAGE_TAG=dev
  fi
}

secret_exists() { kubectl get secret -n "$1" "$2" -o name >/dev/null 2>&1; }
secret_key() { kubectl get secret -n "$1" "$2" -o "jsonpath={.data.$3}" | base64 -d; }
