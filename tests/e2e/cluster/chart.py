"""The webhook installed on a node cluster the way an operator does it: its chart, its image, its Service."""

from __future__ import annotations

from tests.chart_helpers import CHART_DIR, Helm

RELEASE = "downward-webhook"
NAMESPACE = "downward-system"


def install_webhook(helm: Helm, *extra: str) -> None:
    """``helm upgrade --install`` with the chart's defaults plus ``extra``, waiting for Ready pods."""
    helm.run(
        "upgrade", "--install", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE, "--create-namespace",
        "--wait", "--timeout", "100s", *extra,
    ).check()  # fmt: skip
