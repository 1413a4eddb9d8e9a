"""Issue 17 on the real node: a Deployment's pod with downward.dev/otel and env-from-labels, its env read with
`kubectl exec ... env`, after the kubelet expanded the $(VAR) references."""

from __future__ import annotations

import json

from tests.e2e.cluster import NodeCluster
from tests.e2e.pods import Pods, busybox


def test_a_deployments_pod_sees_its_otel_attributes_expanded(node_cluster: NodeCluster, node_namespace: str) -> None:
    pods = Pods(node_cluster, node_namespace)
    # otel alone (no downward.dev/inject), as the README's before/after shows.
    annotations = {"downward.dev/otel": "true", "downward.dev/env-from-labels": "app.kubernetes.io/version=APP_VERSION"}
    template = busybox("ignored", annotations=annotations)
    labels = {"app": "shop", "app.kubernetes.io/version": "1.4.2"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": template["spec"]},
        },
    }
    pods.create(deployment)
    pods.kubectl("rollout", "status", "deployment/shop", "--timeout=120s")
    items = json.loads(pods.kubectl("get", "pods", "-l", "app=shop", "-o", "json"))["items"]
    live = [p for p in items if p["metadata"].get("deletionTimestamp") is None]
    assert len(live) == 1
    pod = live[0]
    name, uid, node = pod["metadata"]["name"], pod["metadata"]["uid"], pod["spec"]["nodeName"]
    replicaset = pod["metadata"]["ownerReferences"][0]["name"]

    env = pods.env(name)
    raw = env["OTEL_RESOURCE_ATTRIBUTES"]
    assert "$(" not in raw
    attributes = dict(item.split("=", 1) for item in raw.split(","))
    assert attributes == {
        "k8s.namespace.name": node_namespace,
        "k8s.pod.name": name,
        "k8s.pod.uid": uid,
        "k8s.node.name": node,
        "k8s.container.name": "main",
        "k8s.deployment.name": "shop",
        "k8s.replicaset.name": replicaset,
        "service.name": "shop",
        "service.version": "1.4.2",
    }
    assert env["OTEL_SERVICE_NAME"] == "shop"
    assert env["APP_VERSION"] == "1.4.2"
    assert "POD_NAME" not in env  # otel alone: not the catalog's default set
