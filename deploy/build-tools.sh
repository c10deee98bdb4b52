#!/usr/bin/env bash
# build-tools.sh builds the helm and kustomize binaries that check deploy/
# (make test-deploy, integration/deploy_test.go) from the Go module proxy,
# each in a throwaway wrapper module outside the repository, so that neither
# enters hoist's go.mod. It is idempotent: a binary of the pinned version
# that exists is kept.
#
# Layout (override the root with HOIST_TEST_CACHE):
#   $HOIST_TEST_CACHE/helm-<ver>/helm            (src in helm-src/)
#   $HOIST_TEST_CACHE/kustomize-<ver>/kustomize  (src in kustomize-src/)
#
# Only the Go module proxy is needed; the first build takes a few minutes.
set -euo pipefail

helm_version="${HELM_VERSION:-v4.3.2}"
kustomize_version="${KUSTOMIZE_VERSION:-v5.8.2}"
cache="${HOIST_TEST_CACHE:-${HOME}/.cache/hoist-test}"

# build NAME MODULE VERSION PACKAGE LDFLAGS
build() {
	local name="$1" module="$2" version="$3" pkg="$4" ldflags="$5"
	local src="${cache}/${name}-src" out="${cache}/${name}-${version}"
	if [[ -x "${out}/${name}" ]]; then
		echo "${name} ${version} already built at ${out}/${name}"
		return 0
	fi
	mkdir -p "${src}" "${out}"
	rm -f "${src}/go.mod" "${src}/go.sum"
	cat > "${src}/go.mod" <<MOD
module hoist.test/${name}build

go 1.26
MOD
	cat > "${src}/tools.go" <<GO
//go:build tools

package ${name}build

import _ "${pkg}"
GO
	echo "building ${name} ${version}"
	(
		cd "${src}"
		GOFLAGS=-mod=mod go get "${module}@${version}"
		GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
		GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" \
			-o "${out}/${name}.tmp" "${pkg}"
	)
	mv "${out}/${name}.tmp" "${out}/${name}"
	echo "${name} ${version} built at ${out}/${name}"
}

build kustomize sigs.k8s.io/kustomize/kustomize/v5 "${kustomize_version}" \
	sigs.k8s.io/kustomize/kustomize/v5 ""
build helm helm.sh/helm/v4 "${helm_version}" helm.sh/helm/v4/cmd/helm \
	"-X helm.sh/helm/v4/internal/version.version=${helm_version}"
