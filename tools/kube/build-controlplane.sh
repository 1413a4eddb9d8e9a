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
# <key> = first 16 hex of sha256(<pin>/go.sum + this script + tools/lib/cached-build.sh). When that dir
# already holds every binary nothing is built. Progress goes to stderr. Exit code 3 when go is missing.
set -euo pipefail

usage() { echo "usage: $0 PIN_DIR [--print-dir]   (e.g. tools/kube/1.29)" >&2; exit 2; }
[[ $# -ge 1 && -f ${1:-}/go.mod ]] || usage
PIN_DIR=$(cd "$1" && pwd)
SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
MINOR=$(basename "$PIN_DIR")   # the pin dir is named after its minor release, e.g. 1.29
BINARIES=(kube-apiserver kube-controller-manager etcd)

LOG_NAME=build-controlplane.sh
# shellcheck source=tools/lib/cached-build.sh
source "$(dirname "$SCRIPT")/../lib/cached-build.sh"
BIN_DIR=$(cache_dir "cp-$MINOR" "$PIN_DIR/go.sum" "$SCRIPT")

case "${2:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  "") ;;
  *) usage ;;
esac

exit_if_built
go_environment "tools/kube/build-controlplane.sh $1"

K8S=$(cd "$PIN_DIR" && go list -m -f '{{.Version}}' k8s.io/kubernetes)         # e.g. v1.29.15
ETCD=$(cd "$PIN_DIR" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) # e.g. v3.5.10
minor=${K8S#v1.}; minor=${minor%%.*}
[[ 1.$minor == "$MINOR" ]] || { log "$PIN_DIR pins $K8S: the dir must be named 1.$minor"; exit 1; }
log "go: $(go version); k8s $K8S, etcd $ETCD; -p $JOBS"

kube_ldflags=$(kube_ldflags "$K8S")
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD"

stage_begin

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

printf 'k8s=%s\netcd=%s\ngo=%s\n' "$K8S" "$ETCD" "$(go env GOVERSION)" >"$STAGE/VERSIONS"
publish
