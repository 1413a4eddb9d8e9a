"""What the planner may know of a Pod: the few facts it decides on, extracted once from the decoded object.

The pod is never round-tripped through a model: unknown fields would be dropped and the cost grows with the
pod. We read names, the env vars we could collide with, mount paths and ports, and check only the shapes we
rely on; anything else in the object is left exactly as the apiserver sent it.

A view holds nothing but those facts (no pod name, no uid, no env var we could never inject) and is hashable,
so two pods with equal views get the same decision: the pods of one ReplicaSet, Job or StatefulSet differ only
in what the planner never reads. review.py memoizes decisions on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .annotations import FOREIGN_ANNOTATIONS
from .catalog import INJECTABLE_ENV_NAMES
from .errors import BadReview

# ServiceAccount admission names the projected token volume kube-api-access-<random>.
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # noqa: S105 - a volume name, not a secret


@dataclass(frozen=True, slots=True)
class UserEnv:
    """The user's own entry for a name we could inject (the first one, if the user repeated the name)."""

    name: str
    value: str | None  # a literal value
    field_path: str | None  # valueFrom.fieldRef.fieldPath
    resource: str | None  # valueFrom.resourceFieldRef
    container_name: str | None
    divisor: str  # as written, turned into a string ("1m"; 1 -> "1"); "1" when absent


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    list_name: str  # "containers" or "initContainers": where it lives in spec
    index: int
    has_env: bool  # a non-empty env list: ours are inserted into it, else the list is created
    claimed: tuple[UserEnv, ...]  # the user's env vars with a name we could inject; usually none
    has_env_from: bool
    mount_paths: tuple[str, ...]  # volumeMounts[].mountPath and volumeDevices[].devicePath: both taken
    has_mounts: bool  # a non-empty volumeMounts list
    ports: tuple[int, ...]
    native_sidecar: bool

    @property
    def path(self) -> str:
        return f"/spec/{self.list_name}/{self.index}"

    def user_env(self, name: str) -> UserEnv | None:
        for entry in self.claimed:
            if entry.name == name:
                return entry
        return None


