"""The memoized review (webhook/serving/memo.py): byte for byte what a fresh review would answer, for every pod.

The memo is keyed by the pod's view. These tests pin both halves of that bargain: what the planner never reads
(names, uid, images, other env vars and annotations) shares one answer, and everything it does read gets its
own. The property test in test_property.py checks the same over generated pods.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.kube_rules import pod_create, service_account_mount, service_account_volume
from tests.test_golden import CASES, PATHS, load_case
from webhook.core.answer import AdmissionRequest
from webhook.core.config import Config
from webhook.core.review import review
from webhook.serving.admission import encode_answer
from webhook.serving.memo import ENTRY_OVERHEAD_BYTES, MemoizedReview, Summary

P = "downward.dev/"


def fresh(request: AdmissionRequest, config: Config, *, inject_by_default: bool = False) -> bytes:
    return encode_answer(request.uid, review(request, config, inject_by_default=inject_by_default))


def with_uid(request: AdmissionRequest, uid: str) -> AdmissionRequest:
    return dataclasses.replace(request, uid=uid)


@pytest.mark.parametrize("name", CASES)
def test_golden_case_answered_as_a_fresh_review_would(name: str) -> None:
    case = load_case(name)
    answers = MemoizedReview(case.config)
    by_default = PATHS[case.path]
    request = pod_create(case.pod, case.namespace)
    verdict, body = answers(request, inject_by_default=by_default)
    assert body == fresh(request, case.config, inject_by_default=by_default)
    # The same verdict, but for its ops: they are in the response body only.
    assert verdict == Summary.of(review(request, case.config, inject_by_default=by_default))
    assert (answers.hits, answers.misses) == (0, 1)

    # The next pod of the family: another uid (one that needs escaping), the same answer around it.
    sibling = with_uid(request, 'uid "quoted" \\ ünïcode')
    _, again = answers(sibling, inject_by_default=by_default)
    assert answers.hits == 1
    assert again == fresh(sibling, case.config, inject_by_default=by_default)
    assert orjson.loads(again)["response"]["uid"] == 'uid "quoted" \\ ünïcode'


def base_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-7d9f8b6c5d-", "namespace": "team-a", "annotations": {P + "inject": "true"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "env": [{"name": "GREETING", "value": "hello"}],
                    "volumeMounts": [service_account_mount("x1y2z")],
                    "ports": [{"containerPort": 8080}],
                }
            ],
            "volumes": [service_account_volume("x1y2z")],
            "serviceAccountName": "default",
        },
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the value at a dotted path (list indexes as numbers; an annotation key is the rest of the path)."""

    def change(pod: dict[str, Any]) -> None:
        parents, last = _split(path)
        node: Any = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _split(path: str) -> tuple[list[str], str]:
    if path.startswith("metadata.annotations."):
        return ["metadata", "annotations"], path.removeprefix("metadata.annotations.")
    *parents, last = path.split(".")
    return parents, last


