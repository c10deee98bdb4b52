# hoist — build, test and try it.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# A count, not a duration: with a duration, the fuzzer can stop in the middle
# of minimising a new input and report "context deadline exceeded".
FUZZTIME ?= 20000x
BENCHTIME ?= 1s
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time: file times and build date of reproducible builds.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
DIST := $(CURDIR)/dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
TESTPKGS ?= ./...
# Where internal/testenv/build-gitea.sh puts Gitea (see internal/testenv/gitea.go).
GITEA_BIN = $(or $(HOIST_TEST_CACHE),$(HOME)/.cache/hoist-test)/gitea/gitea
# Where internal/testenv/build-kube-apiserver.sh puts kube-apiserver (see internal/testenv/kube.go).
KUBE_APISERVER_BIN = $(or $(HOIST_TEST_CACHE),$(HOME)/.cache/hoist-test)/kube-apiserver-v1.37.2/kube-apiserver

.PHONY: all build test test-short test-image test-deploy deploy-tools soak lint bench fuzz demo gitea kube-apiserver generate check-generate tidy clean release image

all: build

build: ## build bin/hoist
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/hoist ./cmd/hoist

# Static binaries (CGO_ENABLED=0, -trimpath) of every platform, as
# dist/hoist-VERSION-OS-ARCH[.exe], and their dist/SHA256SUMS.
release: ## cross-compile the CLI into dist/ with SHA256SUMS
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=hoist-$(VERSION)-$$os-$$arch$$ext; echo "$$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/$$out ./cmd/hoist; \
	done
	cd $(DIST) && sha256sum hoist-* > SHA256SUMS && cat SHA256SUMS

# The multi-platform image, without a Docker daemon or a base image (see
# internal/imagebuild), pushed to $(REGISTRY):$(TAG) with an SPDX SBOM per
# platform as an OCI referrer. INSECURE=1 pushes over plain HTTP.
REGISTRY ?=
TAG ?= $(VERSION)
image: ## build and push the container image: make image REGISTRY=host/repo TAG=x
	@[ -n "$(REGISTRY)" ] || { echo "make image: set REGISTRY=host/repo (and TAG, default $(VERSION))"; exit 1; }
	@mkdir -p $(DIST)/image
	@set -e; for p in $(IMAGE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/image/hoist-$$os-$$arch ./cmd/hoist; \
	done
	$(GO) run ./internal/imagebuild/cmd/build-image --image $(REGISTRY):$(TAG) \
	  --version $(VERSION) --revision $(COMMIT) --source-date-epoch $(SOURCE_DATE_EPOCH) \
	  $(if $(INSECURE),--insecure) \
	  $(foreach p,$(IMAGE_PLATFORMS),--binary $(p)=$(DIST)/image/hoist-$(subst /,-,$(p)))

# The tests that start Gitea skip without it (they fail under CI=true): the
# last line says so, and how to build it.
test: ## unit and integration tests, with the race detector
	@rc=0; $(GO) test -race -count=1 -timeout 9m $(TESTPKGS) || rc=$$?; \
	if [ ! -x "$(GITEA_BIN)" ]; then \
	  pkgs=$$(git grep -l 'testenv.StartGitea' -- '*_test.go' | xargs -r -n1 dirname | sort -u | sed 's|^|./|' | paste -sd, - | sed 's/,/, /g'); \
	  echo "make test: skipped the Gitea tests (in $$pkgs): no Gitea at $(GITEA_BIN); 'make gitea' builds it (about 25 minutes the first time)"; \
	fi; \
	if [ ! -x "$(KUBE_APISERVER_BIN)" ] || ! command -v etcd >/dev/null; then \
	  echo "make test: skipped the controller tests (in ./integration): no kube-apiserver at $(KUBE_APISERVER_BIN) or no etcd; 'make kube-apiserver' builds it, Debian's etcd-server has etcd"; \
	fi; \
	exit $$rc

# Builds hoist for linux/amd64 and linux/arm64 (a minute or more on a cold
# cache), so it runs apart from make test.
test-image: ## the container image test: build, push to a registry on 127.0.0.1, read back, run
	$(GO) test -tags image -count=1 -timeout 15m ./internal/imagebuild/...

deploy-tools: ## build and cache helm and kustomize for test-deploy (a few minutes the first time)
	deploy/build-tools.sh

# helm lint, helm template (default, sharded), kustomize build of the base
# and each overlay; every object applied to kube-apiserver with server-side
# dry run; hoist controller run with the rendered RBAC's ServiceAccount.
test-deploy: deploy-tools ## check deploy/ (Helm chart, Kustomize) against a real kube-apiserver
	$(GO) test -tags deploy -race -count=1 -timeout 10m -run '^TestDeploy' ./integration/

gitea: ## build and cache the Gitea server of the pull-request tests (about 25 minutes the first time)
	internal/testenv/build-gitea.sh

test-short: ## unit tests only
	$(GO) test -short -count=1 ./...

soak: ## service soak test: random pushes to 20 repositories for HOIST_SOAK_DURATION (default 3m)
	$(GO) test -tags soak -run Soak -count=1 -v -timeout 15m ./integration/...

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

lint: $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

bench: ## benchmarks, with allocations; then the service's end-to-end ones (tag bench, several minutes)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	$(GO) test -tags bench -run '^$$' -bench 'PushToCommit|IdleCost' -benchtime 100x -timeout 30m ./integration/
	$(GO) test -tags bench -run '^$$' -bench 'Scale10k' -benchtime 1x -timeout 30m ./integration/
	$(GO) test -tags bench -run '^$$' -bench 'Controller1k|ControllerFailover' -benchtime 1x -timeout 30m ./integration/

# A target fails the run when it finds an input (written under its
# testdata/fuzz/). A failure that leaves no input is the fuzzing engine's own
# (a worker timing out at the deadline, say): the target runs once more.
fuzz: ## a short run of every fuzz target
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    before=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l); \
	    if ! $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5x $$pkg; then \
	      after=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l); \
	      if [ "$$after" != "$$before" ]; then exit 1; fi; \
	      echo "== $$pkg $$f failed without an input; once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5x $$pkg; \
	    fi; \
	  done; \
	done

demo: build ## run hoist's main job on an embedded default
	$(BIN)/hoist demo

# The CRDs are copied into the Kustomize base and the Helm chart, which
# cannot reference config/crd (check-generate fails when a copy is stale).
CRD_COPIES := deploy/kustomize/base/crds deploy/chart/hoist/crds
generate: ## regenerate deepcopy code and the CustomResourceDefinitions (config/crd, deploy/) with controller-gen
	$(GO) generate ./...
	@for d in $(CRD_COPIES); do rm -f $$d/*.yaml; mkdir -p $$d; cp config/crd/*.yaml $$d/; done

# Fails when a generated file (deepcopy, CRDs) differs from what make
# generate writes: run make generate and commit the result.
check-generate: generate ## fail when generated files are stale
	@out=$$(git status --porcelain -- config/v1alpha1 config/crd $(CRD_COPIES)); \
	if [ -n "$$out" ]; then echo "generated files are stale (run make generate and commit):"; echo "$$out"; git --no-pager diff --stat -- config/v1alpha1 config/crd $(CRD_COPIES); exit 1; fi

kube-apiserver: ## build and cache the kube-apiserver of the controller tests (10-15 minutes the first time)
	internal/testenv/build-kube-apiserver.sh

clean:
	rm -rf $(BIN) $(DIST)
