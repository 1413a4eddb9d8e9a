"""What the node tests do to pods, the way a person does it: kubectl apply, wait, exec, logs.

Everything goes through the node cluster's kubectl (the admin kubeconfig); waits are bounded and say what
they were waiting for when they give up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.e2e.cluster import REPO_ROOT, NodeCluster
from tests.e2e.cluster.chart import NAMESPACE, RELEASE
from tests.e2e.cluster.procs import ClusterError
from tests.e2e.kube import eventually as kube_eventually

EXAMPLES = REPO_ROOT / "examples"
T = TypeVar("T")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.5) -> T:
    """``probe()`` until it returns something other than None, a ClusterError (kubectl failed: exec before the
    container runs) counting as not yet; AssertionError naming ``what`` after ``timeout``."""
    result: T = kube_eventually(
        probe, timeout=timeout, interval=interval, what=what, done=lambda v: v is not None, retry_on=(ClusterError,)
    )
    return result


class Pods:
    """kubectl against one namespace of the node cluster."""

    def __init__(self, cluster: NodeCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check, stdin=stdin)

    def create(self, manifest: dict[str, Any]) -> str:
        """``kubectl create -f -``: the webhook sees the object exactly as written (apply would add an annotation)."""
        return self.kubectl("create", "-f", "-", stdin=json.dumps(manifest))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj = json.loads(self.kubectl("get", kind, name, "-o", "json"))
        assert isinstance(obj, dict)
        return obj

    def run(self, manifest: dict[str, Any], timeout: float = 90.0) -> dict[str, Any]:
        """Create a pod and wait until it is Ready; the pod as the apiserver then has it."""
        self.create(manifest)
        return self.wait_ready(manifest["metadata"]["name"], timeout)

    def wait_ready(self, name: str, timeout: float = 90.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            pod = self.get("pod", name)
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            return pod if conditions.get("Ready") == "True" else None

        try:
            return eventually(f"pod {self.namespace}/{name} Ready", ready, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe(name)}") from None

    def describe(self, name: str) -> str:
        return self.kubectl("describe", "pod", name, check=False)

    def exec(self, name: str, *command: str, container: str = "main") -> str:
        return self.kubectl("exec", name, "-c", container, "--", *command)

    def env(self, name: str, container: str = "main") -> dict[str, str]:
        """What ``kubectl exec <pod> -- env`` prints, as a dict (multi-line values are not expected here)."""
        lines = self.exec(name, "env", container=container).splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def logs(self, name: str, container: str = "main") -> str:
        return self.kubectl("logs", name, "-c", container)

    def pull_events(self, name: str) -> list[tuple[str, str]]:
        """(reason, message) of the kubelet's image events for this pod."""
        events = json.loads(
            self.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json")
        )["items"]
        return [(e["reason"], e["message"]) for e in events if e["reason"] in {"Pulling", "Pulled", "Failed"}]

    def assert_nothing_pulled(self, name: str) -> None:
        """Every image came from the node's containerd, loaded by the harness: no pull was attempted."""
        events = self.pull_events(name)
        assert events, f"no image events for {name}"
        for reason, message in events:
            assert reason == "Pulled", (reason, message)
            assert "already present on machine" in message, message


def busybox(name: str, *, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A sleeping busybox pod (the seed's), with extra pod spec fields."""
    container = {"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "9999999"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def webhook_pods(cluster: NodeCluster) -> list[dict[str, Any]]:
    """The chart's webhook pods that are not being deleted (its Service's selector: not the checkJob's pods)."""
    selector = f"app.kubernetes.io/name=downward-webhook,app.kubernetes.io/instance={RELEASE}"
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl("-n", NAMESPACE, "get", "pods", "-l", selector, "-o", "json")
    )["items"]
    return [p for p in items if p["metadata"].get("deletionTimestamp") is None]
