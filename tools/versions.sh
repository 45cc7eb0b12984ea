# Every pinned tool version in one place. Bumping a version here installs the new one next to
# the old one in the cache; nothing is upgraded in place.
# shellcheck shell=bash disable=SC2034

# Node.js runtime for every make target, test and CI run (the system Node is not used).
# Read from .nvmrc so that nvm/fnm/volta users and the project agree.
NODE_VERSION=$(tr -d '[:space:]v' <"$ROOT/.nvmrc")
