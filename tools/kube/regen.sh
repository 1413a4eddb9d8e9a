#!/usr/bin/env bash
# Regenerate a pin: go.mod + go.sum for one Kubernetes release.
#
#   tools/kube/regen.sh 1.37.2                   the newest pin, tools/kube/: every binary of the suite
#   tools/kube/regen.sh --control-plane 1.29.15  the oldest supported release, tools/kube/1.29/:
#                                                kube-apiserver, kube-controller-manager and etcd only
#
# k8s.io/kubernetes maps every staging module (k8s.io/api, k8s.io/apiserver, ...) to
# ./staging/... at v0.0.0, so `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` fails.
# This pins each staging module to its published v0.Y.Z (= v1.Y.Z) with replace
# directives, adds kube-apiserver, kube-controller-manager (and for the newest pin kubectl, the node's
# kube-scheduler, kubelet and kube-proxy), and the etcd server that this Kubernetes release selects as
# `tool` dependencies, and tidies.
# It only edits go.mod and go.sum in the pin's directory; it needs the Go module proxy.
set -euo pipefail

control_plane=0
if [[ ${1:-} == --control-plane ]]; then control_plane=1; shift; fi
if [[ $# -ne 1 || ! $1 =~ ^1\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: $0 [--control-plane] K8S_VERSION   (e.g. 1.37.2, without the leading v)" >&2
  exit 2
fi
K8S=$1
STAGING=v0.${K8S#1.}   # 1.37.2 -> v0.37.2
MINOR=${K8S%.*}        # 1.37.2 -> 1.37

cd "$(dirname "${BASH_SOURCE[0]}")"
MODULE=downward-webhook.invalid/tools/kube
if ((control_plane)); then
  mkdir -p "$MINOR" && cd "$MINOR"
  MODULE+=/$MINOR
fi
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

rm -f go.mod go.sum
go mod init "$MODULE"
MOD=$(go mod download -json "k8s.io/kubernetes@v$K8S" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
# Match k8s's language version so the tools build with the same defaults as upstream (the k8s 1.37
# go.mod says `godebug default=go1.26`). `tool` lines need go >= 1.24: an older release (1.29 says
# `go 1.21`) gets go 1.24 and a `godebug default=` of its own go line, so its GODEBUG defaults stay
# those upstream built it with.
GOLINE=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$MOD")
if [[ $(printf '%s\n' "$GOLINE" 1.24 | sort -V | head -1) != 1.24 ]]; then
  go mod edit -go=1.24 -godebug="default=go$(cut -d. -f1-2 <<<"$GOLINE")"
else
  go mod edit -go="$GOLINE"
fi

for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$MOD"); do
  go mod edit -replace="$m=$m@$STAGING"
done

go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S"
go get -tool "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S"
if ((!control_plane)); then
  go get -tool "k8s.io/kubernetes/cmd/kubectl@v$K8S"
  # The node (tests/e2e/cluster, make cluster).
  go get -tool "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S"
  go get -tool "k8s.io/kubernetes/cmd/kubelet@v$K8S"
  go get -tool "k8s.io/kubernetes/cmd/kube-proxy@v$K8S"
fi
ETCD=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)   # the etcd k8s selected
go get -tool "go.etcd.io/etcd/server/v3@$ETCD"
go mod tidy

echo "pinned k8s.io/kubernetes v$K8S, etcd server $ETCD in $PWD" >&2
