#!/usr/bin/env bash
# ops/container/Containerfile and the Kubernetes manifests of ops/k8s, checked with no
# container engine, no cluster and no internet (docs/kubernetes.md, "Checking the manifests"):
# the kustomize base and the example overlay are rendered, every object is validated strictly
# against the Kubernetes schemas and KEDA's ScaledObject CRD, and check_k8s.py checks what
# llmq needs of them and of the Containerfile.
#
#   check_k8s.sh [--fetch] SOURCE_DIR [BUILD_DIR]
#
# The tools are fetched once through the package registries and kept in
# <state>/k8s-check (state: LLMQ_STATE, default SOURCE_DIR/.llmq); later runs are offline:
#   - kubernetes-validate and its dependencies from PyPI (k8s_requirements.txt), in a venv;
#     the Kubernetes JSON schemas come inside it;
#   - KEDA's source, the Go module github.com/kedacore/keda/v2, from the Go module proxy
#     (`go mod download`): its CRDs and its kafka scaler's parameters;
#   - kustomize: the one built here before, else kubectl's own (kubectl kustomize) when
#     kubectl is there, else kustomize built from the Go module proxy (with a Go toolchain
#     from there when the local Go is older than kustomize needs: 1.7 minutes on 2 busy
#     cores). LLMQ_KUSTOMIZE=/path/to/kustomize picks one.
# --fetch only fetches. BUILD_DIR (built binaries) adds a check of the libraries they link.
# Exit 77 (skipped) only when a tool cannot be had.
set -euo pipefail

fetch_only=0
if [[ ${1:-} == --fetch ]]; then fetch_only=1; shift; fi
src=$(cd "${1:?usage: check_k8s.sh [--fetch] SOURCE_DIR [BUILD_DIR]}" && pwd)
build=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$src/ops/lib.sh"

KEDA_VERSION=v2.21.0
KUSTOMIZE_VERSION=v5.8.1
GO_FOR_KUSTOMIZE=go1.24.13   # kustomize v5.8's go.mod asks for go 1.24
K8S_VERSIONS=1.30,1.37       # the oldest Kubernetes the manifests support, and the newest known

cache=${LLMQ_STATE:-$src/.llmq}/k8s-check
mkdir -p "$cache"
skip() { echo "check_k8s: skipped: $*"; exit 77; }

# The Python validator: a venv with k8s_requirements.txt.
venv=$cache/venv
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$here/k8s_requirements.txt" "$venv/requirements.txt"; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || llmq_install_packages python3-venv ||
    skip "python3 -m venv is not available"
  rm -rf "$venv"
  python3 -m venv "$venv" || skip "cannot make a Python venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/k8s_requirements.txt" ||
    { rm -rf "$venv"; skip "cannot install kubernetes-validate from PyPI"; }
  cp "$here/k8s_requirements.txt" "$venv/requirements.txt"
fi

# Go, for the module proxy: any version fetches modules; building kustomize needs a newer one.
export GOPATH=$cache/go GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build GOTOOLCHAIN=local
export GOFLAGS=-modcacherw CGO_ENABLED=0   # -modcacherw: the cache can be deleted with rm -rf
find_go() {
  local g
  for g in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n $g && -x $g ]] && { echo "$g"; return 0; }
  done
  llmq_install_packages golang-go >&2 || return 1
  command -v go
}
go_at_least() { # go_at_least GO 1.24: its version is that or newer
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  printf '%s\n%s\n' "$2" "$v" | sort -V -C
}

keda=$GOMODCACHE/github.com/kedacore/keda/v2@$KEDA_VERSION
if [[ ! -f $keda/config/crd/bases/keda.sh_scaledobjects.yaml ]]; then
  go=$(find_go) || skip "no Go to fetch KEDA's module with"
  "$go" mod download github.com/kedacore/keda/v2@"$KEDA_VERSION" ||
    skip "cannot fetch github.com/kedacore/keda/v2@$KEDA_VERSION from the Go module proxy"
fi

# kustomize
kustomize=()
if [[ -n ${LLMQ_KUSTOMIZE:-} ]]; then
  kustomize=("$LLMQ_KUSTOMIZE" build)
elif [[ -x $cache/bin/kustomize-$KUSTOMIZE_VERSION ]]; then
  kustomize=("$cache/bin/kustomize-$KUSTOMIZE_VERSION" build)
elif command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize=(kubectl kustomize)
else
  go=$(find_go) || skip "no kubectl, and no Go to build kustomize with"
  if ! go_at_least "$go" "${GO_FOR_KUSTOMIZE#go}"; then
    # a newer toolchain, as the Go command itself fetches one: the module golang.org/toolchain
    arch=$("$go" env GOARCH)
    tc=golang.org/toolchain@v0.0.1-$GO_FOR_KUSTOMIZE.linux-$arch
    "$go" mod download "$tc" || skip "cannot fetch $tc from the Go module proxy"
    dir=$GOMODCACHE/$tc
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*   # module zips keep no executable bits
    go=$dir/bin/go
  fi
  say "building kustomize $KUSTOMIZE_VERSION (once; kept in $cache/bin)"
  GOBIN=$cache/bin nice "$go" install sigs.k8s.io/kustomize/kustomize/v5@"$KUSTOMIZE_VERSION" ||
    skip "cannot build kustomize $KUSTOMIZE_VERSION"
  mv "$cache/bin/kustomize" "$cache/bin/kustomize-$KUSTOMIZE_VERSION"
  # what only the build needed: its cache and the fetched toolchain (about 500 MB)
  rm -rf "$GOCACHE" "$GOMODCACHE"/golang.org/toolchain@* "$GOMODCACHE"/cache/download/golang.org/toolchain
  kustomize=("$cache/bin/kustomize-$KUSTOMIZE_VERSION" build)
fi
((fetch_only)) && { echo "check_k8s: tools ready in $cache"; exit 0; }

# Render a copy of ops/k8s: the example overlay's secrets.env is secrets.env.example there.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/ops/k8s" "$work/k8s"
cp "$work/k8s/overlays/example/secrets.env.example" "$work/k8s/overlays/example/secrets.env"
"${kustomize[@]}" "$work/k8s/base" >"$work/base.yaml"
"${kustomize[@]}" "$work/k8s/overlays/example" >"$work/example.yaml"

"$venv/bin/python" "$here/check_k8s.py" --source "$src" --keda "$keda" --k8s "$K8S_VERSIONS" \
  ${build:+--build "$build"} base="$work/base.yaml" example="$work/example.yaml"
