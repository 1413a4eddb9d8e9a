"""Register webhooks with the test apiserver the way envtest does: the chart's own MutatingWebhookConfiguration,
rendered by the real helm, with each clientConfig rewritten from the in-cluster Service to a URL on 127.0.0.1."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chart_helpers import Helm
from tests.e2e.cluster import ControlPlane
from tests.e2e.kube import Kube, eventually
from tests.server_process import WebhookServer

MWC_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
ISOLATED = "e2e.downward.dev/isolated"  # namespaces with this label are kept away from the shared webhook
P = "downward.dev/"


def render_webhook_configuration(helm: Helm, values: Mapping[str, Any]) -> dict[str, Any]:
    render = helm.template(values=values, release="downward-webhook", namespace="downward-system")
    return copy.deepcopy(render.one("MutatingWebhookConfiguration"))


def point_at(configuration: Mapping[str, Any], name: str, base_url: str, ca_pem: bytes) -> dict[str, Any]:
    """The configuration under a new name, every entry calling base_url + its path with our CA."""
    result = copy.deepcopy(dict(configuration))
    result["metadata"] = {"name": name, "labels": configuration["metadata"].get("labels", {})}
    for entry in result["webhooks"]:
        path = entry["clientConfig"]["service"]["path"]
        entry["clientConfig"] = {"url": base_url + path, "caBundle": base64.b64encode(ca_pem).decode()}
    return result


def probe_pod(name: str = "probe") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {P + "inject": "true"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


def wait_until_active(kube: Kube, namespace: str, timeout: float = 30.0) -> None:
    """The apiserver picks up a new configuration asynchronously: dry-run until the mutation shows."""

    def injected() -> bool:
        answer = kube.create(f"/api/v1/namespaces/{namespace}/pods", probe_pod(), dry_run=True)
        return answer.status == 201 and P + "status" in answer.body["metadata"].get("annotations", {})

    eventually(injected, timeout=timeout, what=f"the webhook to mutate a dry-run pod in {namespace}")


@dataclass
class RunningWebhook:
    server: WebhookServer
    configuration: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.configuration["metadata"]["name"])


def start_server(control_plane: ControlPlane, workdir: Path, config_yaml: str = "") -> WebhookServer:
    """A real `downward-webhook serve` on 127.0.0.1 with a serving cert signed by the cluster CA."""
    tls = workdir / "tls"
    issued = control_plane.issue_cert(
        "downward-webhook", dns_names=("localhost",), ip_addresses=("127.0.0.1",), directory=tls
    )
    (tls / "tls.crt").write_bytes(issued.cert_pem)
    (tls / "tls.key").write_bytes(issued.key_pem)
    (tls / "ca.crt").write_bytes(control_plane.ca_pem)
    config = workdir / "config.yaml"
    config.write_text("server:\n  shutdownDelaySeconds: 0\n" + config_yaml, encoding="utf-8")
    return WebhookServer(workdir, config=config).start()


@contextmanager
def registered(
    kube: Kube,
    helm: Helm,
    server: WebhookServer,
    values: Mapping[str, Any],
    *,
    ca_pem: bytes,
    probe_namespace: str | None = None,
    name: str | None = None,
) -> Iterator[RunningWebhook]:
    """Register the chart's configuration (rendered with `values`) against `server`; delete it afterwards."""
    configuration = point_at(
        render_webhook_configuration(helm, values), name or f"downward-e2e-{uuid.uuid4().hex[:6]}", server.url, ca_pem
    )
    kube.must(kube.create(MWC_PATH, configuration))
    try:
        if probe_namespace is not None:
            wait_until_active(kube, probe_namespace)
        yield RunningWebhook(server, configuration)
    finally:
        kube.call("DELETE", f"{MWC_PATH}/{configuration['metadata']['name']}")
        time.sleep(0.2)
