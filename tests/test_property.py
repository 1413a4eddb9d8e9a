"""Property test of the core over generated pods and annotations, in both modes and under three configurations.

Every verdict is either a denial that names the annotation to change, or a patch that applies the way the
apiserver applies it and gives a pod the apiserver accepts; and a second pass over that pod (defaulted, with
the built-in plugins re-run, as on reinvocation) changes nothing. The memoized answers the server gives
(webhook/serving/memo.py, one memo per configuration shared by all examples) are byte for byte a fresh review's,
for the pod and for a sibling that differs only in what the planner never reads. Derandomized: CI sees the
same examples.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.kube_rules import (
    ENV_FIELD_PATHS,
    apply_patch_like_apiserver,
    as_reinvoked,
    check_pod,
    pod_create,
    service_account_mount,
    service_account_volume,
)
from webhook.config import config_from_mapping
from webhook.core.annotations import KNOWN_KEYS
from webhook.core.catalog import ENV_NAMES, PROXY_ENV_NAME
from webhook.core.config import Config
from webhook.core.otel import keys_of
from webhook.core.review import review
from webhook.serving.admission import encode_answer
from webhook.serving.memo import MemoizedReview

CONFIGS: dict[str, Config] = {
    "default": config_from_mapping({}).core,
    "container-mode": config_from_mapping({"ambassador": {"mode": "container", "disabledNamespaces": ["locked"]}}).core,
    "custom": config_from_mapping(
        {
            "annotationPrefix": "podinfo.example.com/",
            "defaults": {"env": ["POD_NAME", "CONTAINER_MEMORY_LIMIT_KIBIBYTES"], "volume": False, "mountPath": "/pod"},
        }
    ).core,
    # Issue 17: the operator's own entries, one in the default set, and otel on by default in "default".
    "catalog-otel": config_from_mapping(
        {
            "catalog": [
                {"name": "CLUSTER_NAME", "value": "prod-eu"},
                {"name": "POD_TEAM", "fieldPath": "metadata.labels['team']"},
                {"name": "EPHEMERAL_MIB", "resource": "limits.ephemeral-storage", "divisor": "1Mi"},
            ],
            "defaults": {"env": ["POD_NAME", "CLUSTER_NAME"]},
            "otel": {"namespaces": ["default"]},
        }
    ).core,
}

LONG_NAME = "x" * 30 + "-" + "y" * 32  # 63 characters: the longest container name
CONTAINER_NAMES = st.sampled_from(["app", "main", "web", "sidecar", "setup", "downward-ambassador", LONG_NAME]) | (
    st.from_regex(r"\A[a-z]([-a-z0-9]{0,12}[a-z0-9])?\Z")
)
USER_VOLUMES = ["data", "cache", "downward-main", "downward-app", "downward-ambassador-2", "downward-" + "x" * 30]
MOUNT_PATHS = ["/data", "/etc/downward", "/etc/downward/", "/pod", "/var/cache", "/run/podinfo", "/etc/config"]
OTHER_ENV = [PROXY_ENV_NAME, "GREETING", "APP_MODE", "_PRIVATE", "my.dotted-name", "OTEL_RESOURCE_ATTRIBUTES",
             "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "APP_VERSION", "TEAM", "CLUSTER_NAME"]  # fmt: skip
OTHER_ANNOTATION_KEYS = ["example.com/team", "a~b/c~1", "odd/key~0", "kubectl.kubernetes.io/default-container", "plain"]


def _chance(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws; False is the simple value hypothesis prefers and shrinks to."""
    return draw(st.sampled_from([False] * (one_in - 1) + [True]))


def _value_from(container: str) -> st.SearchStrategy[dict[str, Any]]:
    field_ref = st.builds(
        lambda path, versioned: {
            "fieldRef": {"apiVersion": "v1", "fieldPath": path} if versioned else {"fieldPath": path}
        },
        st.sampled_from([*sorted(ENV_FIELD_PATHS), "metadata.labels['app']"]),
        st.booleans(),
    )
    resource_ref = st.builds(
        lambda resource, divisor, named: {
            "resourceFieldRef": {
                "resource": resource,
                "divisor": divisor,
                **({"containerName": container} if named else {}),
            }
        },
        st.sampled_from(["requests.cpu", "limits.cpu"]),
        st.sampled_from(["1", "1m"]),
        st.booleans(),
    ) | st.builds(
        lambda resource, divisor: {"resourceFieldRef": {"resource": resource, "divisor": divisor}},
        st.sampled_from(["requests.memory", "limits.memory", "limits.ephemeral-storage"]),
        st.sampled_from(["1", "1Ki", "1Mi", "1k"]),
    )
    return field_ref | resource_ref


