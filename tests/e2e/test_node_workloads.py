"""Workloads on the node: a Deployment's replicas get the env, and pod creation keeps working while the
webhook's own Deployment rolls (failurePolicy Fail: a missed call would be a refused pod)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.e2e.cluster import NodeCluster
from tests.e2e.cluster.chart import NAMESPACE, RELEASE
from tests.e2e.pods import Pods, busybox, eventually, webhook_pods

STATUS = "downward.dev/status"


def test_every_replica_of_an_annotated_deployment_has_the_env(node_cluster: NodeCluster, node_namespace: str) -> None:
    pods = Pods(node_cluster, node_namespace)
    template = busybox("ignored", annotations={"downward.dev/inject": "true"})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": template["metadata"]["annotations"]},
                "spec": template["spec"],
            },
        },
    }
    pods.create(deployment)
    pods.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    items = json.loads(pods.kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
    names = [p["metadata"]["name"] for p in items if p["metadata"].get("deletionTimestamp") is None]
    assert len(names) == 3
    for name in names:
        env = pods.env(name)
        assert env["POD_NAME"] == name
        assert env["POD_NAMESPACE"] == node_namespace
        assert env["NODE_NAME"] == pods.get("pod", name)["spec"]["nodeName"]


def test_pod_creation_never_fails_while_the_webhook_rolls(node_cluster: NodeCluster, node_namespace: str) -> None:
    """`kubectl rollout restart` of the webhook under a steady stream of pod creations.

    The stream is server-side dry-run creations (the full admission chain, webhook included, without
    starting a container each) plus one real pod a second. Three streams at once keep several of the
    apiserver's connections to the webhook alive, the way a busy cluster does: a connection stays on the pod
    it was opened to, so closing one the apiserver still uses was the failure this found (an EOF: 1 in ~4000
    creations in 3 rolls before the draining server answered `Connection: close`).
    """
    api = node_cluster.api
    path = f"/api/v1/namespaces/{node_namespace}/pods"
    results: list[tuple[bool, int, Any]] = []
    stop = threading.Event()

    def create_pods(stream: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            real = stream == 0 and n % 10 == 0
            pod = busybox(f"during-{stream}-{n}", annotations={"downward.dev/inject": "true"})
            status, body = api.request("POST", path if real else f"{path}?dryRun=All", pod)
            results.append((real, status, body))
            time.sleep(0.1)

    before = {p["metadata"]["uid"] for p in webhook_pods(node_cluster)}
    threads = [threading.Thread(target=create_pods, args=(stream,), daemon=True) for stream in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)  # creations before the roll, too
        node_cluster.kubectl("-n", NAMESPACE, "rollout", "restart", f"deployment/{RELEASE}")
        node_cluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{RELEASE}", "--timeout=180s",
                             timeout=200)  # fmt: skip
        # Until the old pods are gone, not only until the new ones are Ready: their shutdown is the risky part.
        eventually(
            "the old webhook pods to be gone",
            lambda: True if not before & {p["metadata"]["uid"] for p in webhook_pods(node_cluster)} else None,
            timeout=120,
        )
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    failed = [(status, body) for _, status, body in results if status != 201]
    assert not failed, f"{len(failed)} of {len(results)} creations failed; first: {failed[0]}"
    assert len(results) >= 150, len(results)
    not_injected = [b["metadata"]["name"] for _, _, b in results if STATUS not in b["metadata"].get("annotations", {})]
    assert not not_injected, not_injected
    real = [b["metadata"]["name"] for is_real, _, b in results if is_real]
    assert real, "no real pod was created during the roll"
