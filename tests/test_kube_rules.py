"""tests/kube_rules.py checks the webhook's output; these tests check kube_rules: every rule can fail."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from tests import kube_rules
from tests.kube_rules import (
    SCHEMA_VERSIONS,
    PatchRejected,
    apply_patch_like_apiserver,
    as_reinvoked,
    canonical_quantity,
    check_pod,
    default_pod,
    service_account_mount,
    service_account_volume,
    serviceaccount_admission,
    validate_schema,
)


def make_pod() -> dict[str, Any]:
    """A small valid pod as the apiserver sends it: a token volume, a downward volume, a native sidecar."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "annotations": {"a/b": "c"}},
        "spec": {
            "volumes": [
                service_account_volume(),
                {
                    "name": "info",
                    "downwardAPI": {
                        "defaultMode": 420,
                        "items": [
                            {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
                            {
                                "path": "cpu",
                                "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"},
                            },
                        ],
                    },
                },
            ],
            "initContainers": [
                {
                    "name": "proxy",
                    "image": "p:1",
                    "restartPolicy": "Always",
                    "startupProbe": {"exec": {"command": ["x"]}},
                }
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
                        {
                            "name": "MEM",
                            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
                        },
                        {"name": "PLAIN", "value": "$(POD_NAME)"},
                    ],
                    "volumeMounts": [service_account_mount(), {"name": "info", "mountPath": "/etc/info"}],
                }
            ],
        },
    }


def test_the_reference_pod_is_valid() -> None:
    pod = make_pod()
    assert check_pod(pod) == []
    assert check_pod(pod, before=copy.deepcopy(pod)) == []
    for version in SCHEMA_VERSIONS:
        assert validate_schema(pod, version) == []


# --- apply_patch_like_apiserver ------------------------------------------------------------------------------


def test_patch_add_creates_and_appends() -> None:
    pod = make_pod()
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/containers/0/env/0", "value": {"name": "FIRST", "value": "1"}},
        {"op": "add", "path": "/spec/containers/0/volumeMounts/2", "value": {"name": "info", "mountPath": "/x"}},
        {"op": "add", "path": "/spec/volumes/-", "value": {"name": "more", "emptyDir": {}}},
        {"op": "add", "path": "/metadata/annotations/downward.dev~1status", "value": "{}"},
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "d"},
    ]
    patched = apply_patch_like_apiserver(pod, ops)
    assert patched["spec"]["containers"][0]["env"][0]["name"] == "FIRST"
    assert patched["spec"]["containers"][0]["volumeMounts"][2]["mountPath"] == "/x"
    assert patched["spec"]["volumes"][-1]["name"] == "more"
    assert patched["metadata"]["annotations"] == {"a/b": "d", "downward.dev/status": "{}"}
    assert pod == make_pod(), "the input must not be modified"


@pytest.mark.parametrize(
    ("op", "complaint"),
    [
        ({"op": "add", "path": "/spec/initContainers/0/env/-", "value": {}}, "doc is missing path"),
        ({"op": "add", "path": "/status/conditions/0", "value": {}}, "doc is missing path"),
        ({"op": "add", "path": "/spec/containers/0/env/5", "value": {}}, "out of range"),
        ({"op": "add", "path": "/spec/containers/0/env/01", "value": {}}, "not an array index"),
        ({"op": "add", "path": "/spec/containers/0/env/-1", "value": {}}, "not an array index"),
        ({"op": "add", "path": "", "value": {}}, "whole document"),
        ({"op": "add", "path": "metadata", "value": {}}, "starts with /"),
        ({"op": "add", "path": "/metadata/annotations/a~b", "value": "x"}, "must be escaped"),
        ({"op": "replace", "path": "/spec/containers/3", "value": {}}, "out of range"),
        ({"op": "replace", "path": "/metadata/labels", "value": {}}, "RFC 6902"),
        ({"op": "remove", "path": "/metadata/annotations"}, "no business"),
        ({"op": "add", "path": "/spec/volumes/1/downwardAPI/defaultMode", "value": 420.0}, "float"),
        ({"op": "add", "path": "/spec/hostname"}, "missing value"),
    ],
)
def test_patch_rules_of_evanphx_v4(op: dict[str, Any], complaint: str) -> None:
    with pytest.raises(PatchRejected, match=complaint):
        apply_patch_like_apiserver(make_pod(), [op])


