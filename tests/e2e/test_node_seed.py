"""The seed's demos (Kubernetes in Action, chapter 8) in running containers: what `env` and `cat` print.

The annotated pod is examples/pod.yaml; the book's hand-written pods are examples/seed/*.yaml. Both run on
the same node, and what their containers see is compared.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from tests.e2e.cluster import NodeCluster
from tests.e2e.cluster.node import NODE_NAME
from tests.e2e.pods import EXAMPLES, Pods, eventually, load

SEED_ENV = {
    "POD_NAME", "POD_NAMESPACE", "POD_IP", "NODE_NAME", "SERVICE_ACCOUNT",
    "CONTAINER_CPU_REQUEST_MILLICORES", "CONTAINER_MEMORY_LIMIT_KIBIBYTES",
}  # fmt: skip
FILES = (
    "podName", "podNamespace", "podUid", "labels", "annotations", "containerCpuRequestMilliCores",
    "containerCpuLimitMilliCores", "containerMemoryRequestBytes", "containerMemoryLimitBytes",
)  # fmt: skip


def _files(pods: Pods, name: str, names: tuple[str, ...] = FILES, container: str = "main") -> dict[str, str]:
    """`cat /etc/downward/<file>` for each file, as the container sees it."""
    return {f: pods.exec(name, "cat", f"/etc/downward/{f}", container=container) for f in names}


def _kv_lines(text: str) -> dict[str, str]:
    """The labels/annotations file format: key="value" lines, values quoted like Go strings."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        out[key] = json.loads(value)
    return out


def _without_kubelets(annotations: dict[str, str]) -> dict[str, str]:
    """kubernetes.io/config.seen (a time) and config.source: the kubelet's, in every pod's annotations file."""
    return {k: v for k, v in annotations.items() if not k.startswith("kubernetes.io/config.")}


def test_env_demo_shows_the_pods_facts(node_cluster: NodeCluster, node_namespace: str) -> None:
    """`kubectl exec downward -- env` on the annotated seed pod."""
    pods = Pods(node_cluster, node_namespace)
    pod = pods.run(load(EXAMPLES / "pod.yaml"))
    env = pods.env("downward")
    assert env["POD_NAME"] == "downward"
    assert env["POD_NAMESPACE"] == node_namespace
    assert env["POD_IP"] == pod["status"]["podIP"]
    assert env["POD_IP"].startswith("10.244.")
    assert env["NODE_NAME"] == NODE_NAME == pod["spec"]["nodeName"]
    assert env["SERVICE_ACCOUNT"] == "default"
    assert env["CONTAINER_CPU_REQUEST_MILLICORES"] == "15"
    assert env["CONTAINER_MEMORY_LIMIT_KIBIBYTES"] == "4096"
    pods.assert_nothing_pulled("downward")


def test_files_demo_matches_the_pod_and_follows_label_and_annotate(
    node_cluster: NodeCluster, node_namespace: str
) -> None:
    """`cat /etc/downward/*`, then `kubectl label` / `kubectl annotate` change the files in the container."""
    pods = Pods(node_cluster, node_namespace)
    pod = pods.run(load(EXAMPLES / "pod.yaml"))
    files = _files(pods, "downward")
    assert files["podName"] == "downward"
    assert files["podNamespace"] == node_namespace
    assert files["podUid"] == pod["metadata"]["uid"]
    assert _kv_lines(files["labels"]) == pod["metadata"]["labels"] == {"foo": "bar"}
    seen = _kv_lines(files["annotations"])
    assert seen["key1"] == "value1"
    assert seen["key2"] == "multi\nline\nvalue\n"
    # The kubelet adds its own bookkeeping to what the container sees (not to the stored pod).
    assert _without_kubelets(seen) == pod["metadata"]["annotations"]
    assert files["containerCpuRequestMilliCores"] == "15"
    assert files["containerCpuLimitMilliCores"] == "100"
    assert files["containerMemoryRequestBytes"] == str(100 * 1024)
    assert files["containerMemoryLimitBytes"] == str(4 * 1024 * 1024)

    pods.kubectl("label", "pod", "downward", "foo=baz", "--overwrite")
    pods.kubectl("label", "pod", "downward", "tier=demo")
    pods.kubectl("annotate", "pod", "downward", "key1=changed", "--overwrite")

    def updated() -> dict[str, str] | None:
        now = _files(pods, "downward", ("labels", "annotations"))
        labels, annotations = _kv_lines(now["labels"]), _kv_lines(now["annotations"])
        done = labels == {"foo": "baz", "tier": "demo"} and annotations.get("key1") == "changed"
        return now if done else None

    # The kubelet rewrites the volume on its pod sync (about a minute at worst); it is the bounded wait.
    eventually("labels and annotations to change in the container", updated, timeout=150, interval=2)


