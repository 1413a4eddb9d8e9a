"""The chart's alerts and dashboard against a real Prometheus on the real node: it scrapes the webhook pods
(the scrape job of docs/operations.md) and the apiserver, with the chart's rules loaded (`for:` and windows
shortened by values, as an operator could). An outage (the webhook Deployment scaled to 0 under failurePolicy
Ignore, then an opted-in pod) makes DownwardWebhookDown and DownwardWebhookFailOpen go pending/firing, and both
resolve once the webhook is back; afterwards every dashboard query returns data.

The session's node cluster runs the webhook under failurePolicy Fail; this module switches it to Ignore for
the outage and restores Fail (and the replicas) before it ends.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.chart_helpers import Helm
from tests.e2e.cluster import NodeCluster
from tests.e2e.cluster.chart import NAMESPACE, RELEASE, install_webhook, wait_for_injection
from tests.e2e.cluster.prometheus import WEBHOOK_JOB, NodePrometheus
from tests.e2e.pods import Pods, busybox, eventually
from tests.monitoring_helpers import PromUnavailable, dashboard_queries, prom_bin_dir, rule_groups

STATUS = "downward.dev/status"
# Short enough for a test, through the chart's values (the defaults are minutes).
FAST_ALERTS = {
    "alerts": {
        "down": {"for": "10s"},
        "failOpen": {"window": "1m", "for": "0s"},
        "callsRejected": {"window": "1m"},
        "errors": {"window": "1m"},
        "slow": {"window": "1m"},
    }
}
BAD = {"downward.dev/inject": "maybe"}
UNINJECTED = busybox("uninjected", annotations={"downward.dev/inject": "true"})
WATCHED = ("DownwardWebhookDown", "DownwardWebhookFailOpen")


@pytest.fixture(scope="module")
def cluster_helm(node_cluster: NodeCluster) -> Helm:
    return Helm(node_cluster.bins.helm, node_cluster.state / "helm", {"KUBECONFIG": str(node_cluster.kubeconfig_path)})


@pytest.fixture(scope="module")
def prometheus(node_cluster: NodeCluster, cluster_helm: Helm) -> Iterator[NodePrometheus]:
    try:
        binary = prom_bin_dir() / "prometheus"
    except PromUnavailable as missing:
        if os.environ.get("CI") == "true":  # CI's machine has Go: this is a broken set-up
            pytest.fail(f"{missing} (CI=true)")
        pytest.skip(str(missing))
    render = cluster_helm.template(values={"prometheusRule": {"enabled": True}, **FAST_ALERTS}, release=RELEASE)
    server = NodePrometheus(node_cluster, binary, rule_groups(render)).start()
    try:
        yield server
    finally:
        server.stop()


def _active(prometheus: NodePrometheus) -> dict[str, dict[str, Any]]:
    """The watched alerts that are pending or firing, by name."""
    return {a["labels"]["alertname"]: a for a in prometheus.alerts() if a["labels"]["alertname"] in WATCHED}


@dataclass
class Outage:
    seen: dict[str, set[str]] = field(default_factory=dict)  # alert -> states seen during the outage
    fail_open_labels: dict[str, str] = field(default_factory=dict)
    uninjected: dict[str, Any] = field(default_factory=dict)  # the pod created during the outage


@pytest.fixture(scope="module")
def outage(node_cluster: NodeCluster, cluster_helm: Helm, prometheus: NodePrometheus) -> Iterator[Outage]:
    """Traffic, a denial, then the outage and the recovery; what the alerts did meanwhile."""
    namespace = f"node-mon-{uuid.uuid4().hex[:8]}"
    node_cluster.kubectl("create", "namespace", namespace)
    node_cluster.api.wait_for_default_serviceaccount(namespace, timeout=60)
    try:
        yield _outage(node_cluster, cluster_helm, prometheus, Pods(node_cluster, namespace))
    finally:
        node_cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def _outage(node_cluster: NodeCluster, cluster_helm: Helm, prometheus: NodePrometheus, pods: Pods) -> Outage:
    result = Outage()
    try:
        eventually(
            "Prometheus to scrape the webhook pods and the apiserver",
            lambda: (
                True
                if {t["labels"]["job"] for t in prometheus.targets() if t["health"] == "up"}
                >= {WEBHOOK_JOB, "apiserver"}
                else None
            ),
            timeout=90,
        )
        for i in range(3):
            pods.create(busybox(f"injected-{i}", annotations={"downward.dev/inject": "true"}))
        # A denial (a bad annotation value): the apiserver's rejection count, error_type no_error.
        pods.kubectl("create", "-f", "-", check=False, stdin=json.dumps(busybox("denied", annotations=BAD)))
        assert not pods.kubectl("get", "pods", "--field-selector=metadata.name=denied", "-o", "name")
        # Down is pending until the first scrape: wait for a quiet start.
        eventually("no alert before the outage", lambda: True if not _active(prometheus) else None, timeout=60)

        install_webhook(cluster_helm, "--reuse-values", "--set", "webhook.failurePolicy=Ignore")
        node_cluster.kubectl("-n", NAMESPACE, "scale", f"deployment/{RELEASE}", "--replicas=0")
        node_cluster.kubectl(
            "-n", NAMESPACE, "wait", "--for=delete", "pod", "-l", f"app.kubernetes.io/instance={RELEASE}",
            "--timeout=60s",
        )  # fmt: skip
        # The apiserver picks the Ignore configuration up asynchronously: retry until the pod is created.
        eventually("an opted-in pod created while the webhook is down", lambda: pods.create(UNINJECTED) or True)
        result.uninjected = pods.get("pod", "uninjected")

        def both_firing() -> bool | None:
            active = _active(prometheus)
            for name, alert in active.items():
                result.seen.setdefault(name, set()).add(alert["state"])
                if name == "DownwardWebhookFailOpen":
                    result.fail_open_labels = alert["labels"]
            firing = {name for name, alert in active.items() if alert["state"] == "firing"}
            return True if firing >= set(WATCHED) else None

        eventually("DownwardWebhookDown and DownwardWebhookFailOpen to fire", both_firing, timeout=120, interval=1)
    finally:
        node_cluster.kubectl("-n", NAMESPACE, "scale", f"deployment/{RELEASE}", "--replicas=2")
        node_cluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{RELEASE}", "--timeout=120s")
        install_webhook(cluster_helm, "--reuse-values", "--set", "webhook.failurePolicy=Fail")
        wait_for_injection(node_cluster.api)
    eventually("the alerts to resolve", lambda: True if not _active(prometheus) else None, timeout=180, interval=1)
    # Traffic after the recovery, so that every rate() of the dashboard has samples to work with.
    for i in range(3):
        pods.create(busybox(f"after-{i}", annotations={"downward.dev/inject": "true"}))
    scraped = f'sum(downward_webhook_injections_total{{job="{WEBHOOK_JOB}"}}) >= 3'
    eventually("Prometheus to scrape the injections after the recovery", lambda: prometheus.query(scraped) or None)
    return result


def test_the_pod_created_during_the_outage_is_not_injected(outage: Outage) -> None:
    """What the fail-open alert is about: the pod exists, without what it asked for."""
    assert STATUS not in outage.uninjected["metadata"].get("annotations", {})


def test_down_and_fail_open_fire_during_the_outage(outage: Outage) -> None:
    assert "firing" in outage.seen.get("DownwardWebhookDown", set()), outage.seen
    assert "firing" in outage.seen.get("DownwardWebhookFailOpen", set()), outage.seen
    assert outage.fail_open_labels["name"] == "pods.downward.dev"
    assert outage.fail_open_labels["severity"] == "warning"


def test_the_alerts_resolve_when_the_webhook_is_back(outage: Outage, prometheus: NodePrometheus) -> None:
    assert not _active(prometheus)
    assert prometheus.query(f'sum(up{{job="{WEBHOOK_JOB}"}})')[0]["value"][1] == "2"


def test_every_dashboard_query_returns_data(outage: Outage, prometheus: NodePrometheus) -> None:
    empty = [
        f"{q.panel} {q.ref}: {q.expr}"
        for q in dashboard_queries(WEBHOOK_JOB, rate_interval="1m", range_="15m")
        if not prometheus.query(q.expr)
    ]
    assert not empty, "queries without data:\n" + "\n".join(empty)
