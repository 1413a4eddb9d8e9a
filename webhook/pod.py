"""A read-only view of the few Pod fields the planner needs, extracted once from the decoded object.

The pod is never round-tripped through a model: unknown fields would be dropped and the cost grows with the
pod. We read names, env var names and mount paths, and check only the shapes we rely on; anything else in
the object is left exactly as the apiserver sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadReview

# ServiceAccount admission names the projected token volume kube-api-access-<random>.
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # noqa: S105 - a volume name, not a secret


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    list_name: str  # "containers" or "initContainers": where it lives in spec
    index: int
    env: Mapping[str, Any]  # name -> the user's env entry (the first one, if the user repeated a name)
    env_count: int  # entries in the env list (0 when absent or null)
    has_env_from: bool
    mount_paths: tuple[str, ...]  # volumeMounts[].mountPath and volumeDevices[].devicePath: both taken
    mount_count: int
    ports: tuple[int, ...]
    native_sidecar: bool

    @property
    def path(self) -> str:
        return f"/spec/{self.list_name}/{self.index}"


@dataclass(frozen=True, slots=True)
class PodView:
    name: str
    generate_name: str
    annotations: Mapping[str, str]
    annotations_present: bool  # a map exists (possibly empty) and keys can be added under it
    containers: tuple[ContainerView, ...]
    init_containers: tuple[ContainerView, ...]
    volume_names: frozenset[str]
    volume_count: int
    automount_token: bool | None
    host_network: bool
    os_name: str  # spec.os.name: "linux", "windows" or "" when unset
    token_volume: str | None  # the kube-api-access-* volume ServiceAccount admission added, if any

    @property
    def display_name(self) -> str:
        return self.name or (self.generate_name + "*" if self.generate_name else "(unnamed)")

    def container_names(self) -> frozenset[str]:
        return frozenset(c.name for c in (*self.containers, *self.init_containers))


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

    The hot path is one generator over well-formed input; only bad input pays for naming the bad entry.
    """
    if value is None:
        return ()
    if value.__class__ is list:
        try:
            found = tuple(item[key] for item in value)
        except (TypeError, KeyError):
            pass
        else:
            if not found or set(map(type, found)) == {str}:
                return found
    items = _list(value, where)
    for position, item in enumerate(items):
        _string(_mapping(item, f"{where}[{position}]").get(key), f"{where}[{position}].{key}")
    raise _invalid(f"{where}[*].{key}", "is required")


def _env_entries(value: Any, where: str) -> dict[str, Any]:
    """name -> the user's entry (the first one, where a name repeats)."""
    if value is None:
        return {}
    if value.__class__ is list:
        try:
            # The hot path for large pods (1000 env vars): one comprehension, reversed so the first wins.
            env = {item["name"]: item for item in reversed(value)}
        except (TypeError, KeyError):
            pass  # not the shape the apiserver sends: find and name the bad entry below
        else:
            if not env or set(map(type, env)) == {str}:  # map/set: C speed, unlike a generator
                return env
    _strings(value, "name", where + ".env")
    raise _invalid(where + ".env", "has an entry without a name")


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
        env=_env_entries(env_list, where),
        env_count=len(env_list) if env_list else 0,
        has_env_from=bool(raw.get("envFrom")),
        mount_paths=mount_paths + _strings(devices, "devicePath", where + ".volumeDevices") if devices else mount_paths,
        mount_count=len(mount_paths),
        ports=tuple(
            p["containerPort"]
            for p in _list(ports, where + ".ports")
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
        )
        if ports
        else (),
        native_sidecar=list_name == "initContainers" and raw.get("restartPolicy") == "Always",
    )


def view_pod(obj: Any) -> PodView:
    """Extract the planner's view; raise BadReview when the object does not have a Pod's shape."""
    pod = _mapping(obj, "the object")
    if not pod:
        raise BadReview("request.object is missing")
    metadata = _mapping(pod.get("metadata"), "metadata")
    spec = _mapping(pod.get("spec"), "spec")
    raw_annotations = metadata.get("annotations")
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
    volume_names = frozenset(_strings(spec.get("volumes"), "name", "spec.volumes"))
    automount = spec.get("automountServiceAccountToken")
    os_spec = spec.get("os")
    os_name = os_spec.get("name") if isinstance(os_spec, dict) else None
    return PodView(
        name=_string(metadata.get("name"), "metadata.name"),
        generate_name=_string(metadata.get("generateName"), "metadata.generateName"),
        annotations=string_map(raw_annotations, "metadata.annotations"),
        annotations_present=isinstance(raw_annotations, dict),
        containers=containers,
        init_containers=init_containers,
        volume_names=volume_names,
        volume_count=len(volume_names),
        automount_token=automount if isinstance(automount, bool) else None,
        host_network=spec.get("hostNetwork") is True,
        os_name=os_name if isinstance(os_name, str) else "",
        token_volume=min((n for n in volume_names if n.startswith(TOKEN_VOLUME_PREFIX)), default=None),
    )