def test_each_container_sees_its_own_resources(node_cluster: NodeCluster, node_namespace: str) -> None:
    pods = Pods(node_cluster, node_namespace)
    manifest = load(EXAMPLES / "pod.yaml")
    manifest["metadata"]["name"] = "two"
    manifest["metadata"]["annotations"]["downward.dev/env"] = "all"
    main = manifest["spec"]["containers"][0]
    side = copy.deepcopy(main)
    side["name"] = "side"
    side["resources"] = {"requests": {"cpu": "30m", "memory": "200Ki"}, "limits": {"cpu": "250m", "memory": "8Mi"}}
    manifest["spec"]["containers"].append(side)
    pods.run(manifest)
    expected = {
        "main": ("15", "100", 100 * 1024, 4 * 1024 * 1024),
        "side": ("30", "250", 200 * 1024, 8 * 1024 * 1024),
    }
    for container, (cpu_req, cpu_lim, mem_req, mem_lim) in expected.items():
        env = pods.env("two", container)
        assert env["CONTAINER_CPU_REQUEST_MILLICORES"] == cpu_req, container
        assert env["CONTAINER_CPU_LIMIT_MILLICORES"] == cpu_lim, container
        assert env["CONTAINER_MEMORY_REQUEST_KIBIBYTES"] == str(mem_req // 1024), container
        assert env["CONTAINER_MEMORY_LIMIT_KIBIBYTES"] == str(mem_lim // 1024), container
        files = _files(pods, "two", FILES[5:], container)
        assert files == {
            "containerCpuRequestMilliCores": cpu_req,
            "containerCpuLimitMilliCores": cpu_lim,
            "containerMemoryRequestBytes": str(mem_req),
            "containerMemoryLimitBytes": str(mem_lim),
        }, container


def _seen(pods: Pods, name: str, env_names: set[str], file_names: tuple[str, ...]) -> dict[str, Any]:
    """What the container sees, with what differs by design between two pods normalised away."""
    pod = pods.get("pod", name)
    env = {k: v for k, v in pods.env(name).items() if k in env_names}
    files = _files(pods, name, file_names)
    subst = {pods.namespace: "<ns>", pod["status"]["podIP"]: "<pod-ip>"}
    env = {k: subst.get(v, v) for k, v in env.items()}
    seen: dict[str, Any] = {k: subst.get(v, v) for k, v in files.items()}
    if "annotations" in seen:
        # The webhook's own record (downward.dev/status) is the one difference in what the pods carry; the
        # kubelet's config.seen is a time.
        annotations = _without_kubelets(_kv_lines(seen["annotations"]))
        seen["annotations"] = {k: v for k, v in annotations.items() if not k.startswith("downward.dev/")}
    return {"env": env, "files": seen}


def test_the_seed_annotated_sees_what_the_seed_hand_written_sees(node_cluster: NodeCluster) -> None:
    """The book's two hand-written pods against examples/pod.yaml, each in its own namespace on one node."""
    made = []

    def namespace(name: str) -> Pods:
        node_cluster.kubectl("create", "namespace", name)
        node_cluster.api.wait_for_default_serviceaccount(name, timeout=60)
        made.append(name)
        return Pods(node_cluster, name)

    try:
        suffix = uuid.uuid4().hex[:6]
        env_pods, volume_pods, annotated = (namespace(f"seed-{k}-{suffix}") for k in ("env", "volume", "annotated"))
        for pods, manifest in (
            (env_pods, "seed/downward-env.yaml"),
            (volume_pods, "seed/downward-volume.yaml"),
            (annotated, "pod.yaml"),
        ):
            pods.create(load(EXAMPLES / manifest))
        for pods in (env_pods, volume_pods, annotated):
            pods.wait_ready("downward")

        by_hand_env = _seen(env_pods, "downward", SEED_ENV, ())["env"]
        seed_files = ("podName", "podNamespace", "labels", "annotations", "containerCpuRequestMilliCores",
                      "containerMemoryLimitBytes")  # fmt: skip
        by_hand_files = _seen(volume_pods, "downward", set(), seed_files)["files"]
        ours = _seen(annotated, "downward", SEED_ENV, seed_files)
        assert set(by_hand_env) == SEED_ENV
        assert ours["env"] == by_hand_env
        assert ours["files"] == by_hand_files
        # The hand-written pods are not touched by the webhook: they carry no opt-in.
        assert "downward.dev/status" not in (env_pods.get("pod", "downward")["metadata"].get("annotations") or {})
    finally:
        for name in made:
            node_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
