"""The apiserver metrics the alerts and the dashboard read exist, under these names and labels, in the real
pinned kube-apiserver's /metrics (each release in turn): the webhook registered through the chart's
configuration answers, denies, and then — stopped — fails open (Ignore) and fails closed (Fail).

The apiserver creates a labelled series on its first observation only, so each metric is made to appear
by what it counts before /metrics is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.chart_helpers import Helm
from tests.e2e.cluster import ControlPlane
from tests.e2e.kube import Kube, eventually
from tests.e2e.registration import ISOLATED, P, probe_pod, registered, start_server
from tests.monitoring_helpers import APISERVER_METRICS, exposed_names


def _metrics(control_plane: ControlPlane) -> tuple[set[str], dict[str, list[dict[str, str]]]]:
    """The apiserver's /metrics: the sample names as exposed, and the label sets of every sample by family
    name (a histogram's by its sample names too: `_bucket`, ...)."""
    status, text = control_plane.request("GET", "/metrics")
    assert status == 200, text
    assert isinstance(text, str)
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(family.name, []).append(dict(sample.labels))
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return exposed_names(text), samples


def test_the_apiserver_metrics_the_alerts_read_exist(
    control_plane: ControlPlane,
    kube: Kube,
    helm: Helm,
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex[:8]
    namespace = make_namespace(**{ISOLATED: marker})
    pods = f"/api/v1/namespaces/{namespace}/pods"
    server = start_server(control_plane, tmp_path)
    scope = {"namespaceSelector": {"matchLabels": {ISOLATED: marker}}}
    try:
        ignore = {"webhook": {"failurePolicy": "Ignore", **scope}}
        with registered(kube, helm, server, ignore, ca_pem=control_plane.ca_pem, probe_namespace=namespace):
            kube.must(kube.create(pods, probe_pod("injected")))
            bad = probe_pod("denied")
            bad["metadata"]["annotations"] = {P + "inject": "maybe"}
            denied = kube.create(pods, bad)  # the webhook's own denial: error_type no_error
            assert denied.status == 400, denied.body
            server.stop()
            # Under Ignore the pod is created without injection: a fail-open.
            body = kube.must(kube.create(pods, probe_pod("uninjected")))
            assert P + "status" not in body["metadata"].get("annotations", {})
        fail = {"webhook": {"failurePolicy": "Fail", **scope}}
        with registered(kube, helm, server, fail, ca_pem=control_plane.ca_pem):
            eventually(
                lambda: kube.create(pods, probe_pod(), dry_run=True).status >= 500,
                what="the Fail configuration to reject a pod (the webhook is stopped)",
            )
    finally:
        server.stop()

    names, samples = _metrics(control_plane)
    missing = sorted(APISERVER_METRICS - names)
    assert not missing, f"the apiserver's /metrics lacks {missing}"

    def ours(name: str) -> list[dict[str, str]]:
        return [labels for labels in samples[name] if labels.get("name") == "pods.downward.dev"]

    assert any(s["type"] == "admit" for s in ours("apiserver_admission_webhook_fail_open_count"))
    error_types = {s["error_type"] for s in ours("apiserver_admission_webhook_rejection_count")}
    assert {"no_error", "calling_webhook_error"} <= error_types, error_types
    codes = {s["code"] for s in ours("apiserver_admission_webhook_request_total")}
    assert "200" in codes, codes
    buckets = ours("apiserver_admission_webhook_admission_duration_seconds_bucket")
    assert {s["le"] for s in buckets} >= {"0.005", "2.5", "+Inf"}
