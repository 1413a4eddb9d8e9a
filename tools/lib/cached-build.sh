# Sourced by the build scripts under tools/ (kube/build.sh, kube/build-controlplane.sh, prometheus/build.sh):
# what they share. Each builds some Go binaries into a bin dir of the cache named by a key of its inputs, at most
# once, and publishes it atomically, so a concurrent or interrupted build never leaves a half-filled dir.
#
# The caller sets BINARIES (the programs the dir must hold) and LOG_NAME, then:
#   BIN_DIR=$(cache_dir PREFIX FILE...)   the dir for these inputs: PREFIX-<first 16 hex of sha256(FILE... + this file)>
#   exit_if_built                         prints BIN_DIR and exits 0 when it already holds every binary
#   go_environment HINT                   exit 3 without go (HINT says what to re-run); GOTOOLCHAIN=local etc., JOBS
#   stage_begin                           STAGE: a fresh dir beside BIN_DIR to build into (removed on failure)
#   publish                               every binary in STAGE? move it to BIN_DIR; the last stdout line is BIN_DIR
# and kube_ldflags VERSION gives the version ldflags of Kubernetes' hack/lib/version.sh.

log() { printf '[%s] %s\n' "$LOG_NAME" "$*" >&2; }

cache_dir() {
  local prefix=$1 key
  shift
  key=$(cat "$@" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
  echo "${DOWNWARD_KUBE_CACHE:-$HOME/.cache/downward-webhook}/$prefix-$key"
}

_holds_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x $1/$b ]] || return 1; done
}

exit_if_built() {
  if _holds_all "$BIN_DIR"; then
    log "up to date: $BIN_DIR"
    echo "$BIN_DIR"
    exit 0
  fi
}

go_environment() {
  if ! command -v go >/dev/null 2>&1; then
    echo "go not found: install Go >= 1.26 and re-run $1" >&2
    exit 3
  fi
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  JOBS=${DOWNWARD_KUBE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
}

kube_ldflags() {
  local version=$1 minor pkg flags="-s -w"
  minor=${version#v1.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

stage_begin() {
  mkdir -p "$(dirname "$BIN_DIR")"
  STAGE=$(mktemp -d "$(dirname "$BIN_DIR")/.stage-$(basename "$BIN_DIR").XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
}

publish() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x $STAGE/$b ]] || { log "missing $b after build"; exit 1; }; done
  if [[ -e $BIN_DIR ]] && ! _holds_all "$BIN_DIR"; then rm -rf "$BIN_DIR"; fi   # stale/incomplete
  if ! mv -T "$STAGE" "$BIN_DIR" 2>/dev/null; then
    _holds_all "$BIN_DIR" || { log "could not move $STAGE to $BIN_DIR"; exit 1; }   # another build won the race
  fi
  trap - EXIT
  rm -rf "$STAGE"
  log "binaries in $BIN_DIR"
  echo "$BIN_DIR"
}
