#!/usr/bin/env bash
# build-gitea.sh builds the Gitea server used by hoist's pull-request tests
# (internal/testenv/gitea.go) from the code.gitea.io/gitea Go module, and
# caches it outside the repository. It is idempotent: when the binary and
# its assets for the pinned version exist, it does nothing.
#
# Layout (override the root with HOIST_TEST_CACHE):
#   $HOIST_TEST_CACHE/gitea-src/     wrapper module that requires Gitea
#   $HOIST_TEST_CACHE/gitea/gitea    the binary
#   $HOIST_TEST_CACHE/gitea/assets/  options/ templates/ public/ copied from the module
#   $HOIST_TEST_CACHE/gitea/VERSION  the version that was built
#
# Only the Go module proxy is needed; the build takes a few minutes.
set -euo pipefail

version="${GITEA_VERSION:-v1.26.0}"
cache="${HOIST_TEST_CACHE:-${HOME}/.cache/hoist-test}"
src="${cache}/gitea-src"
out="${cache}/gitea"

if [[ -x "${out}/gitea" && -d "${out}/assets/options" && "$(cat "${out}/VERSION" 2>/dev/null)" == "${version}" ]] &&
	"${out}/gitea" --version 2>/dev/null | grep -q "version ${version#v} "; then
	echo "gitea ${version} already built at ${out}/gitea"
	exit 0
fi

mkdir -p "${src}" "${out}"
moddir="$(cd "${src}" && GOFLAGS=-mod=mod go mod download -json "code.gitea.io/gitea@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "${moddir}" || ! -f "${moddir}/go.mod" ]]; then
	echo "build-gitea.sh: cannot download code.gitea.io/gitea@${version}" >&2
	exit 1
fi

# A wrapper module: require Gitea and repeat its replace directives, which
# do not apply to a module used as a dependency.
goline="$(grep -m1 '^go ' "${moddir}/go.mod")"
{
	echo "module hoist.test/giteabuild"
	echo
	echo "${goline}"
	echo
	echo "require code.gitea.io/gitea ${version}"
	echo
	grep '^replace ' "${moddir}/go.mod" | sed 's://.*$::'
} > "${src}/go.mod"
cp "${moddir}/go.sum" "${src}/go.sum"
chmod u+w "${src}/go.sum"
cat > "${src}/tools.go" <<'GO'
//go:build tools

package giteabuild

import _ "code.gitea.io/gitea"
GO

echo "building gitea ${version} (this takes a few minutes)"
(
	cd "${src}"
	GOFLAGS=-mod=mod CGO_ENABLED="${CGO_ENABLED:-1}" go build -trimpath \
		-tags "sqlite sqlite_unlock_notify" \
		-ldflags "-s -w -X main.Version=${version#v}" \
		-o "${out}/gitea.tmp" code.gitea.io/gitea
)
rm -rf "${out}/assets"
mkdir -p "${out}/assets"
for d in options templates public; do
	cp -r "${moddir}/${d}" "${out}/assets/${d}"
done
chmod -R u+w "${out}/assets"
mv "${out}/gitea.tmp" "${out}/gitea"
echo "${version}" > "${out}/VERSION"
echo "gitea ${version} built at ${out}/gitea"
