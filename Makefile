# The single entry point. Every target runs on the project's pinned Node.js (tools/install node),
# never on the system's.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

NODE_BIN := $(shell tools/install --path node)
export PATH := $(NODE_BIN):$(PATH)
DEPS_STAMP := node_modules/.sre-platform-deps
# Everything the integration tests start; make test installs them first (cached after the first run).
TEST_TOOLS := kubernetes etcd kwok helm prometheus prometheus-adapter prometheus-operator moto schemathesis postgres shellcheck yamllint actionlint \
  zizmor netpol-analyzer kube-score httpload rsync kube-node containerd runc cni-plugins nftables pause coredns kube-network-policies \
  buildkit base-images
# What `make bench` runs on: a real PostgreSQL, and httpload (tools/go/httpload) as the load generator.
BENCH_TOOLS := postgres httpload

.PHONY: help toolchain deps up test lint format typecheck bench clean cluster-up cluster-down cluster-status tools images release bundle \
  certs payments-deploy payments-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

toolchain: ## install the pinned Node.js into the per-user cache
	@tools/install node

# npm ci only when the lockfile or a manifest changed since the last install.
$(DEPS_STAMP): package-lock.json package.json $(wildcard packages/*/package.json services/*/package.json platform/*/package.json) | toolchain
	@echo "==> npm ci (node $$(node --version))"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Code generated from .proto files (not committed): again whenever a proto or the generation's configuration changes,
# or the generated tree is gone. The stamp lives inside the tree, which buf's clean generation removes first.
GEN_STAMP := services/deployment-api/src/gen/.generated
$(GEN_STAMP): $(DEPS_STAMP) $(shell find services/deployment-api/proto -name '*.proto') services/deployment-api/buf.gen.yaml
	@echo "==> generate code from the .proto files (buf)"
	@npm run generate --silent -w services/deployment-api
	@touch $@

deps: $(DEPS_STAMP) $(GEN_STAMP) ## install the npm dependencies (npm ci) and generate code from the .proto files

up: deps ## run every service locally on embedded defaults; Ctrl-C stops them all
	@node tools/dev/up.ts

test: deps tools ## run every test (unit and integration), installing what they need
	@node tools/dev/test.ts $(ARGS)

SHELL_SCRIPTS := tools/install tools/recipes.sh tools/versions.sh tools/portability .ci/services .ci/charts .ci/image-smoke .ci/kind-deploy .ci/kind-tests .ci/deploy .ci/publish-release tools/cluster/cluster tools/cluster/node tools/cluster/node-volumes tools/go/regen-kubernetes.sh .ci/run \
  tools/image/build tools/image/base-images tools/image/oci.sh \
  platform/deploy-lib.sh platform/payments/deploy.sh platform/payments/test.sh platform/webhook-platform/deploy.sh \
  platform/monitoring/install.sh

lint: deps ## eslint (type-aware), prettier, tsc, shellcheck, buf lint, helm lint
	@tools/install shellcheck
	@"$$(tools/install --path shellcheck)/shellcheck" -x $(SHELL_SCRIPTS)
	@npx eslint --max-warnings 0 .
	@npx prettier --check --log-level warn .
	@npx tsc -p tsconfig.json
	@npx buf lint services/deployment-api
	@tools/install helm
	@"$$(tools/install --path helm)/helm" lint --strict --quiet services/deployment-api/chart
	@"$$(tools/install --path helm)/helm" lint --strict --quiet services/users-api/chart
	@echo "==> lint: clean"

format: deps ## rewrite files with prettier and eslint --fix
	@npx prettier --write --log-level warn .
	@npx eslint --fix .

typecheck: deps ## tsc only
	@npx tsc -p tsconfig.json

bench: deps ## run the benchmarks (ratios against baselines measured in the same run)
	@tools/install $(BENCH_TOOLS)
	@node tools/dev/bench.ts

cluster-up: ## start a local Kubernetes control plane (kwok nodes; REAL_NODE=1 adds a real node, as root)
	@tools/cluster/cluster up

cluster-down: ## delete the local cluster and its state
	@tools/cluster/cluster down

cluster-status: ## show the local cluster's components, memory and nodes
	@tools/cluster/cluster status

images: ## build every service's image from its Dockerfile (BuildKit, local base images; as root) into the real node
	@tools/image/build $(SERVICES)

payments-deploy: ## deploy invoice-app + payment-provider to the current kubeconfig context (kind, minikube, kwok)
	@platform/payments/deploy.sh

payments-test: ## pay every invoice through invoice-app and check all are paid (INVOICE_APP_URL, PORT_FORWARD=1)
	@platform/payments/test.sh

.PHONY: monitoring-install
monitoring-install: ## Part B: kube-prometheus-stack (pinned) + webhook-app's ServiceMonitor, rules, dashboard into the current kubeconfig context (platform/monitoring/README.md)
	@platform/monitoring/install.sh

.PHONY: webhook-platform-deploy webhook-bootstrap
webhook-platform-deploy: ## deploy Part A (Rocket.Chat, GitLab, webhook-app) to the current kubeconfig context, Secrets generated (platform/webhook-platform/README.md)
	@platform/webhook-platform/deploy.sh

webhook-bootstrap: deps ## wire GitLab and Rocket.Chat for webhook-app, idempotently (GITLAB_URL, GITLAB_TOKEN, ...: platform/bootstrap/README.md)
	@node platform/bootstrap/src/main.ts

.PHONY: webhook-challenge-archive
webhook-challenge-archive: deps ## the webhook challenge's deliverable: part-a/ and part-b/ in its layout, as dist/webhook-challenge.tar.gz (OUT=path; SOURCE_REF=commit)
	@node platform/webhook-platform/archive.ts $(OUT)

tools: ## install every pinned tool the tests use (cold: about 25 minutes on 2 cores, mostly compiling Go programs)
	@tools/install $(TEST_TOOLS)

release: deps ## build a release locally, offline, into dist/release: deployment-api and deployctl binaries (Node SEA; RELEASE_TARGETS), charts, SBOMs, changelog, SHA256SUMS (VERSION=...)
	@tools/install helm
	@node tools/release/release.ts

bundle: deps ## bundle each service with esbuild into dist/bundle/<service>, as its image does (SERVICES=...)
	@for s in $(or $(SERVICES),$(notdir $(patsubst %/Dockerfile,%,$(wildcard services/*/Dockerfile)))); do node tools/build/bundle.ts services/$$s; done

