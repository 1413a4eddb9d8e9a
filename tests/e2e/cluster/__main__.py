"""``make cluster`` / ``make cluster-down``: a local one-node cluster with the webhook installed by its chart.

python -m tests.e2e.cluster up   [--dir .cluster] [--prometheus]
                                                    start it (undoing any earlier one there first); with
                                                    --prometheus (make cluster PROMETHEUS=1) also a Prometheus
                                                    scraping the webhook and the apiserver, the chart's rules loaded
python -m tests.e2e.cluster down [--dir .cluster]   stop it and undo everything it left
python -m tests.e2e.cluster images                  build (or find cached) the node's images only
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from tests.chart_helpers import Helm
from tests.e2e.cluster import leftovers
from tests.e2e.cluster.binaries import REPO_ROOT, ToolchainMissing, find_binaries
from tests.e2e.cluster.chart import NAMESPACE, RELEASE, install_webhook, wait_for_injection
from tests.e2e.cluster.cluster import NodeCluster
from tests.e2e.cluster.images import build_all
from tests.e2e.cluster.procs import ClusterError

USAGE = """\
The cluster is up ({seconds:.0f} s): one node, the webhook installed by its chart in {namespace}.

  export KUBECONFIG={kubeconfig}
  export PATH={bin}:$PATH          # kubectl {version}
  kubectl get pods -A

Try the seed's demos (README, "Try it on a local cluster"); stop it with `make cluster-down`.
"""


def up(state: Path, prometheus: bool = False) -> int:
    started = time.monotonic()
    cluster = NodeCluster(state, find_binaries(), detached=True, log=lambda line: print(line, file=sys.stderr))
    cluster.start()
    try:
        helm = Helm(cluster.bins.helm, state / "helm", {"KUBECONFIG": str(cluster.kubeconfig_path)})
        install_webhook(helm)
        wait_for_injection(cluster.api)
        if prometheus:
            print(PROMETHEUS_USAGE.format(url=_start_prometheus(cluster, helm)))
    except BaseException:
        cluster.stop(keep_state=True)
        raise
    print(
        USAGE.format(
            seconds=time.monotonic() - started, namespace=NAMESPACE, kubeconfig=cluster.kubeconfig_path,
            bin=cluster.kubectl_path.parent, version=cluster.bins.versions()["k8s"],
        )
    )  # fmt: skip
    return 0


PROMETHEUS_USAGE = """\
Prometheus (the chart's alert rules loaded; scraping the webhook pods and the apiserver every 15 s) at {url}:
  curl -s {url}/api/v1/alerts
  curl -s {url}/api/v1/query --data-urlencode 'query=sum by (outcome) (downward_webhook_requests_total)'
"""


def _start_prometheus(cluster: NodeCluster, helm: Helm) -> str:
    """A Prometheus in the node (tests/e2e/cluster/prometheus.py) with the chart's rules; its URL on the host."""
    from tests.e2e.cluster.prometheus import NodePrometheus
    from tests.monitoring_helpers import prom_bin_dir, rule_groups

    render = helm.template(values={"prometheusRule": {"enabled": True}}, release=RELEASE)
    return NodePrometheus(cluster, prom_bin_dir() / "prometheus", rule_groups(render), interval="15s").start().url


def down(state: Path) -> int:
    for done in leftovers.undo(state.resolve()):
        print(done, file=sys.stderr)
    shutil.rmtree(state, ignore_errors=True)
    print(f"the cluster in {state} is down; nothing of it is left on the host")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "images"])
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / ".cluster", help="the cluster's state directory")
    parser.add_argument("--prometheus", action="store_true", help="up: also run Prometheus with the chart's rules")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the node cluster needs root (namespaces, mounts, cgroups)", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            return up(args.dir, args.prometheus)
        if args.command == "down":
            return down(args.dir)
        build_all(find_binaries(), lambda line: print(line, file=sys.stderr))
        return 0
    except (ClusterError, ToolchainMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