@st.composite
def env_lists(draw: st.DrawFn, container: str) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from([*ENV_NAMES, *OTHER_ENV]), unique=True, max_size=5))
    entries: list[dict[str, Any]] = []
    for name in names:
        if draw(st.booleans()):
            entries.append(
                {
                    "name": name,
                    "value": draw(
                        st.sampled_from(
                            [
                                "x",
                                "",
                                "$(POD_NAME)-suffix",
                                "http://127.0.0.1:8001",
                                "service.name=mine,k8s.pod.name=p",
                                "a=b,",
                            ]
                        )
                    ),
                }
            )
        else:
            entries.append({"name": name, "valueFrom": draw(_value_from(container))})
    return entries


@st.composite
def containers(draw: st.DrawFn, name: str, volumes: list[str], token: str | None, *, init: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": "busybox:1.36"}
    sidecar = init and draw(st.booleans())
    if sidecar:
        container["restartPolicy"] = "Always"
        if draw(st.booleans()):
            container["startupProbe"] = {"exec": {"command": ["true"]}}
    env = draw(env_lists(name))
    if env or _chance(draw, 2):
        container["env"] = env  # an empty list is possible on the wire (a client may send it)
    if _chance(draw, 5):
        container["envFrom"] = [{"configMapRef": {"name": "settings"}}]
    if _chance(draw, 5):
        container["ports"] = [{"containerPort": draw(st.sampled_from([80, 8001, 9090])), "protocol": "TCP"}]
    mounts: list[dict[str, Any]] = []
    if volumes:
        paths = draw(st.lists(st.sampled_from(MOUNT_PATHS), unique=True, max_size=3))
        mounts = [{"name": draw(st.sampled_from(volumes)), "mountPath": path} for path in paths]
    if token is not None:
        mounts.append(service_account_mount(token))
    if mounts or _chance(draw, 2):
        container["volumeMounts"] = mounts
    container["resources"] = draw(
        st.sampled_from(
            [{}, {"requests": {"cpu": "15m", "memory": "100Ki"}, "limits": {"cpu": "100m", "memory": "4Mi"}}]
        )
    )
    return container


def _status_values(names: list[str]) -> st.SearchStrategy[str]:
    valid = st.builds(
        lambda chosen, ambassador: json.dumps(
            {"containers": chosen, "env": ["POD_NAME"], "mountPath": "/etc/downward", "ambassador": ambassador}
        ),
        st.lists(st.sampled_from(names), unique=True, max_size=len(names)),
        st.sampled_from([None, "native", "container"]),
    )
    return valid | st.sampled_from(["injected", "{}", "[]", '{"containers":[1]}', "null", ""])


def _mount_path_values() -> st.SearchStrategy[str]:
    listed = st.sampled_from(
        [
            "/etc/downward",
            "/run/podinfo/",
            "etc/downward",
            "/",
            "//",
            "//.",
            "/a/../b",
            "/x:y",
            "/data",
            "/etc/downward/",
        ]
    )
    random = st.text(alphabet="/abc.:~ ", max_size=12)
    return listed | random


@st.composite
def annotation_maps(draw: st.DrawFn, prefix: str, names: list[str]) -> dict[str, str] | None:
    shape = draw(st.sampled_from(["map", "map", "map", "map", "map", "map", "absent", "empty"]))
    if shape == "absent":
        return None
    if shape == "empty":
        return {}
    targets = st.lists(st.sampled_from(names), min_size=1, max_size=3).map(",".join)
    env_list = st.lists(st.sampled_from(ENV_NAMES), min_size=1, max_size=4).map(" , ".join)
    # key: (valid values, invalid values, how often the key is absent: 1 in n+1 present)
    values: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str], int]] = {
        "inject": (
            st.sampled_from(["true", "true", "TRUE", " true ", "false"]),
            st.sampled_from(["maybe", "", "yes"]),
            0,
        ),
        "env": (
            st.sampled_from(["all", "none", "ALL"]) | env_list,
            st.sampled_from(["", ",", "pod_name", "NODE_NAM", "POD_NAME,BOGUS"]) | st.text(max_size=8),
            1,
        ),
        "volume": (st.sampled_from(["true", "false", "False"]), st.sampled_from(["0", "yes"]) | st.text(max_size=5), 1),
        "mount-path": (
            st.sampled_from(["/etc/downward", "/run/podinfo/", "/data", "/etc/downward/", "/pod"]),
            _mount_path_values(),
            2,
        ),
        "containers": (targets, st.sampled_from(["", "ghost", "Bad_Name", "app,ghost"]), 2),
        "ambassador": (st.sampled_from(["true", "false"]), st.just("nope"), 1),
        "otel": (st.sampled_from(["true", "false", "True"]), st.just("on"), 1),
        "env-from-labels": (
            st.sampled_from(["app.kubernetes.io/version=APP_VERSION", "team", "team,app", "example.com/x=X"]),
            st.sampled_from(["team,TEAM", "-bad", "a=POD_NAME", "a=1A", "", "a=CLUSTER_NAME"]),
            2,
        ),
        "env-from-annotations": (
            st.sampled_from(["example.com/team", "plain=PLAIN"]),
            st.sampled_from(["a b", "x=OTEL_SERVICE_NAME"]),
            3,
        ),
        "status": (_status_values(names), st.sampled_from(["injected", "{}", "[]", '{"containers":[1]}', "null"]), 8),
        "injct": (st.just("true"), st.just("true"), 15),
        "volumes": (st.just("false"), st.just("false"), 15),
    }
    annotations: dict[str, str] = {}
    for key, (valid, invalid, rarity) in values.items():
        if rarity == 0 or _chance(draw, rarity + 1):
            annotations[prefix + key] = draw(invalid if _chance(draw, 10) else valid)
    for key in draw(st.lists(st.sampled_from(OTHER_ANNOTATION_KEYS), unique=True, max_size=3)):
        annotations[key] = draw(st.sampled_from([*names, "value"]))
    if _chance(draw, 20):
        annotations["kubernetes.io/config.mirror"] = "6a1b5f1d4c0e2b9a"
    return annotations


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, bool, str, dict[str, Any]]:
    config_name = draw(st.sampled_from(sorted(CONFIGS)))
    prefix = CONFIGS[config_name].prefix
    names = draw(st.lists(CONTAINER_NAMES, min_size=1, max_size=8, unique=True))
    count = draw(st.integers(1, min(5, len(names))))
    regular, init = names[:count], names[count:][:3]
    automount_off = _chance(draw, 7)
    token = None if automount_off or _chance(draw, 5) else "abcde"
    user_volumes = draw(st.lists(st.sampled_from(USER_VOLUMES), unique=True, max_size=3))
    volumes = [{"name": name, "emptyDir": {}} for name in user_volumes]
    if token is not None:
        volumes.append(service_account_volume(token))
    spec: dict[str, Any] = {}
    if volumes:
        spec["volumes"] = volumes
    if init:
        spec["initContainers"] = [draw(containers(name, user_volumes, token, init=True)) for name in init]
    spec["containers"] = [draw(containers(name, user_volumes, token, init=False)) for name in regular]
    spec.update({"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default"})
    if automount_off:
        spec["automountServiceAccountToken"] = False
    if _chance(draw, 10):
        spec["hostNetwork"] = True
    metadata: dict[str, Any] = {"namespace": draw(st.sampled_from(["default", "locked"])), "creationTimestamp": None}
    if draw(st.booleans()):
        metadata["name"] = "pod-1"
    else:
        metadata["generateName"] = "web-7d9f8b6c5d-"
        if draw(st.booleans()):
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9f8b6c5d",
                    "uid": "u-1",
                    "controller": True,
                }
            ]
    labels = draw(
        st.sampled_from([{}, {"pod-template-hash": "7d9f8b6c5d"}, {"app.kubernetes.io/name": "shop", "team": "a"},
                         {"app.kubernetes.io/version": "1.4.2", "pod-template-hash": "7d9f8b6c5d"}])
    )  # fmt: skip
    if labels:
        metadata["labels"] = labels
    annotations = draw(annotation_maps(prefix, names))
    if annotations is not None:
        metadata["annotations"] = annotations
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": {}}
    return config_name, draw(st.booleans()), metadata["namespace"], pod


