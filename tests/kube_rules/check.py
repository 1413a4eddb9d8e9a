"""check_pod: the rules of a whole pod the schema cannot see (volumes, names, what a patch may not touch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .containers import (
    _check_env,
    _check_mounts,
    _check_restart_and_probes,
    _check_token_untouched,
    _field_ref,
    _resource_ref,
    restricted_problems,
)
from .patch import _walk
from .rules import (
    LINUX_ONLY_SECURITY,
    SERVICE_ACCOUNT_VOLUME_PREFIX,
    VOLUME_FIELD_PATHS,
    _dict,
    _list,
    all_containers,
    is_dns_label,
)


def check_pod(pod: Mapping[str, Any], *, before: Mapping[str, Any] | None = None) -> list[str]:
    """Every rule the apiserver (or the kubelet) enforces that the schema cannot see; [] when the pod is fine.

    With `before` (the pod as the webhook received it), also: service-account token volumes and mounts are
    untouched, and every container that was added meets PodSecurity "restricted".
    """
    problems: list[str] = []
    spec = _dict(pod.get("spec"))
    volumes = {v.get("name"): v for v in map(_dict, _list(spec.get("volumes")))}
    container_names = [c.get("name") for _, c in all_containers(pod)]

    problems.extend(
        f"{path}: {item!r} is a float, not an integer" for path, item in _walk(pod, "pod") if isinstance(item, float)
    )
    problems.extend(_check_volumes(spec, set(container_names)))
    seen: set[Any] = set()
    for where, container in all_containers(pod):
        name = container.get("name")
        if not isinstance(name, str) or not is_dns_label(name):
            problems.append(f"{where}.name: {name!r} is not a DNS-1123 label")
        if name in seen:
            problems.append(f"{where}.name: {name!r} is not unique across containers and initContainers")
        seen.add(name)
        problems.extend(_check_env(container, where, set(container_names)))
        problems.extend(_check_mounts(container, where, volumes))
        problems.extend(_check_restart_and_probes(container, where))
        if _dict(spec.get("os")).get("name") == "windows":
            security = _dict(container.get("securityContext"))
            problems.extend(
                f"{where}.securityContext.{key}: cannot be set for a windows pod"
                for key in LINUX_ONLY_SECURITY
                if key in security
            )
    if before is not None:
        problems.extend(_check_token_untouched(before, pod))
        old_names = {c.get("name") for _, c in all_containers(before)}
        for where, container in all_containers(pod):
            if container.get("name") not in old_names:
                problems.extend(restricted_problems(container, spec, where))
    return problems


def _check_items(items: Any, where: str, containers: set[Any], *, projected: bool) -> list[str]:
    problems = []
    paths: set[Any] = set()
    for index, raw in enumerate(_list(items)):
        at = f"{where}.items[{index}]"
        item = _dict(raw)
        path = item.get("path")
        if not isinstance(path, str) or not path:
            problems.append(f"{at}.path: Required value")
        elif path.startswith("/") or ".." in path.split("/") or path.startswith(".."):
            problems.append(f"{at}.path: {path!r} must be relative and may not contain or start with '..'")
        if path in paths:
            problems.append(f"{at}.path: {path!r} is duplicated" + ("" if projected else " (we never emit that)"))
        paths.add(path)
        if "mode" in item:
            problems.extend(_mode(item["mode"], f"{at}.mode"))
        sources = [key for key in ("fieldRef", "resourceFieldRef") if item.get(key) is not None]
        if len(sources) != 1:
            problems.append(f"{at}: exactly one of fieldRef or resourceFieldRef is required, got {sources}")
        if "fieldRef" in sources:
            problems.extend(_field_ref(item["fieldRef"], f"{at}.fieldRef", VOLUME_FIELD_PATHS, "a downwardAPI volume"))
        if "resourceFieldRef" in sources:
            problems.extend(_resource_ref(item["resourceFieldRef"], f"{at}.resourceFieldRef", containers, volume=True))
    return problems


def _mode(value: Any, where: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool):
        return [f"{where}: {value!r} must be an integer"]
    if not 0 <= value <= 0o777:
        return [f"{where}: {value} must be between 0 and 0777 (511)"]
    return []


def _check_volumes(spec: Mapping[str, Any], containers: set[Any]) -> list[str]:
    problems = []
    names: set[Any] = set()
    for index, raw in enumerate(_list(spec.get("volumes"))):
        where = f"spec.volumes[{index}]"
        volume = _dict(raw)
        name = volume.get("name")
        if not isinstance(name, str) or not is_dns_label(name):
            problems.append(f"{where}.name: {name!r} is not a DNS-1123 label of at most 63 characters")
        if name in names:
            problems.append(f"{where}.name: {name!r} is duplicated")
        names.add(name)
        sources = [key for key in volume if key != "name"]
        if len(sources) != 1:
            problems.append(f"{where}: exactly one volume source is required, got {sources}")
        if isinstance(name, str) and name.startswith(SERVICE_ACCOUNT_VOLUME_PREFIX):
            token_sources = [
                s for s in _list(_dict(volume.get("projected")).get("sources")) if "serviceAccountToken" in _dict(s)
            ]
            if not token_sources:
                problems.append(f"{where}.name: {name!r} is reserved for the service-account token volume")
        if "downwardAPI" in volume:
            api = _dict(volume["downwardAPI"])
            if "defaultMode" in api:
                problems.extend(_mode(api["defaultMode"], f"{where}.downwardAPI.defaultMode"))
            problems.extend(_check_items(api.get("items"), f"{where}.downwardAPI", containers, projected=False))
        if "projected" in volume:
            projected = _dict(volume["projected"])
            if "defaultMode" in projected:
                problems.extend(_mode(projected["defaultMode"], f"{where}.projected.defaultMode"))
            for position, source in enumerate(_list(projected.get("sources"))):
                if "downwardAPI" in _dict(source):
                    problems.extend(
                        _check_items(
                            _dict(source["downwardAPI"]).get("items"),
                            f"{where}.projected.sources[{position}].downwardAPI",
                            containers,
                            projected=True,
                        )
                    )
    return problems
