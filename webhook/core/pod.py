"""What the planner may know of a Pod: the few facts it decides on, extracted once from the decoded object.

The pod is never round-tripped through a model: unknown fields would be dropped and the cost grows with the
pod. We read names, the env vars we could collide with, mount paths and ports, and check only the shapes we
rely on; anything else in the object is left exactly as the apiserver sent it.

A view holds nothing but those facts (no pod name, no uid, no env var we could never inject) and is hashable,
so two pods with equal views get the same decision: the pods of one ReplicaSet, Job or StatefulSet differ only
in what the planner never reads. webhook/answers.py memoizes decisions on it.

The views are NamedTuples, not frozen dataclasses: they are built, hashed and compared for every pod the
cluster creates, and a tuple does all three at C speed (a frozen dataclass sets each field through
object.__setattr__, and hashes and compares in Python).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple

from .annotations import FOREIGN_ANNOTATIONS
from .catalog import INJECTABLE_ENV_NAMES
from .errors import BadReview

# ServiceAccount admission names the projected token volume kube-api-access-<random>.
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # noqa: S105 - a volume name, not a secret


class UserEnv(NamedTuple):
    """The user's own entry for a name we could inject (the first one, if the user repeated the name)."""

    name: str
    value: str | None  # a literal value
    field_path: str | None  # valueFrom.fieldRef.fieldPath
    resource: str | None  # valueFrom.resourceFieldRef
    container_name: str | None
    divisor: str  # as written, turned into a string ("1m"; 1 -> "1"); "1" when absent


class ContainerView(NamedTuple):
    name: str
    list_name: str  # "containers" or "initContainers": where it lives in spec
    position: int  # its index in that list
    has_env: bool  # a non-empty env list: ours are inserted into it, else the list is created
    claimed: tuple[UserEnv, ...]  # the user's env vars with a name we could inject; usually none
    has_env_from: bool
    mount_paths: tuple[str, ...]  # volumeMounts[].mountPath and volumeDevices[].devicePath: both taken
    has_mounts: bool  # a non-empty volumeMounts list
    ports: tuple[int, ...]
    native_sidecar: bool

    @property
    def path(self) -> str:
        return f"/spec/{self.list_name}/{self.position}"

    def user_env(self, name: str) -> UserEnv | None:
        for entry in self.claimed:
            if entry.name == name:
                return entry
        return None


class PodView(NamedTuple):
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


_NAME = itemgetter("name")


def _strings(value: Any, key: str) -> tuple[str, ...] | None:
    """item[key] for each item of a list of objects, all strings (e.g. every volumeMounts[].mountPath); None when
    the value is anything else, for the caller to name the problem with _bad_strings (only bad input pays that)."""
    if value is None:
        return ()
    if value.__class__ is list:
        try:
            found = tuple(map(itemgetter(key), value))
        except (TypeError, KeyError):
            return None
        if not found or set(map(type, found)) == {str}:
            return found
    return None


def _bad_strings(value: Any, key: str, where: str) -> BadReview:
    items = _list(value, where)
    for position, item in enumerate(items):
        _string(_mapping(item, f"{where}[{position}]").get(key), f"{where}[{position}].{key}")
    return _invalid(f"{where}[*].{key}", "is required")


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


def _claimed(env: Any) -> tuple[UserEnv, ...] | None:
    """The user's env entries whose name we could inject, first occurrence of each name, in order; None when env
    is not a list of named objects.

    Env lists are the longest lists in a pod (hundreds of entries), so the usual case is one set test at C
    speed, without checking every name's type: a name that is not a string cannot collide with ours, and the
    apiserver, which sent the pod typed, never sends one.
    """
    if env is None:
        return ()
    if env.__class__ is not list:
        return None
    try:
        if INJECTABLE_ENV_NAMES.isdisjoint(map(_NAME, env)):
            return ()
        claimed: dict[str, UserEnv] = {}
        for entry in env:
            name = entry["name"]
            if name in INJECTABLE_ENV_NAMES and name not in claimed:
                claimed[name] = _user_env(entry)
    except (TypeError, KeyError):  # an entry that is no object, has no name, or an unhashable one
        return None
    return tuple(claimed.values())


def _ports(ports: Any, list_name: str, index: int) -> tuple[int, ...]:
    if ports.__class__ is not list:  # the location is formatted only for the error: it costs as much as the rest
        raise _invalid(f"spec.{list_name}[{index}].ports", "must be a list")
    return tuple(p["containerPort"] for p in ports if p.__class__ is dict and p.get("containerPort").__class__ is int)


def _container(raw: Any, list_name: str, index: int) -> ContainerView:
    if raw.__class__ is not dict:
        raise _invalid(f"spec.{list_name}[{index}]", "must be an object")
    name = raw.get("name")
    if name.__class__ is not str or not name:
        raise _invalid(f"spec.{list_name}[{index}].name", "is required and must be a string")
    env = raw.get("env")
    claimed = _claimed(env)
    if claimed is None:
        raise _bad_strings(env, "name", f"spec.{list_name}[{index}].env")
    mounts = raw.get("volumeMounts")
    mount_paths = _strings(mounts, "mountPath")
    if mount_paths is None:
        raise _bad_strings(mounts, "mountPath", f"spec.{list_name}[{index}].volumeMounts")
    devices = raw.get("volumeDevices")
    if devices:
        device_paths = _strings(devices, "devicePath")
        if device_paths is None:
            raise _bad_strings(devices, "devicePath", f"spec.{list_name}[{index}].volumeDevices")
        taken = mount_paths + device_paths
    else:
        taken = mount_paths
    ports = raw.get("ports")
    return ContainerView(  # positional: keywords cost as much again as building the tuple
        name,
        list_name,
        index,
        bool(env),  # has_env
        claimed,
        bool(raw.get("envFrom")),  # has_env_from
        taken,  # mount_paths
        bool(mount_paths),  # has_mounts
        _ports(ports, list_name, index) if ports else (),
        list_name == "initContainers" and raw.get("restartPolicy") == "Always",  # native_sidecar
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
    volumes = spec.get("volumes")
    volume_names = _strings(volumes, "name")
    if volume_names is None:
        raise _bad_strings(volumes, "name", "spec.volumes")
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
        volume_names=frozenset(volume_names),
        automount_token=automount if isinstance(automount, bool) else None,
        host_network=spec.get("hostNetwork") is True,
        os_name=os_name if isinstance(os_name, str) else "",
    )
