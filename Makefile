# The two commands of the README:
#   make run    start the webhook locally over TLS (self-generated dev certificates in ./certs)
#   make test   set everything up (Python venv, Kubernetes/etcd/helm/containerd built from Go modules, the node's
#               Debian packages and images) and run lint, types and the whole test suite
# and for people:
#   make cluster        a local one-node cluster with the webhook installed by its chart (.cluster/);
#                       PROMETHEUS=1 adds a Prometheus with the chart's alert rules (docs/operations.md)
#   make cluster-down   stop it and undo everything it did on this machine
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test lint typecheck unit e2e kube-tools node-tools prom-tools monitoring-files cluster cluster-down cluster-images bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/downward-webhook serve

# Builds the control plane, kubelet, kube-proxy, kubectl, etcd, helm, containerd and crictl of the newest pin
# (tools/kube) and the control plane of every older one (tools/kube/1.*/, the e2e suite runs on each), once per
# pin (cached under ~/.cache/downward-webhook; ~16 min cold on 2 cores, plus ~6 min for 1.29).
kube-tools:
	bash tools/kube/build.sh
	for pin in tools/kube/1.*/; do [ -d "$$pin" ] || continue; bash tools/kube/build-controlplane.sh "$$pin" || exit 1; done

# prometheus and promtool (tools/prometheus), built from the Go module github.com/prometheus/prometheus and
# cached by pin like the above (~3 min cold on 2 cores, plus the download): the monitoring tests check the
# chart's alert rules and the dashboard with them, and run a real Prometheus on the node cluster.
prom-tools:
	bash tools/prometheus/build.sh

# deploy/monitoring/downward-webhook-alerts.yaml, the plain rules file, generated from the chart's alert rules
# (tests/test_monitoring.py fails when it differs).
monitoring-files: $(STAMP)
	$(BIN)/python -m tests.monitoring_helpers

# The node's Debian packages (runc, CNI plugins, iptables, tini, buildah, mmdebstrap, busybox-static).
node-tools:
	bash tools/node/install.sh

cluster: $(STAMP) kube-tools node-tools $(if $(PROMETHEUS),prom-tools)
	$(BIN)/python -m tests.e2e.cluster up $(if $(PROMETHEUS),--prometheus)

cluster-down: $(STAMP)
	$(BIN)/python -m tests.e2e.cluster down

# Only the node's images (webhook, Python base, kubectl, busybox, curl, pause), cached by their inputs.
cluster-images: $(STAMP) kube-tools node-tools
	$(BIN)/python -m tests.e2e.cluster images

lint: $(STAMP)
	$(BIN)/ruff check webhook tests bench
	$(BIN)/ruff format --check webhook tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) kube-tools node-tools prom-tools lint typecheck
	$(BIN)/pytest --durations=15

unit: $(STAMP)
	$(BIN)/pytest --ignore=tests/e2e

e2e: $(STAMP) kube-tools node-tools prom-tools
	$(BIN)/pytest tests/e2e

# Benchmarks (not part of `make test`): wrk (installed with apt-get when missing), the webhook against its floor,
# the core in process, an RSS soak and pod creation through kube-apiserver; see docs/benchmarks.md.
# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--soak-seconds 60" or BENCH_ARGS="core http".
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.bench-* && touch $@

bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
