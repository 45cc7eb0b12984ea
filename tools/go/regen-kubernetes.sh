#!/usr/bin/env bash
# Rewrites tools/go/kubernetes/go.mod (and go.sum) for another Kubernetes release:
#   tools/go/regen-kubernetes.sh v1.35.8
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and
# replaces them with ./staging/src/...; a dependent module does not inherit those replaces, so the
# wrapper replaces each one with its published tag v0.<minor>.<patch>.
set -euo pipefail
version=${1:?usage: regen-kubernetes.sh vX.Y.Z}
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/kubernetes" && pwd)
staging="v0.${version#v1.}"
upstream=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
[ -f "$upstream" ] || { echo "could not download k8s.io/kubernetes@$version" >&2; exit 1; }
# Staging modules: replaced with ./staging upstream and required at v0.0.0.
mapfile -t mods < <(
  comm -12 \
    <(awk '$2 == "=>" && $3 ~ /^\.\/staging/ { print $1 }' "$upstream" | sort -u) \
    <(awk '$2 == "v0.0.0" { print $1 }' "$upstream" | sort -u)
)
{
  echo "// Wrapper module that builds the Kubernetes control plane from the Go module proxy; see tools/go/README.md."
  echo "// Regenerate with tools/go/regen-kubernetes.sh <version>; do not edit by hand."
  echo "module k8sbuild"
  echo
  grep -m1 '^go ' "$upstream"
  grep -m1 '^godebug ' "$upstream" || true
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "tool ("
  for c in kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubectl kubelet; do echo "	k8s.io/kubernetes/cmd/$c"; done
  echo ")"
  echo
  echo "replace ("
  for m in "${mods[@]}"; do echo "	$m => $m $staging"; done
  echo ")"
} >"$dir/go.mod"
rm -f "$dir/go.sum"
(cd "$dir" && go mod tidy)
echo "tools/go/kubernetes now builds $version (${#mods[@]} staging modules replaced with $staging)"
