"""Issue 17 through a real kube-apiserver: otel and env-from-labels on a pod the apiserver stores, a user's own
OTEL_RESOURCE_ATTRIBUTES extended and never changed, and the warnings kubectl would print."""

from __future__ import annotations

from typing import Any

from tests.e2e.kube import Kube
from tests.e2e.registration import RunningWebhook
from tests.e2e.test_injection import P, pods, seed_pod

OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-5d8f7c9b6", "uid": "0b7a3e0e-1111-4c4c-9a9a-000000000001",
         "controller": True}  # fmt: skip


def _env(stored: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in stored["spec"]["containers"][0]["env"]}


def test_otel_alone_on_a_replicaset_pod(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    pod = seed_pod("unused", {P + "otel": "true", P + "env-from-labels": "app.kubernetes.io/version=APP_VERSION,team"})
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "shop-5d8f7c9b6-"
    pod["metadata"]["labels"] = {"pod-template-hash": "5d8f7c9b6", "app.kubernetes.io/version": "1.4.2"}
    pod["metadata"]["ownerReferences"] = [OWNER]
    stored = kube.must(kube.create(pods(namespace), pod))
    env = _env(stored)
    names = [e["name"] for e in stored["spec"]["containers"][0]["env"]]
    assert names == [
        "APP_VERSION", "TEAM", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "OTEL_RESOURCE_ATTRIBUTES_POD_UID",
        "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    ]  # fmt: skip
    assert env["TEAM"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['team']"
    assert env["OTEL_SERVICE_NAME"]["value"] == "shop"
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == (
        f"k8s.namespace.name={namespace},k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),"
        "k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID),k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),"
        "k8s.container.name=main,k8s.deployment.name=shop,k8s.replicaset.name=shop-5d8f7c9b6,"
        "service.name=shop,service.version=1.4.2"
    )
    assert "volumes" not in stored["spec"] or all(
        not v["name"].startswith("downward-") for v in stored["spec"]["volumes"]
    )


def test_users_attributes_are_extended_with_a_warning(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    mine = {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "deployment.environment=prod,k8s.container.name=app"}
    pod = seed_pod("mine", {P + "inject": "true", P + "otel": "true"}, env=[mine])
    answer = kube.create(pods(namespace), pod)
    env, warnings = _env(kube.must(answer)), answer.warnings
    value = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    assert value.startswith("deployment.environment=prod,k8s.container.name=app,k8s.namespace.name=")
    assert value.count("k8s.container.name=") == 1
    assert any("your OTEL_RESOURCE_ATTRIBUTES got k8s.namespace.name" in w for w in warnings)
    assert any("your OTEL_RESOURCE_ATTRIBUTES kept its k8s.container.name" in w for w in warnings)


def test_bad_env_from_item_is_denied_naming_it(kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    pod = seed_pod("bad", {P + "env-from-labels": "team,TEAM"})
    answer = kube.create(pods(namespace), pod)
    assert answer.status == 400
    assert 'item "TEAM": TEAM is already produced by item "team"' in answer.message
