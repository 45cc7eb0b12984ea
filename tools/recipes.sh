# Recipes for tools/install. Each recipe_<tool> sets VERSION and METHOD and defines
# install_into <dir> (populate <dir>, executables under <dir>/$BIN) and smoke <dir> (prove it runs).
# Helpers here are the only places that call a package manager.
# shellcheck shell=bash disable=SC2034

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
