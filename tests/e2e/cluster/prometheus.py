"""A real Prometheus on the node cluster: inside the node (it reaches the pod IPs and the apiserver there),
scraping the webhook pods with the scrape job docs/operations.md shows and the apiserver, with the chart's
alert rules loaded. Its HTTP API is forwarded to a loopback port of the host.

Used by tests/e2e/test_node_monitoring.py and by ``make cluster PROMETHEUS=1``. The binary comes from
tools/prometheus/build.sh (tests.monitoring_helpers.prom_bin_dir).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.cluster import node
from tests.e2e.cluster.chart import NAMESPACE, RELEASE
from tests.e2e.cluster.cluster import NodeCluster
from tests.e2e.cluster.procs import ClusterError, Proc, http_status

PROMETHEUS_PORT = 9090  # inside the node
WEBHOOK_JOB = RELEASE  # a ServiceMonitor's job is the Service's name: the chart's fullname


def webhook_scrape_job(ca_file: str, kubeconfig_file: str | None = None) -> dict[str, Any]:
    """The scrape job of the webhook pods for a Prometheus without the operator (docs/operations.md shows it
    with ``kubeconfig_file`` unset: in a cluster, Prometheus uses its ServiceAccount)."""
    discovery: dict[str, Any] = {"role": "endpointslice", "namespaces": {"names": [NAMESPACE]}}
    if kubeconfig_file is not None:
        discovery["kubeconfig_file"] = kubeconfig_file
    return {
        "job_name": WEBHOOK_JOB,
        "scheme": "https",
        "kubernetes_sd_configs": [discovery],
        "tls_config": {"ca_file": ca_file, "server_name": f"{RELEASE}.{NAMESPACE}.svc"},
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_service_name"], "regex": RELEASE, "action": "keep"},
            {"source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": "https", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


class NodePrometheus:
    """Prometheus running in the node; ``query``/``alerts`` go through its HTTP API on the host."""

    def __init__(self, cluster: NodeCluster, prometheus: Path, rules: dict[str, Any], interval: str = "2s") -> None:
        self.cluster = cluster
        self.binary = prometheus
        self.rules = rules
        self.interval = interval
        self.dir = cluster.state / "prometheus"
        self.host_port = 0
        self._procs: list[Proc] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def config(self) -> dict[str, Any]:
        pki = self.cluster.paths.pki
        return {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(self.dir / "rules.yaml")],
            "scrape_configs": [
                webhook_scrape_job(
                    str(self.dir / "downward-webhook-ca.crt"), str(self.cluster.state / "in-node.kubeconfig")
                ),
                {
                    "job_name": "apiserver",
                    "scheme": "https",
                    "static_configs": [{"targets": [f"127.0.0.1:{node.APISERVER_PORT}"]}],
                    "tls_config": {
                        "ca_file": str(pki / "ca.crt"),
                        "cert_file": str(pki / "admin.crt"),
                        "key_file": str(pki / "admin.key"),
                    },
                },
            ],
        }

    def start(self, timeout: float = 60.0) -> NodePrometheus:
        self.dir.mkdir(parents=True, exist_ok=True)
        secret = json.loads(self.cluster.kubectl("-n", NAMESPACE, "get", "secret", f"{RELEASE}-tls", "-o", "json"))
        (self.dir / "downward-webhook-ca.crt").write_bytes(base64.b64decode(secret["data"]["ca.crt"]))
        (self.dir / "rules.yaml").write_text(yaml.safe_dump(self.rules, sort_keys=False), encoding="utf-8")
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(self.config(), sort_keys=False), encoding="utf-8")
        argv = [
            # Prometheus asks for its working directory at start (os.Getwd, for the web UI's assets); in the
            # node's mount namespace the kernel cannot name it, and Go then trusts a matching $PWD.
            "env",
            f"PWD={self.cluster.state}",
            str(self.binary),
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            "--web.enable-lifecycle",
        ]
        self._procs, self.host_port = self.cluster.run_in_node("prometheus", argv, forward_port=PROMETHEUS_PORT)
        deadline = time.monotonic() + timeout
        while (seen := http_status(f"{self.url}/-/ready", None)) is not None:
            if not self._procs[0].alive():
                raise self._procs[0].failure("exited while starting")
            if time.monotonic() > deadline:
                raise self._procs[0].failure(f"not ready within {timeout:.0f} s: {seen}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        self.cluster.stop_processes(self._procs)
        self._procs = []

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a success, ClusterError otherwise."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/api/v1/{path}{query}", timeout=30) as resp:
            body = json.loads(resp.read())
        if body.get("status") != "success":
            raise ClusterError(f"Prometheus /api/v1/{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector: one entry per series; a scalar becomes one entry)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            result: list[dict[str, Any]] = data["result"]
            return result
        return [{"metric": {}, "value": data["result"]}]

    def alerts(self) -> list[dict[str, Any]]:
        """The active alerts (pending or firing), each with `labels` and `state`."""
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return found

    def targets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return found
