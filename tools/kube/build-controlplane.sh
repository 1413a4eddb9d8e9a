#!/usr/bin/env bash
# Build an older release's control plane from its pin (a Go module of its own, tools/kube/<minor>/):
#   kube-apiserver, kube-controller-manager, etcd
# The e2e suite runs its control-plane tests on it as well as on the newest pin (tools/kube/build.sh,
# which also builds kubectl, helm and the node: those stay the newest release's for every version).
#
#   tools/kube/build-controlplane.sh tools/kube/1.29               build if needed; LAST stdout line = bin dir
#   tools/kube/build-controlplane.sh tools/kube/1.29 --print-dir   print the bin dir only (no build, no go)
#
# The bin dir is ${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}/cp-<minor>-<key>, with
# <key> = first 16 hex of sha256(<pin>/go.sum + this script). When that dir already holds every binary
# nothing is built. Progress goes to stderr. Exit code 3 when go is missing.
set -euo pipefail

usage() { echo "usage: $0 PIN_DIR [--print-dir]   (e.g. tools/kube/1.29)" >&2; exit 2; }
[[ $# -ge 1 && -f ${1:-}/go.mod ]] || usage
PIN_DIR=$(cd "$1" && pwd)
SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
MINOR=$(basename "$PIN_DIR")   # the pin dir is named after its minor release, e.g. 1.29
BINARIES=(kube-apiserver kube-controller-manager etcd)

log() { printf '[build-controlplane.sh] %s\n' "$*" >&2; }

key=$(cat "$PIN_DIR/go.sum" "$SCRIPT" | sha256sum | cut -c1-16)
CACHE_ROOT=${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}
BIN_DIR=$CACHE_ROOT/cp-$MINOR-$key

case "${2:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  "") ;;
  *) usage ;;
esac

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

if have_all; then
  log "up to date: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "go not found: install Go >= 1.26 and re-run tools/kube/build-controlplane.sh $1" >&2
  exit 3
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
JOBS=${DOWNWARD_KUBE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

K8S=$(cd "$PIN_DIR" && go list -m -f '{{.Version}}' k8s.io/kubernetes)         # e.g. v1.29.15
ETCD=$(cd "$PIN_DIR" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) # e.g. v3.5.10
minor=${K8S#v1.}; minor=${minor%%.*}
[[ 1.$minor == "$MINOR" ]] || { log "$PIN_DIR pins $K8S: the dir must be named 1.$minor"; exit 1; }
log "go: $(go version); k8s $K8S, etcd $ETCD; -p $JOBS"

# Same version ldflags as kubernetes' hack/lib/version.sh (component-base + client-go).
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$K8S -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD"

mkdir -p "$CACHE_ROOT"
STAGE=$(mktemp -d "$CACHE_ROOT/.stage-cp-$MINOR-$key.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

start=$SECONDS
# `providerless`: releases before 1.31 still link the in-tree cloud providers (GCE, vSphere SDKs)
# into kube-apiserver and kube-controller-manager; the tag leaves them out, as upstream's
# `KUBE_PROVIDERLESS=y` build does. Not needed to compile (go1.26.8 builds 1.29.15's kcm without it),
# but the tests run no cloud provider, and it saves compiling and linking those SDKs.
log "building kube-apiserver + kube-controller-manager"
(cd "$PIN_DIR" && go build -p "$JOBS" -trimpath -tags selinux,notest,grpcnotrace,providerless \
  -ldflags "$kube_ldflags" -o "$STAGE/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
log "building etcd"
(cd "$PIN_DIR" && go build -p "$JOBS" -trimpath -ldflags "$etcd_ldflags" \
  -o "$STAGE/etcd" go.etcd.io/etcd/server/v3)
log "built in $((SECONDS - start))s"

for b in "${BINARIES[@]}"; do [[ -x $STAGE/$b ]] || { log "missing $b after build"; exit 1; }; done
printf 'k8s=%s\netcd=%s\ngo=%s\n' "$K8S" "$ETCD" "$(go env GOVERSION)" >"$STAGE/VERSIONS"

# Publish atomically: a concurrent or interrupted build never leaves a half-filled dir.
if [[ -e $BIN_DIR ]] && ! have_all; then rm -rf "$BIN_DIR"; fi   # stale/incomplete
if ! mv -T "$STAGE" "$BIN_DIR" 2>/dev/null; then
  have_all || { log "could not move $STAGE to $BIN_DIR"; exit 1; }
fi
trap - EXIT
rm -rf "$STAGE"
log "binaries in $BIN_DIR"
echo "$BIN_DIR"