@dataclass(frozen=True, slots=True)
class PodView:
    # Ours (under the operator's prefix) and the few others the planner reads, in the pod's order.
    annotations: tuple[tuple[str, str], ...]
    annotations_present: bool  # a map exists (possibly empty) and keys can be added under it
    containers: tuple[ContainerView, ...]
    init_containers: tuple[ContainerView, ...]
    volume_names: frozenset[str]
    automount_token: bool | None
    host_network: bool
    os_name: str  # spec.os.name: "linux", "windows" or "" when unset

    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)

    @property
    def volume_count(self) -> int:
        return len(self.volume_names)

    @property
    def token_volume(self) -> str | None:
        """The kube-api-access-* volume ServiceAccount admission added, if any."""
        return min((n for n in self.volume_names if n.startswith(TOKEN_VOLUME_PREFIX)), default=None)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadReview(f"request.object is not a valid Pod: {where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadReview(f"request.object is not a valid Pod: {where} must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadReview(f"request.object is not a valid Pod: {where} must be a string")
    return value


def string_map(value: Any, where: str) -> dict[str, str]:
    result = _mapping(value, where)
    for key, item in result.items():
        if not isinstance(item, str):
            raise BadReview(f"request.object is not a valid Pod: {where}[{key!r}] must be a string")
    return result


def _invalid(where: str, problem: str) -> BadReview:
    return BadReview(f"request.object is not a valid Pod: {where} {problem}")


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    """item[key] for each item of a list of objects, all strings (e.g. every volumeMounts[].mountPath).

    The hot path is one pass at C speed over well-formed input; only bad input pays for naming the bad entry.
    """
    if value is None:
        return ()
    if value.__class__ is list:
        try:
            found = tuple(map(itemgetter(key), value))
        except (TypeError, KeyError):
            pass
        else:
            if not found or set(map(type, found)) == {str}:
                return found
    items = _list(value, where)
    for position, item in enumerate(items):
        _string(_mapping(item, f"{where}[{position}]").get(key), f"{where}[{position}].{key}")
    raise _invalid(f"{where}[*].{key}", "is required")


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _user_env(entry: dict[str, Any]) -> UserEnv:
    value_from = entry.get("valueFrom")
    value_from = value_from if isinstance(value_from, dict) else {}
    field_ref = value_from.get("fieldRef")
    resource_ref = value_from.get("resourceFieldRef")
    field_ref = field_ref if isinstance(field_ref, dict) else {}
    resource_ref = resource_ref if isinstance(resource_ref, dict) else {}
    return UserEnv(
        name=entry["name"],
        value=_optional_string(entry.get("value")),
        field_path=_optional_string(field_ref.get("fieldPath")),
        resource=_optional_string(resource_ref.get("resource")),
        container_name=_optional_string(resource_ref.get("containerName")),
        divisor=str(resource_ref.get("divisor", "1")),
    )


def _claimed(value: Any, where: str) -> tuple[UserEnv, ...]:
    """The user's env entries whose name we could inject, first occurrence of each name, in order."""
    names = _strings(value, "name", where + ".env")
    if INJECTABLE_ENV_NAMES.isdisjoint(names):  # the usual case: one set operation at C speed
        return ()
    claimed: dict[str, UserEnv] = {}
    for entry in value:
        name = entry["name"]
        if name in INJECTABLE_ENV_NAMES and name not in claimed:
            claimed[name] = _user_env(entry)
    return tuple(claimed.values())


def _container(raw: Any, list_name: str, index: int) -> ContainerView:
    if raw.__class__ is not dict:
        raise _invalid(f"spec.{list_name}[{index}]", "must be an object")
    name = raw.get("name")
    if name.__class__ is not str or not name:
        raise _invalid(f"spec.{list_name}[{index}].name", "is required and must be a string")
    env_list = raw.get("env")
    mounts = raw.get("volumeMounts")
    devices = raw.get("volumeDevices")
    ports = raw.get("ports")
    where = f"spec.{list_name}[{index}]"
    mount_paths = _strings(mounts, "mountPath", where + ".volumeMounts")
    return ContainerView(
        name=name,
        list_name=list_name,
        index=index,
        has_env=bool(env_list),
        claimed=_claimed(env_list, where),
        has_env_from=bool(raw.get("envFrom")),
        mount_paths=mount_paths + _strings(devices, "devicePath", where + ".volumeDevices") if devices else mount_paths,
        has_mounts=bool(mount_paths),
        ports=tuple(
            p["containerPort"]
            for p in _list(ports, where + ".ports")
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
        )
        if ports
        else (),
        native_sidecar=list_name == "initContainers" and raw.get("restartPolicy") == "Always",
    )


def view_pod(obj: Any, prefix: str) -> PodView:
    """Extract the planner's view (annotations: those under `prefix` and the few others the planner reads);
    raise BadReview when the object does not have a Pod's shape."""
    pod = _mapping(obj, "the object")
    if not pod:
        raise BadReview("request.object is missing")
    metadata = _mapping(pod.get("metadata"), "metadata")
    spec = _mapping(pod.get("spec"), "spec")
    raw_annotations = metadata.get("annotations")
    annotations = string_map(raw_annotations, "metadata.annotations")
    containers = tuple(
        _container(c, "containers", i) for i, c in enumerate(_list(spec.get("containers"), "spec.containers"))
    )
    if not containers:
        raise BadReview("request.object is not a valid Pod: spec.containers is empty")
    raw_init = spec.get("initContainers")
    init_containers = (
        tuple(_container(c, "initContainers", i) for i, c in enumerate(_list(raw_init, "spec.initContainers")))
        if raw_init
        else ()
    )
    automount = spec.get("automountServiceAccountToken")
    os_spec = spec.get("os")
    os_name = os_spec.get("name") if isinstance(os_spec, dict) else None
    return PodView(
        annotations=tuple(
            item for item in annotations.items() if item[0].startswith(prefix) or item[0] in FOREIGN_ANNOTATIONS
        ),
        annotations_present=isinstance(raw_annotations, dict),
        containers=containers,
        init_containers=init_containers,
        volume_names=frozenset(_strings(spec.get("volumes"), "name", "spec.volumes")),
        automount_token=automount if isinstance(automount, bool) else None,
        host_network=spec.get("hostNetwork") is True,
        os_name=os_name if isinstance(os_name, str) else "",
    )