def test_patch_under_a_null_parent_fails() -> None:
    pod = make_pod()
    pod["metadata"]["annotations"] = None
    with pytest.raises(PatchRejected, match="doc is missing path /metadata/annotations"):
        apply_patch_like_apiserver(pod, [{"op": "add", "path": "/metadata/annotations/x", "value": "y"}])


def test_patch_engines_must_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    def sloppy(document: Any, ops: Any) -> Any:
        document["extra"] = True
        return document

    monkeypatch.setattr(jsonpatch, "apply_patch", sloppy)  # the engine `inject` uses offline
    with pytest.raises(PatchRejected, match="disagree"):
        apply_patch_like_apiserver(make_pod(), [])


# --- check_pod -----------------------------------------------------------------------------------------------


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _items(pod: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = pod["spec"]["volumes"][1]["downwardAPI"]["items"]
    return items


def _env(name: str, value_from: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "valueFrom": value_from}


BREAKAGES: list[tuple[str, Any, str]] = [
    # env fieldRef
    (
        "env-labels-unsubscripted",
        lambda p: _container(p)["env"].append(_env("L", {"fieldRef": {"fieldPath": "metadata.labels"}})),
        "is not supported in env",
    ),
    (
        "env-unknown-field",
        lambda p: _container(p)["env"].append(_env("L", {"fieldRef": {"fieldPath": "spec.hostname"}})),
        "is not supported in env",
    ),
    (
        "env-bad-label-key",
        lambda p: _container(p)["env"].append(_env("L", {"fieldRef": {"fieldPath": "metadata.labels['a b']"}})),
        "is not a valid label key",
    ),
    (
        "env-api-version",
        lambda p: _container(p)["env"].append(
            _env("L", {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}})
        ),
        "is not v1",
    ),
    # env resourceFieldRef
    (
        "env-resource",
        lambda p: _container(p)["env"].append(_env("R", {"resourceFieldRef": {"resource": "requests.gpu"}})),
        "resource: 'requests.gpu' is not supported",
    ),
    (
        "env-divisor-1024",
        lambda p: _container(p)["env"].append(
            _env("R", {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1024"}})
        ),
        "canonically '1024'",
    ),
    (
        "env-cpu-divisor-Ki",
        lambda p: _container(p)["env"].append(
            _env("R", {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1Ki"}})
        ),
        "is not allowed for requests.cpu",
    ),
    (
        "env-missing-container",
        lambda p: _container(p)["env"].append(
            _env("R", {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "ghost"}})
        ),
        "no container 'ghost'",
    ),
    # env entries
    (
        "env-name-digit",
        lambda p: _container(p)["env"].append({"name": "1ABC", "value": "x"}),
        "not a valid env var name",
    ),
    (
        "env-name-equals",
        lambda p: _container(p)["env"].append({"name": "A=B", "value": "x"}),
        "not a valid env var name",
    ),
    ("env-duplicate", lambda p: _container(p)["env"].append({"name": "POD_NAME", "value": "x"}), "defined twice"),
    ("env-value-and-from", lambda p: _container(p)["env"][0].update(value="x"), "may not be specified when value"),
    (
        "env-two-sources",
        lambda p: _container(p)["env"][0]["valueFrom"].update(resourceFieldRef={"resource": "limits.cpu"}),
        "exactly one source",
    ),
    # volume items
    (
        "volume-spec-field",
        lambda p: _items(p).append({"path": "node", "fieldRef": {"fieldPath": "spec.nodeName"}}),
        "not supported in a downwardAPI volume",
    ),
    (
        "volume-status-field",
        lambda p: _items(p).append({"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}),
        "not supported in a downwardAPI volume",
    ),
    (
        "volume-no-container-name",
        lambda p: _items(p).append({"path": "mem", "resourceFieldRef": {"resource": "limits.memory", "divisor": "1"}}),
        "containerName: Required",
    ),
    (
        "volume-missing-container",
        lambda p: _items(p).append(
            {"path": "mem", "resourceFieldRef": {"containerName": "ghost", "resource": "limits.memory"}}
        ),
        "no container 'ghost'",
    ),
    (
        "volume-divisor",
        lambda p: _items(p).append(
            {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "2Ki"}}
        ),
        "is not allowed",
    ),
    ("item-absolute", lambda p: _items(p)[0].update(path="/labels"), "must be relative"),
    ("item-dotdot", lambda p: _items(p)[0].update(path="a/../b"), "must be relative"),
    ("item-starts-dotdot", lambda p: _items(p)[0].update(path="..data"), "must be relative"),
    ("item-no-path", lambda p: _items(p)[0].pop("path"), "path: Required"),
    ("item-duplicate", lambda p: _items(p).append(copy.deepcopy(_items(p)[0])), "duplicated"),
    (
        "item-two-refs",
        lambda p: _items(p)[0].update(resourceFieldRef={"resource": "limits.cpu", "containerName": "app"}),
        "exactly one of fieldRef",
    ),
    ("item-mode", lambda p: _items(p)[0].update(mode=0o1777), "between 0 and 0777"),
    # volumes
    ("volume-name-upper", lambda p: p["spec"]["volumes"][1].update(name="Info"), "not a DNS-1123 label"),
    ("volume-name-64", lambda p: p["spec"]["volumes"].append({"name": "v" * 64, "emptyDir": {}}), "at most 63"),
    ("volume-duplicate", lambda p: p["spec"]["volumes"].append({"name": "info", "emptyDir": {}}), "is duplicated"),
    ("volume-two-sources", lambda p: p["spec"]["volumes"][1].update(emptyDir={}), "exactly one volume source"),
    (
        "volume-float-mode",
        lambda p: p["spec"]["volumes"][1]["downwardAPI"].update(defaultMode=420.0),
        "must be an integer",
    ),
    ("float-anywhere", lambda p: p["spec"].update(terminationGracePeriodSeconds=30.0), "is a float"),
    (
        "volume-reserved-name",
        lambda p: p["spec"]["volumes"].append({"name": "kube-api-access-abcde", "emptyDir": {}}),
        "reserved for the service-account token",
    ),
    # mounts
    (
        "mount-unknown-volume",
        lambda p: _container(p)["volumeMounts"].append({"name": "ghost", "mountPath": "/g"}),
        "Not found",
    ),
    (
        "mount-duplicate-path",
        lambda p: _container(p)["volumeMounts"].append({"name": "info", "mountPath": "/etc/info"}),
        "must be unique",
    ),
    (
        "mount-empty-path",
        lambda p: _container(p)["volumeMounts"].append({"name": "info", "mountPath": ""}),
        "mountPath: Required",
    ),
    ("mount-subpath", lambda p: _container(p)["volumeMounts"][1].update(subPath="labels"), "never sees updates"),
    (
        "mount-device-path",
        lambda p: _container(p).update(volumeDevices=[{"name": "blk", "devicePath": "/etc/info"}]),
        "must not already exist as a path in volumeDevices",
    ),
    # containers
    ("container-duplicate", lambda p: p["spec"]["initContainers"][0].update(name="app"), "not unique"),
    ("container-upper", lambda p: _container(p).update(name="App"), "not a DNS-1123 label"),
    ("restart-on-regular", lambda p: _container(p).update(restartPolicy="Always"), "may not be set for non-init"),
    ("restart-never-init", lambda p: p["spec"]["initContainers"][0].update(restartPolicy="Never"), "only Always"),
    ("probe-on-plain-init", lambda p: p["spec"]["initContainers"][0].pop("restartPolicy"), "startupProbe: Forbidden"),
    (
        "windows",
        lambda p: (p["spec"].update(os={"name": "windows"}), _container(p).update(securityContext={"runAsUser": 1000})),
        "cannot be set for a windows pod",
    ),
]


@pytest.mark.parametrize(("breakage", "complaint"), [(b, c) for _, b, c in BREAKAGES], ids=[n for n, _, _ in BREAKAGES])
def test_check_pod_complains(breakage: Any, complaint: str) -> None:
    pod = make_pod()
    breakage(pod)
    problems = check_pod(pod)
    assert any(complaint in problem for problem in problems), problems


def test_hugepages_and_canonical_divisors_are_accepted() -> None:
    pod = make_pod()
    _container(pod)["env"] += [
        _env("HP", {"resourceFieldRef": {"resource": "limits.hugepages-2Mi", "divisor": "1Mi"}}),
        _env("CPU", {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1000m"}}),  # canonically "1"
        _env("ZERO", {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "0"}}),  # unset
    ]
    assert check_pod(pod) == []


def test_token_volume_and_mounts_must_stay_untouched() -> None:
    before = make_pod()
    changed = make_pod()
    changed["spec"]["volumes"][0]["projected"]["defaultMode"] = 0o600
    assert "kube-api-access-*) was changed" in " ".join(check_pod(changed, before=before))
    unmounted = make_pod()
    del _container(unmounted)["volumeMounts"][0]
    assert any("token mount was changed" in p for p in check_pod(unmounted, before=before))


def _added(security: dict[str, Any] | None, pod_security: dict[str, Any] | None = None) -> list[str]:
    before = make_pod()
    after = make_pod()
    if pod_security is not None:
        before["spec"]["securityContext"] = after["spec"]["securityContext"] = pod_security
    container: dict[str, Any] = {"name": "added", "image": "x:1"}
    if security is not None:
        container["securityContext"] = security
    after["spec"]["containers"].append(container)
    return check_pod(after, before=before)


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_added_containers_must_be_restricted() -> None:
    assert _added(RESTRICTED) == []
    assert _added({**RESTRICTED, "runAsNonRoot": None}, {"runAsNonRoot": True}) == []  # the pod's setting counts
    complaints = " ".join(_added(None))
    for needed in ("allowPrivilegeEscalation", "drop must include ALL", "runAsNonRoot", "seccompProfile"):
        assert needed in complaints
    assert "privileged must not be true" in " ".join(_added({**RESTRICTED, "privileged": True}))
    assert "runAsUser must not be 0" in " ".join(_added({**RESTRICTED, "runAsUser": 0}))
    assert "NET_BIND_SERVICE" in " ".join(
        _added({**RESTRICTED, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}})
    )
    assert "seccompProfile" in " ".join(_added({**RESTRICTED, "seccompProfile": {"type": "Unconfined"}}))


# --- validate_schema -----------------------------------------------------------------------------------------


def test_schema_refuses_unknown_fields_and_wrong_types() -> None:
    pod = make_pod()
    _container(pod)["envv"] = []
    pod["spec"]["volumes"][1]["downwardAPI"]["defaultMode"] = "420"
    for version in SCHEMA_VERSIONS:
        problems = validate_schema(pod, version)
        assert any("'envv' was unexpected" in p for p in problems), problems
        assert any("defaultMode" in p for p in problems), problems


def test_schema_versions_are_the_ones_installed() -> None:
    with pytest.raises(ValueError, match=r"no schema for 1\.24"):
        validate_schema(make_pod(), "1.24")


# --- quantities, defaulting, re-admission --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1", "1"),
        ("1m", "1m"),
        ("1000m", "1"),
        ("0.001", "1m"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("1024", "1024"),
        ("1Ki", "1Ki"),
        ("1024Ki", "1Mi"),
        ("0.5Ki", "512"),
        ("100Ki", "100Ki"),
        ("1M", "1M"),
        ("1e3", "1e3"),
        ("0", "0"),
    ],
)
def test_canonical_quantity(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


def test_default_pod_fills_what_the_apiserver_fills() -> None:
    pod = make_pod()
    pod["spec"]["volumes"][1]["downwardAPI"].pop("defaultMode")
    defaulted = default_pod(pod)
    app = _container(defaulted)
    assert app["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert app["env"][2]["valueFrom"]["resourceFieldRef"]["divisor"] == "1Mi"
    assert app["imagePullPolicy"] == "IfNotPresent"
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert defaulted["spec"]["initContainers"][0]["terminationMessagePolicy"] == "File"
    assert defaulted["spec"]["volumes"][1]["downwardAPI"]["defaultMode"] == 420
    assert defaulted["spec"]["dnsPolicy"] == "ClusterFirst"
    assert default_pod(defaulted) == defaulted
    assert check_pod(defaulted) == []


def test_serviceaccount_admission_mounts_the_token_in_new_containers_only() -> None:
    pod = make_pod()
    pod["spec"]["containers"].append({"name": "new", "image": "x:1"})
    readmitted = serviceaccount_admission(pod)
    assert readmitted["spec"]["containers"][1]["volumeMounts"] == [service_account_mount()]
    assert readmitted["spec"]["containers"][0]["volumeMounts"] == _container(pod)["volumeMounts"]
    assert serviceaccount_admission(readmitted) == readmitted
    pod["metadata"]["annotations"][kube_rules.MIRROR_ANNOTATION] = "hash"
    assert serviceaccount_admission(pod) == pod
    assert check_pod(as_reinvoked(make_pod())) == []