.PHONY: portability print-test-tools
portability: ## prove tools/install and make test on a clean Debian 13 root filesystem, as a normal user (as root; not part of make test; tools/README.md)
	@tools/portability $(PORTABILITY_STEP)

print-test-tools:
	@echo $(TEST_TOOLS)

certs: deps ## deployment-api: a development CA, server and client (operator, reader) certificates in services/deployment-api/.certs (FORCE=1 reissues)
	@node services/deployment-api/scripts/certs.ts $(if $(FORCE),--force)

clean: ## remove node_modules (the tool cache in ~/.cache/sre-platform is kept)
	rm -rf node_modules packages/*/node_modules services/*/node_modules

.PHONY: aws-synth aws-deploy-local
aws-synth: deps ## users-api's AWS CDK app: synthesize (offline, cdk-nag inside) into platform/aws/cdk.out (platform/aws/README.md)
	@cd platform/aws && npx cdk synth -q && echo "==> platform/aws/cdk.out/UsersApi.template.json"

aws-deploy-local: deps ## deploy users-api's stack through CloudFormation to an emulator (ENDPOINT=http://127.0.0.1:5000, moto or LocalStack)
	@node platform/aws/src/deploy-local.ts --endpoint "$(or $(ENDPOINT),$(AWS_ENDPOINT_URL))"
