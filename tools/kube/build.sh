#!/usr/bin/env bash
# Build the e2e cluster's binaries from Go modules (no prebuilt downloads):
#   kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubelet, kube-proxy, kubectl, etcd                       (module tools/kube)
#   helm                                                     (module tools/helm)
#   containerd, containerd-shim-runc-v2, ctr, crictl         (module tools/runtime)
#
#   tools/kube/build.sh               build if needed; LAST stdout line = bin dir
#   tools/kube/build.sh --print-dir   print the bin dir only (no build, no go needed)
#
# The bin dir is ${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}/bin-<key>, with
# <key> = first 16 hex of sha256(tools/kube/go.sum + tools/helm/go.sum + tools/runtime/go.sum +
# tools/kube/build.sh + tools/lib/cached-build.sh), so a Kubernetes/helm/containerd bump or a change to
# these scripts gets a fresh dir. When that dir already holds every binary nothing is built. Progress goes
# to stderr.
set -euo pipefail

KUBE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HELM_DIR=$(cd "$KUBE_DIR/../helm" && pwd)
RUNTIME_DIR=$(cd "$KUBE_DIR/../runtime" && pwd)
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd helm
  containerd containerd-shim-runc-v2 ctr crictl)

LOG_NAME=build.sh
# shellcheck source=tools/lib/cached-build.sh
source "$KUBE_DIR/../lib/cached-build.sh"
BIN_DIR=$(cache_dir bin "$KUBE_DIR/go.sum" "$HELM_DIR/go.sum" "$RUNTIME_DIR/go.sum" "$KUBE_DIR/build.sh")

case "${1:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-dir]" >&2; exit 2 ;;
esac

exit_if_built
go_environment "tools/kube/build.sh (see tools/kube/go.mod)"

mod_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

K8S=$(mod_version "$KUBE_DIR" k8s.io/kubernetes)        # e.g. v1.37.2
ETCD=$(mod_version "$KUBE_DIR" go.etcd.io/etcd/server/v3) # e.g. v3.7.0
HELM=$(mod_version "$HELM_DIR" helm.sh/helm/v4)          # e.g. v4.3.1
CONTAINERD=$(mod_version "$RUNTIME_DIR" github.com/containerd/containerd/v2)  # e.g. v2.4.2
CRICTL=$(mod_version "$RUNTIME_DIR" sigs.k8s.io/cri-tools)                  # e.g. v1.37.0
log "go: $(go version); k8s $K8S, etcd $ETCD, helm $HELM, containerd $CONTAINERD, crictl $CRICTL; -p $JOBS"

kube_ldflags=$(kube_ldflags "$K8S")
# etcd normally stamps its git SHA; there is none for a module build.
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD"
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM"
helm_ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD"
containerd_ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=module"
crictl_ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL"

stage_begin

start=$SECONDS
log "building the Kubernetes binaries (the slow part)"
# One `go build` for all of them: they share most packages. kubectl is also the ambassador
# image's binary; kubelet needs no cgo (a static binary works on the node).
(cd "$KUBE_DIR" && go build -p "$JOBS" -trimpath -tags selinux,notest,grpcnotrace \
  -ldflags "$kube_ldflags" -o "$STAGE/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl)
log "building etcd"
(cd "$KUBE_DIR" && go build -p "$JOBS" -trimpath -ldflags "$etcd_ldflags" \
  -o "$STAGE/etcd" go.etcd.io/etcd/server/v3)
log "building helm"
(cd "$HELM_DIR" && go build -p "$JOBS" -trimpath -ldflags "$helm_ldflags" \
  -o "$STAGE/helm" helm.sh/helm/v4/cmd/helm)
log "building containerd + crictl"
# containerd 2.x: kubelet 1.37 asks the runtime for its cgroup driver (the RuntimeConfig CRI
# call), which 1.6/1.7 lack; docs/e2e.md says why Debian's 1.6 is not used.
(cd "$RUNTIME_DIR" && go build -p "$JOBS" -trimpath -tags "no_btrfs no_devmapper no_zfs" \
  -ldflags "$containerd_ldflags" -o "$STAGE/" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr)
(cd "$RUNTIME_DIR" && go build -p "$JOBS" -trimpath -ldflags "$crictl_ldflags" \
  -o "$STAGE/crictl" sigs.k8s.io/cri-tools/cmd/crictl)
log "built in $((SECONDS - start))s"

printf 'k8s=%s\netcd=%s\nhelm=%s\ncontainerd=%s\ncrictl=%s\ngo=%s\n' \
  "$K8S" "$ETCD" "$HELM" "$CONTAINERD" "$CRICTL" "$(go env GOVERSION)" >"$STAGE/VERSIONS"
publish
