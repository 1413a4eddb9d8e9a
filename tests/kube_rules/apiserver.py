"""What the apiserver does around a webhook: the AdmissionRequest it sends, defaulting, ServiceAccount admission."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from webhook.core.answer import AdmissionRequest

from .quantities import canonical_quantity
from .rules import (
    MIRROR_ANNOTATION,
    SERVICE_ACCOUNT_MOUNT_PATH,
    SERVICE_ACCOUNT_VOLUME_PREFIX,
    _dict,
    _list,
    all_containers,
)


def _image_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_items(items: Any) -> None:
    for item in map(_dict, _list(items)):
        if "fieldRef" in item:
            item["fieldRef"].setdefault("apiVersion", "v1")
        if "resourceFieldRef" in item:
            ref = item["resourceFieldRef"]
            ref["divisor"] = canonical_quantity(str(ref.get("divisor", "0")))


def default_pod(original: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the pod with the v1 defaulting funcs applied (the fields that matter here, not every one)."""
    pod = copy.deepcopy(dict(original))
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    if spec.get("serviceAccountName"):
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for _, container in all_containers(pod):
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", _image_pull_policy(str(container.get("image", ""))))
        for port in map(_dict, _list(container.get("ports"))):
            port.setdefault("protocol", "TCP")
        for entry in map(_dict, _list(container.get("env"))):
            value_from = _dict(entry.get("valueFrom"))
            if "fieldRef" in value_from:
                value_from["fieldRef"].setdefault("apiVersion", "v1")
            if "resourceFieldRef" in value_from:
                ref = value_from["resourceFieldRef"]
                ref["divisor"] = canonical_quantity(str(ref.get("divisor", "0")))
    for volume in map(_dict, _list(spec.get("volumes"))):
        for kind in ("downwardAPI", "configMap", "secret", "projected"):
            if kind in volume:
                volume[kind].setdefault("defaultMode", 0o644)
        _default_items(_dict(volume.get("downwardAPI")).get("items"))
        for source in map(_dict, _list(_dict(volume.get("projected")).get("sources"))):
            _default_items(_dict(source.get("downwardAPI")).get("items"))
    return pod


def serviceaccount_admission(original: Mapping[str, Any]) -> dict[str, Any]:
    """The ServiceAccount plugin, re-run after a webhook changed the pod: token mount in every new container."""
    pod = copy.deepcopy(dict(original))
    spec = _dict(pod.get("spec"))
    if MIRROR_ANNOTATION in _dict(_dict(pod.get("metadata")).get("annotations")):
        return pod
    if spec.get("automountServiceAccountToken") is False:
        return pod
    tokens = [
        v["name"]
        for v in map(_dict, _list(spec.get("volumes")))
        if str(v.get("name", "")).startswith(SERVICE_ACCOUNT_VOLUME_PREFIX) and "projected" in v
    ]
    if not tokens:
        return pod
    for list_name in ("initContainers", "containers"):
        for container in map(_dict, _list(spec.get(list_name))):
            mounts = _list(container.get("volumeMounts"))
            if not any(_dict(m).get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for m in mounts):
                container["volumeMounts"] = [
                    *mounts,
                    {"name": tokens[0], "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH},
                ]
    return pod


def as_reinvoked(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod a reinvoked webhook sees: our patch defaulted, then the built-in plugins run again."""
    return serviceaccount_admission(default_pod(pod))


def service_account_volume(suffix: str = "7x2kq") -> dict[str, Any]:
    """The projected token volume ServiceAccount admission adds (1.22+), as the apiserver sends it."""
    return {
        "name": SERVICE_ACCOUNT_VOLUME_PREFIX + suffix,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def service_account_mount(suffix: str = "7x2kq") -> dict[str, Any]:
    return {"name": SERVICE_ACCOUNT_VOLUME_PREFIX + suffix, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}


def pod_create(pod: dict[str, Any], namespace: str) -> AdmissionRequest:
    """The AdmissionRequest the apiserver builds for a Pod CREATE (a copy of the pod, as sent on the wire)."""
    return AdmissionRequest(
        uid="0b1c5c4e-8d0f-4d6a-9a38-9f3f0e0f6f01",
        group="",
        version="v1",
        kind="Pod",
        sub_resource="",
        operation="CREATE",
        namespace=namespace,
        name=pod.get("metadata", {}).get("name", ""),  # "" for generateName pods
        obj=copy.deepcopy(pod),
        dry_run=False,
    )
