"""The webhook installed on a node cluster the way an operator does it: its chart, its image, its Service."""

from __future__ import annotations

import time

from tests.chart_helpers import CHART_DIR, Helm
from tests.e2e.cluster.controlplane import AdminAPI
from tests.e2e.cluster.procs import ClusterError

RELEASE = "downward-webhook"
NAMESPACE = "downward-system"


def install_webhook(helm: Helm, *extra: str) -> None:
    """``helm upgrade --install`` with the chart's defaults plus ``extra``, waiting for Ready pods."""
    helm.run(
        "upgrade", "--install", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE, "--create-namespace",
        "--wait", "--timeout", "100s", *extra,
    ).check()  # fmt: skip


def wait_for_injection(api: AdminAPI, timeout: float = 60.0) -> None:
    """Until the apiserver injects a pod through the Service: helm's --wait sees Ready pods, but kube-proxy
    programs the Service's endpoints a moment later (until then the apiserver's call is refused)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "downward-probe", "annotations": {"downward.dev/inject": "true"}},
        "spec": {"containers": [{"name": "probe", "image": "busybox"}]},
    }
    deadline = time.monotonic() + timeout
    while True:
        status, body = api.request("POST", "/api/v1/namespaces/default/pods?dryRun=All", pod)
        if status == 201 and "downward.dev/status" in body["metadata"].get("annotations", {}):
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"the webhook did not inject through its Service within {timeout:.0f} s: {body}")
        time.sleep(0.2)
