# The single entry point. Every target runs on the project's pinned Node.js (tools/install node),
# never on the system's.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

NODE_BIN := $(shell tools/install --path node)
export PATH := $(NODE_BIN):$(PATH)
DEPS_STAMP := node_modules/.sre-platform-deps

.PHONY: help toolchain deps up test unit lint format typecheck bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

toolchain: ## install the pinned Node.js into the per-user cache
	@tools/install node

# npm ci only when the lockfile or a manifest changed since the last install.
$(DEPS_STAMP): package-lock.json package.json $(wildcard packages/*/package.json services/*/package.json) | toolchain
	@echo "==> npm ci (node $$(node --version))"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(DEPS_STAMP) ## install the npm dependencies (npm ci)

up: deps ## run every service locally on embedded defaults; Ctrl-C stops them all
	@node tools/dev/up.ts

test: deps ## run every test (unit and integration), installing what they need
	@node tools/dev/test.ts $(ARGS)

lint: deps ## eslint (type-aware), prettier, tsc
	@npx eslint --max-warnings 0 .
	@npx prettier --check --log-level warn .
	@npx tsc -p tsconfig.json
	@echo "==> lint: clean"

format: deps ## rewrite files with prettier and eslint --fix
	@npx prettier --write --log-level warn .
	@npx eslint --fix .

typecheck: deps ## tsc only
	@npx tsc -p tsconfig.json

bench: deps ## run the benchmarks (ratios against baselines measured in the same run)
	@node tools/dev/bench.ts

clean: ## remove node_modules (the tool cache in ~/.cache/sre-platform is kept)
	rm -rf node_modules packages/*/node_modules services/*/node_modules