def _admit(pod: dict[str, Any], config: Config, namespace: str, *, by_default: bool) -> Any:
    return review(pod_create(pod, namespace), config, inject_by_default=by_default)


ANSWERS = {
    name: MemoizedReview(config) for name, config in CONFIGS.items()
}  # shared: examples hit each other's answers


def _sibling(pod: dict[str, Any]) -> dict[str, Any]:
    """The next pod of the same ReplicaSet, as far as the planner can tell: other name, image, labels but those
    otel reads (the ReplicaSet's own), env values."""
    sibling = copy.deepcopy(pod)
    metadata = sibling["metadata"]
    metadata.pop("name", None)
    metadata["generateName"] = "web-7d9f8b6c5d-"
    metadata["labels"] = {**metadata.get("labels", {}), "example.com/rollout": "2"}
    if isinstance(metadata.get("annotations"), dict):
        metadata["annotations"]["example.com/restarted-at"] = "2026-11-25T10:00:00Z"
    for container in sibling["spec"]["containers"]:
        container["image"] = "busybox:1.37"
        if container.get("env"):  # a name we never inject, into a list that exists
            container["env"].append({"name": "SIBLING_ONLY", "value": "1"})
    return sibling


def _check_memoized_answers(pod: dict[str, Any], config_name: str, namespace: str, *, by_default: bool) -> None:
    config, answers = CONFIGS[config_name], ANSWERS[config_name]
    for uid, candidate in (("first-uid", pod), ('sibling "uid"', _sibling(pod))):
        request = pod_create(candidate, namespace)
        request = dataclasses.replace(request, uid=uid)
        hits = answers.hits
        _, body = answers(request, inject_by_default=by_default)
        assert body == encode_answer(uid, review(request, config, inject_by_default=by_default))
        if candidate is not pod:
            assert answers.hits == hits + 1, "the sibling was not answered from the memo"


