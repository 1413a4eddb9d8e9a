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
# <key> = first 16 hex of sha256(tools/prometheus/go.sum + tools/prometheus/build.sh +
# tools/lib/cached-build.sh, which the build scripts of tools/ share). Build tags remove_all_sd,enable_kubernetes_sd leave out every
# service discovery but Kubernetes' (the cloud SDKs are most of Prometheus' size and build time).
# The web UI's assets are not embedded (no builtinassets tag): the HTTP API is all the tests use.
set -euo pipefail

PROM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINARIES=(prometheus promtool)

LOG_NAME=prometheus/build.sh
# shellcheck source=tools/lib/cached-build.sh
source "$PROM_DIR/../lib/cached-build.sh"
BIN_DIR=$(cache_dir prom "$PROM_DIR/go.sum" "$PROM_DIR/build.sh")

case "${1:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-dir]" >&2; exit 2 ;;
esac

exit_if_built
go_environment "tools/prometheus/build.sh (see tools/prometheus/go.mod)"

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

stage_begin

start=$SECONDS
log "building prometheus + promtool"
(cd "$PROM_DIR" && go build -p "$JOBS" -trimpath -tags remove_all_sd,enable_kubernetes_sd \
  -ldflags "$ldflags" -o "$STAGE/" \
  github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool)
log "built in $((SECONDS - start))s"

printf 'prometheus=%s\nmodule=%s\ngo=%s\n' "$VERSION" "$MOD" "$(go env GOVERSION)" >"$STAGE/VERSIONS"
publish