def _append(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(pod: dict[str, Any]) -> None:
        node: Any = pod
        for key in path.split("."):
            node = node[int(key)] if isinstance(node, list) else node[key]
        node.append(value)

    return change


# Changes the planner never reads: the pod shares the base pod's memoized answer.
SAME_ANSWER = {
    "name instead of generateName": _set("metadata.name", "web-0"),
    "other generateName": _set("metadata.generateName", "api-5c6d7e8f9a-"),
    "labels": _set("metadata.labels", {"app": "web", "pod-template-hash": "7d9f8b6c5d"}),
    "someone else's annotation": _set("metadata.annotations.example.com/owner", "team-a"),
    "image": _set("spec.containers.0.image", "registry.example.com/app:2.0"),
    "another env var": _append("spec.containers.0.env", {"name": "MODE", "value": "prod"}),
    "env var value": _set("spec.containers.0.env.0", {"name": "GREETING", "value": "bonjour"}),
    "resources": _set("spec.containers.0.resources", {"limits": {"memory": "64Mi"}}),
    "node name": _set("spec.nodeName", "node-1"),
}

# Changes the planner reads: each gets an answer of its own, equal to a fresh review's.
OWN_ANSWER = {
    "our annotation": _set("metadata.annotations.downward.dev/env", "POD_NAME"),
    "kubectl default container": _set("metadata.annotations.kubectl.kubernetes.io/default-container", "app"),
    "mirror pod": _set("metadata.annotations.kubernetes.io/config.mirror", "hash"),
    "annotations map absent": _set("metadata.annotations", None),
    "an env var we inject, same source": _append(
        "spec.containers.0.env", {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ),
    "an env var we inject, other value": _append("spec.containers.0.env", {"name": "POD_NAME", "value": "fixed"}),
    "no env list": _set("spec.containers.0.env", None),
    "envFrom": _set("spec.containers.0.envFrom", [{"configMapRef": {"name": "settings"}}]),
    "another mount": _append("spec.containers.0.volumeMounts", {"name": "data", "mountPath": "/data"}),
    "mount on our path": _append("spec.containers.0.volumeMounts", {"name": "data", "mountPath": "/etc/downward/"}),
    "container name": _set("spec.containers.0.name", "web"),
    "second container": _append("spec.containers", {"name": "log", "image": "busybox"}),
    "init container": _set("spec.initContainers", [{"name": "setup", "image": "busybox"}]),
    "volume named like ours": _append("spec.volumes", {"name": "downward-app", "emptyDir": {}}),
    "hostNetwork": _set("spec.hostNetwork", True),
    "automount off": _set("spec.automountServiceAccountToken", False),
    "windows": _set("spec.os", {"name": "windows"}),
    "port of the ambassador": _set("spec.containers.0.ports", [{"containerPort": 8001}]),
}


def _variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    pod = copy.deepcopy(base_pod())
    change(pod)
    return pod


@pytest.mark.parametrize("change", SAME_ANSWER.values(), ids=SAME_ANSWER.keys())
def test_what_the_planner_never_reads_shares_the_answer(change: Callable[[dict[str, Any]], None]) -> None:
    config = Config()
    answers = MemoizedReview(config)
    _, first = answers(pod_create(base_pod(), "team-a"), inject_by_default=False)
    request = with_uid(pod_create(_variant(change), "team-a"), "another-uid")
    _, body = answers(request, inject_by_default=False)
    assert (answers.hits, answers.misses, len(answers)) == (1, 1, 1)
    assert body == fresh(request, config)
    assert body.replace(b"another-uid", b"") == first.replace(pod_create(base_pod(), "").uid.encode(), b"")


@pytest.mark.parametrize("change", OWN_ANSWER.values(), ids=OWN_ANSWER.keys())
def test_what_the_planner_reads_gets_its_own_answer(change: Callable[[dict[str, Any]], None]) -> None:
    config = Config()
    answers = MemoizedReview(config)
    answers(pod_create(base_pod(), "team-a"), inject_by_default=False)
    request = pod_create(_variant(change), "team-a")
    _, body = answers(request, inject_by_default=False)
    assert (answers.hits, answers.misses, len(answers)) == (0, 2, 2)
    assert body == fresh(request, config)


@pytest.mark.parametrize("ambassador", ["true", "false"])
def test_namespace_and_path_are_part_of_the_key(ambassador: str) -> None:
    from webhook.config import config_from_mapping

    config = config_from_mapping({"ambassador": {"disabledNamespaces": ["locked"]}}).core
    pod = base_pod()
    pod["metadata"]["annotations"][P + "ambassador"] = ambassador
    answers = MemoizedReview(config)
    for namespace in ("team-a", "locked"):
        for by_default in (False, True):
            request = pod_create(pod, namespace)
            _, body = answers(request, inject_by_default=by_default)
            assert body == fresh(request, config, inject_by_default=by_default)
    assert (answers.hits, answers.misses) == (0, 4)


def test_denials_are_memoized_too() -> None:
    config = Config()
    pod = base_pod()
    pod["metadata"]["annotations"][P + "volume"] = "maybe"
    answers = MemoizedReview(config)
    for uid in ("one", "two"):
        request = with_uid(pod_create(pod, "team-a"), uid)
        verdict, body = answers(request, inject_by_default=False)
        assert not verdict.allowed
        assert body == fresh(request, config)
    assert answers.hits == 1


def test_every_pod_answer_is_observed_as_memoized_or_fresh() -> None:
    seen: list[bool] = []
    answers = MemoizedReview(Config(), observe=seen.append)
    for uid in ("one", "two", "three"):
        answers(with_uid(pod_create(base_pod(), "team-a"), uid), inject_by_default=False)
    answers(pod_create(_variant(OWN_ANSWER["container name"]), "team-a"), inject_by_default=False)
    assert seen == [False, True, True, False]


def test_requests_other_than_a_pod_create_are_not_memoized() -> None:
    config = Config()
    request = pod_create(base_pod(), "team-a")
    update = dataclasses.replace(request, operation="UPDATE")
    answers = MemoizedReview(config)
    verdict, body = answers(update, inject_by_default=False)
    assert verdict.outcome == "skipped"
    assert body == fresh(update, config)
    assert len(answers) == 0


def _pod_with_container(name: str) -> AdmissionRequest:
    pod = base_pod()
    pod["spec"]["containers"][0]["name"] = name
    return pod_create(pod, "team-a")


def test_least_recently_used_answers_are_evicted_past_the_entry_limit() -> None:
    answers = MemoizedReview(Config(), max_entries=3)
    for name in ("a", "b", "c"):
        answers(_pod_with_container(name), inject_by_default=False)
    answers(_pod_with_container("a"), inject_by_default=False)  # a is now the most recently used
    answers(_pod_with_container("d"), inject_by_default=False)  # evicts b
    assert len(answers) == 3
    hits = answers.hits
    answers(_pod_with_container("a"), inject_by_default=False)
    assert answers.hits == hits + 1
    answers(_pod_with_container("b"), inject_by_default=False)
    assert answers.hits == hits + 1, "b should have been evicted"


def test_the_memo_stays_within_its_byte_budget() -> None:
    one = len(MemoizedReview(Config())(_pod_with_container("a"), inject_by_default=False)[1]) + ENTRY_OVERHEAD_BYTES
    budget = 4 * one + one // 2  # room for four answers
    answers = MemoizedReview(Config(), max_bytes=budget)
    for index in range(20):
        answers(_pod_with_container(f"c{index}"), inject_by_default=False)
        assert answers.size_bytes <= budget
    assert len(answers) == 4


def test_the_budget_bounds_the_memory_the_memo_really_holds() -> None:
    requests = [_pod_with_container(f"container-{index}") for index in range(400)]  # within the catalog caches
    warm = MemoizedReview(Config())
    for request in requests:  # the catalog's own caches (per container name) are not the memo's
        warm(request, inject_by_default=False)
    del warm
    gc.collect()
    budget = 256 * 1024
    answers = MemoizedReview(Config(), max_bytes=budget)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for request in requests:
            answers(request, inject_by_default=False)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(answers) < len(requests), "the budget should have evicted answers"
    assert held <= budget * 1.15, f"the memo holds {held} bytes for a budget of {budget}"


def test_an_answer_too_big_for_the_budget_is_not_kept() -> None:
    answers = MemoizedReview(Config(), max_entry_bytes=100)  # no answer fits in 100 bytes
    _, body = answers(_pod_with_container("a"), inject_by_default=False)
    assert body == fresh(_pod_with_container("a"), Config())
    assert (len(answers), answers.size_bytes) == (0, 0)
