#!/usr/bin/env bash
# Build prometheus and promtool from the Go module github.com/prometheus/prometheus (no prebuilt
# downloads), pinned by tools/prometheus/go.mod + go.sum. The monitoring tests use promtool to check
# and unit-test the chart's alert rules and the dashboard's queries, and the node test runs a real
# Prometheus server against the webhook and the apiserver.
#
#   tools/prometheus/build.sh               build if needed; LAST stdout line = bin dir
#   tools/prometheus/build.sh --print-dir   print the bin dir only (no build, no go needed)
#
# The bin dir is ${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}/prom-<key>, with
# <key> = first 16 hex of sha256(tools/prometheus/go.sum + tools/prometheus/build.sh), the same
# convention as tools/kube/build.sh. Build tags remove_all_sd,enable_kubernetes_sd leave out every
# service discovery but Kubernetes' (the cloud SDKs are most of Prometheus' size and build time).
# The web UI's assets are not embedded (no builtinassets tag): the HTTP API is all the tests use.
set -euo pipefail

PROM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINARIES=(prometheus promtool)

log() { printf '[prometheus/build.sh] %s\n' "$*" >&2; }

key=$(cat "$PROM_DIR/go.sum" "$PROM_DIR/build.sh" | sha256sum | cut -c1-16)
CACHE_ROOT=${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}
BIN_DIR=$CACHE_ROOT/prom-$key

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
  echo "go not found: install Go >= 1.26 (see tools/prometheus/go.mod) and re-run tools/prometheus/build.sh" >&2
  exit 3
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
JOBS=${DOWNWARD_KUBE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

MOD=$(cd "$PROM_DIR" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)  # e.g. v0.316.0
# The module v0.3XX.Y is Prometheus 3.XX.Y (the module path has no /v3, so v3.16.0 is tagged v0.316.0).
minor=${MOD#v0.3}; patch=${minor#*.}; minor=${minor%%.*}
VERSION=3.$((10#$minor)).$patch
log "go: $(go version); prometheus module $MOD (Prometheus $VERSION); -p $JOBS"

# Same version ldflags as Prometheus' .promu.yml.
ldflags="-s -w"
ldflags+=" -X github.com/prometheus/common/version.Version=$VERSION"
ldflags+=" -X github.com/prometheus/common/version.Revision=module-$MOD"
ldflags+=" -X github.com/prometheus/common/version.Branch=module"
ldflags+=" -X github.com/prometheus/common/version.BuildUser=downward-webhook"
ldflags+=" -X github.com/prometheus/common/version.BuildDate=19700101-00:00:00"

mkdir -p "$CACHE_ROOT"
STAGE=$(mktemp -d "$CACHE_ROOT/.stage-prom-$key.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

start=$SECONDS
log "building prometheus + promtool"
(cd "$PROM_DIR" && go build -p "$JOBS" -trimpath -tags remove_all_sd,enable_kubernetes_sd \
  -ldflags "$ldflags" -o "$STAGE/" \
  github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool)
log "built in $((SECONDS - start))s"

for b in "${BINARIES[@]}"; do [[ -x $STAGE/$b ]] || { log "missing $b after build"; exit 1; }; done
printf 'prometheus=%s\nmodule=%s\ngo=%s\n' "$VERSION" "$MOD" "$(go env GOVERSION)" >"$STAGE/VERSIONS"

# Publish atomically: a concurrent or interrupted build never leaves a half-filled dir.
if [[ -e $BIN_DIR ]] && ! have_all; then rm -rf "$BIN_DIR"; fi   # stale/incomplete
if ! mv -T "$STAGE" "$BIN_DIR" 2>/dev/null; then
  have_all || { log "could not move $STAGE to $BIN_DIR"; exit 1; }
fi
trap - EXIT
rm -rf "$STAGE"
log "binaries in $BIN_DIR"
echo "$BIN_DIR"