def _check_user_env_kept(pod: dict[str, Any], patched: dict[str, Any]) -> None:
    """Every env entry the user wrote is still there, in order; a value changes only by keys appended to the
    user's own OTEL_RESOURCE_ATTRIBUTES (never one of theirs changed)."""
    for kind in ("initContainers", "containers"):
        after = {c["name"]: c for c in patched["spec"].get(kind, [])}
        for container in pod["spec"].get(kind, []):
            mine = container.get("env") or []
            theirs = [e for e in after[container["name"]].get("env", []) if any(e["name"] == m["name"] for m in mine)]
            kept = [e for e in theirs if e in mine or e["name"] == "OTEL_RESOURCE_ATTRIBUTES"]
            assert len(kept) >= len(mine), f"{container['name']}: an env entry of the user's is gone"
            for before in mine:
                now = next(e for e in theirs if e["name"] == before["name"])
                if now != before:
                    event("the user's OTEL_RESOURCE_ATTRIBUTES extended")
                    assert before["name"] == "OTEL_RESOURCE_ATTRIBUTES"
                    assert now["value"].startswith(before["value"].rstrip(","))
                    assert set(keys_of(before["value"])) <= set(keys_of(now["value"]))


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_every_verdict_is_a_clear_denial_or_a_patch_the_apiserver_accepts(
    scenario: tuple[str, bool, str, dict[str, Any]],
) -> None:
    config_name, by_default, namespace, pod = scenario
    config = CONFIGS[config_name]
    assert check_pod(pod) == [], "the generator made a pod the apiserver would refuse"
    verdict = _admit(pod, config, namespace, by_default=by_default)
    _check_memoized_answers(pod, config_name, namespace, by_default=by_default)
    # pytest --hypothesis-show-statistics shows the spread of outcomes
    event(f"{verdict.outcome}: {verdict.reason if verdict.allowed else verdict.message[:40]}")

    if not verdict.allowed:
        assert verdict.outcome == "denied"
        assert not verdict.ops
        assert config.prefix in verdict.message, f"the denial names no annotation: {verdict.message}"
        return

    assert verdict.outcome in ("injected", "skipped", "unchanged")
    assert (verdict.outcome == "injected") == bool(verdict.ops)
    patched = apply_patch_like_apiserver(pod, verdict.ops)
    assert check_pod(patched, before=pod) == []
    for key in KNOWN_KEYS:
        if key != "status":
            assert patched["metadata"].get("annotations", {}).get(config.prefix + key) == (
                (pod["metadata"].get("annotations") or {}).get(config.prefix + key)
            ), "the webhook rewrote one of the user's annotations"

    _check_user_env_kept(pod, patched)

    again = _admit(as_reinvoked(patched), config, namespace, by_default=by_default)
    assert again.allowed, again.message
    assert again.outcome in ("unchanged", "skipped"), again.outcome
    assert not again.ops
