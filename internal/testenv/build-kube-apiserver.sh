#!/usr/bin/env bash
# build-kube-apiserver.sh builds the kube-apiserver used by hoist's
# controller tests (internal/testenv/kube.go) from the k8s.io/kubernetes Go
# module, and caches it outside the repository. It is idempotent: when the
# binary for the pinned version exists, it does nothing. etcd comes from
# the distribution (Debian's etcd-server package), not from here.
#
# Layout (override the root with HOIST_TEST_CACHE):
#   $HOIST_TEST_CACHE/kube-apiserver-src/              wrapper module
#   $HOIST_TEST_CACHE/kube-apiserver-<ver>/kube-apiserver   the binary
#
# Only the Go module proxy is needed; the build takes 10-15 minutes on two
# cores.
set -euo pipefail

version="${KUBE_VERSION:-v1.37.2}"
# k8s.io/kubernetes vX.Y.Z publishes its staging modules as v0.Y.Z.
staging="v0.${version#v1.}"
minor="$(echo "${version}" | cut -d. -f2)"
cache="${HOIST_TEST_CACHE:-${HOME}/.cache/hoist-test}"
src="${cache}/kube-apiserver-src"
out="${cache}/kube-apiserver-${version}"

if [[ -x "${out}/kube-apiserver" ]] &&
	"${out}/kube-apiserver" --version 2>/dev/null | grep -q "Kubernetes ${version}\$"; then
	echo "kube-apiserver ${version} already built at ${out}/kube-apiserver"
	exit 0
fi

mkdir -p "${src}" "${out}"
gomod="$(cd "${src}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
if [[ -z "${gomod}" || ! -f "${gomod}" ]]; then
	echo "build-kube-apiserver.sh: cannot download k8s.io/kubernetes@${version}" >&2
	exit 1
fi

# A wrapper module: require Kubernetes and replace every module its own
# go.mod points at ./staging/... with the published version of that module
# (replace directives do not apply to a module used as a dependency).
goline="$(grep -m1 '^go ' "${gomod}")"
{
	echo "module hoist.test/kubeapiserverbuild"
	echo
	echo "${goline}"
	echo
	echo "require k8s.io/kubernetes ${version}"
	echo
	echo "replace ("
	sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*$|\t\1 => \1 '"${staging}"'|p' "${gomod}"
	echo ")"
} > "${src}/go.mod"
rm -f "${src}/go.sum"
cat > "${src}/tools.go" <<'GO'
//go:build tools

package kubeapiserverbuild

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO

echo "building kube-apiserver ${version} (this takes 10-15 minutes)"
(
	cd "${src}"
	GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}" \
		-o "${out}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
)
mv "${out}/kube-apiserver.tmp" "${out}/kube-apiserver"
echo "kube-apiserver ${version} built at ${out}/kube-apiserver"
