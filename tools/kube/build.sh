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
# tools/kube/build.sh), so a Kubernetes/helm/containerd bump or a change to this script gets a
# fresh dir. When that dir already holds every binary nothing is built. Progress goes to stderr.
set -euo pipefail

KUBE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HELM_DIR=$(cd "$KUBE_DIR/../helm" && pwd)
RUNTIME_DIR=$(cd "$KUBE_DIR/../runtime" && pwd)
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd helm
  containerd containerd-shim-runc-v2 ctr crictl)

log() { printf '[build.sh] %s\n' "$*" >&2; }

key=$(cat "$KUBE_DIR/go.sum" "$HELM_DIR/go.sum" "$RUNTIME_DIR/go.sum" "$KUBE_DIR/build.sh" | sha256sum | cut -c1-16)
CACHE_ROOT=${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}
BIN_DIR=$CACHE_ROOT/bin-$key

case "${1:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-dir]" >&2; exit 2 ;;
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
  echo "go not found: install Go >= 1.26 (see tools/kube/go.mod) and re-run tools/kube/build.sh" >&2
  exit 3
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
JOBS=${DOWNWARD_KUBE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

mod_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

K8S=$(mod_version "$KUBE_DIR" k8s.io/kubernetes)        # e.g. v1.37.2
ETCD=$(mod_version "$KUBE_DIR" go.etcd.io/etcd/server/v3) # e.g. v3.7.0
HELM=$(mod_version "$HELM_DIR" helm.sh/helm/v4)          # e.g. v4.3.1
CONTAINERD=$(mod_version "$RUNTIME_DIR" github.com/containerd/containerd/v2)  # e.g. v2.4.2
CRICTL=$(mod_version "$RUNTIME_DIR" sigs.k8s.io/cri-tools)                  # e.g. v1.37.0
minor=${K8S#v1.}; minor=${minor%%.*}
log "go: $(go version); k8s $K8S, etcd $ETCD, helm $HELM, containerd $CONTAINERD, crictl $CRICTL; -p $JOBS"

# Same version ldflags as kubernetes' hack/lib/version.sh (component-base + client-go).
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$K8S -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
# etcd normally stamps its git SHA; there is none for a module build.
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD"
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM"
helm_ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD"
containerd_ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=module"
crictl_ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL"

mkdir -p "$CACHE_ROOT"
STAGE=$(mktemp -d "$CACHE_ROOT/.stage-$key.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

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

for b in "${BINARIES[@]}"; do [[ -x $STAGE/$b ]] || { log "missing $b after build"; exit 1; }; done
printf 'k8s=%s\netcd=%s\nhelm=%s\ncontainerd=%s\ncrictl=%s\ngo=%s\n' \
  "$K8S" "$ETCD" "$HELM" "$CONTAINERD" "$CRICTL" "$(go env GOVERSION)" >"$STAGE/VERSIONS"

# Publish atomically: a concurrent or interrupted build never leaves a half-filled dir.
if [[ -e $BIN_DIR ]] && ! have_all; then rm -rf "$BIN_DIR"; fi   # stale/incomplete
if ! mv -T "$STAGE" "$BIN_DIR" 2>/dev/null; then
  have_all || { log "could not move $STAGE to $BIN_DIR"; exit 1; }
fi
trap - EXIT
rm -rf "$STAGE"
log "binaries in $BIN_DIR"
echo "$BIN_DIR"
