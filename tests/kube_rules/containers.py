"""The rules of one container: env and its references, mounts, probes, and PodSecurity "restricted"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .quantities import canonical_quantity
from .rules import (
    _ENV_NAME,
    _SUBSCRIPTED,
    CPU_DIVISORS,
    ENV_FIELD_PATHS,
    HUGEPAGES_PREFIXES,
    MEMORY_DIVISORS,
    PROBES,
    RESOURCES,
    SERVICE_ACCOUNT_MOUNT_PATH,
    SERVICE_ACCOUNT_VOLUME_PREFIX,
    VALUE_FROM_SOURCES,
    _dict,
    _is_qualified_name,
    _list,
    all_containers,
)


def _field_ref(ref: Any, where: str, allowed: frozenset[str], place: str) -> list[str]:
    ref = _dict(ref)
    problems = []
    if ref.get("apiVersion", "v1") != "v1":
        problems.append(f"{where}.apiVersion: {ref.get('apiVersion')!r} is not v1")
    path = ref.get("fieldPath")
    subscripted = _SUBSCRIPTED.match(path) if isinstance(path, str) else None
    if subscripted:
        key = subscripted.group(2)
        label = subscripted.group(1) == "metadata.labels"
        if not _is_qualified_name(key if label else key.lower()):
            problems.append(f"{where}.fieldPath: {key!r} is not a valid {'label' if label else 'annotation'} key")
    elif path not in allowed:
        problems.append(f"{where}.fieldPath: {path!r} is not supported in {place}")
    return problems


def _resource_ref(ref: Any, where: str, containers: set[Any], *, volume: bool) -> list[str]:
    ref = _dict(ref)
    problems = []
    container = ref.get("containerName")
    if volume and not container:
        problems.append(f"{where}.containerName: Required value (in a downwardAPI volume)")
    elif container and container not in containers:
        problems.append(f"{where}.containerName: no container {container!r} in this pod (the kubelet fails the pod)")
    resource = ref.get("resource")
    if not isinstance(resource, str) or (resource not in RESOURCES and not resource.startswith(HUGEPAGES_PREFIXES)):
        problems.append(f"{where}.resource: {resource!r} is not supported")
        return problems
    divisor = ref.get("divisor")
    if divisor is None:
        return problems
    try:
        canonical = canonical_quantity(str(divisor))
    except ValueError:
        return [*problems, f"{where}.divisor: {divisor!r} is not a quantity"]
    if canonical == "0":
        return problems  # unset
    allowed = CPU_DIVISORS if resource.endswith(".cpu") else MEMORY_DIVISORS
    if canonical not in allowed:
        problems.append(f"{where}.divisor: {divisor!r} (canonically {canonical!r}) is not allowed for {resource}")
    return problems


def _check_env(container: Mapping[str, Any], where: str, containers: set[Any]) -> list[str]:
    problems = []
    names: set[Any] = set()
    for index, raw in enumerate(_list(container.get("env"))):
        at = f"{where}.env[{index}]"
        entry = _dict(raw)
        name = entry.get("name")
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            problems.append(
                f"{at}.name: {name!r} is not a valid env var name (before 1.32: [-._a-zA-Z][-._a-zA-Z0-9]*)"
            )
        if name in names:
            problems.append(f"{at}.name: {name!r} is defined twice (the apiserver only warns; we never create it)")
        names.add(name)
        value_from = entry.get("valueFrom")
        if value_from is None:
            continue
        if entry.get("value"):
            problems.append(f"{at}.valueFrom: may not be specified when value is not empty")
        sources = [key for key in VALUE_FROM_SOURCES if _dict(value_from).get(key) is not None]
        if len(sources) != 1:
            problems.append(f"{at}.valueFrom: exactly one source is required, got {sources}")
        if "fieldRef" in sources:
            problems.extend(_field_ref(value_from["fieldRef"], f"{at}.valueFrom.fieldRef", ENV_FIELD_PATHS, "env"))
        if "resourceFieldRef" in sources:
            problems.extend(
                _resource_ref(
                    value_from["resourceFieldRef"], f"{at}.valueFrom.resourceFieldRef", containers, volume=False
                )
            )
    return problems


def _check_mounts(container: Mapping[str, Any], where: str, volumes: Mapping[Any, dict[str, Any]]) -> list[str]:
    problems = []
    paths: set[Any] = set()
    devices = {d.get("name"): d.get("devicePath") for d in map(_dict, _list(container.get("volumeDevices")))}
    for index, raw in enumerate(_list(container.get("volumeMounts"))):
        at = f"{where}.volumeMounts[{index}]"
        mount = _dict(raw)
        name, path = mount.get("name"), mount.get("mountPath")
        if name not in volumes:
            problems.append(f"{at}.name: Not found: {name!r}")
        if not isinstance(path, str) or not path:
            problems.append(f"{at}.mountPath: Required value")
        elif path in paths:
            problems.append(f"{at}.mountPath: {path!r} must be unique")
        paths.add(path)
        if name in devices:
            problems.append(f"{at}.name: {name!r} must not already exist in volumeDevices")
        if path in devices.values():
            problems.append(f"{at}.mountPath: {path!r} must not already exist as a path in volumeDevices")
        if "downwardAPI" in volumes.get(name, {}) and (mount.get("subPath") or mount.get("subPathExpr")):
            problems.append(f"{at}.subPath: a downwardAPI volume mounted with subPath never sees updates")
    return problems


def _check_restart_and_probes(container: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    init = where.startswith("spec.initContainers")
    policy = container.get("restartPolicy")
    if policy is not None and not init:
        problems.append(f"{where}.restartPolicy: Forbidden: may not be set for non-init containers")
    if init and policy not in (None, "Always"):
        problems.append(f"{where}.restartPolicy: {policy!r}: only Always is supported for init containers")
    if init and policy != "Always":
        problems.extend(
            f"{where}.{key}: Forbidden: may not be set for init containers without restartPolicy=Always"
            for key in PROBES
            if key in container
        )
    return problems


def _check_token_untouched(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    def token_volumes(pod: Mapping[str, Any]) -> dict[Any, Any]:
        return {
            v.get("name"): v
            for v in map(_dict, _list(_dict(pod.get("spec")).get("volumes")))
            if str(v.get("name", "")).startswith(SERVICE_ACCOUNT_VOLUME_PREFIX)
        }

    def token_mounts(pod: Mapping[str, Any]) -> dict[Any, list[Any]]:
        return {
            container.get("name"): [
                m
                for m in _list(container.get("volumeMounts"))
                if _dict(m).get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH
            ]
            for _, container in all_containers(pod)
        }

    problems = []
    if token_volumes(before) != token_volumes(after):
        problems.append("spec.volumes: the service-account token volume (kube-api-access-*) was changed")
    after_mounts = token_mounts(after)
    for name, mounts in token_mounts(before).items():
        if after_mounts.get(name) != mounts:
            problems.append(f"container {name!r}: its service-account token mount was changed")
    return problems


def restricted_problems(container: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> list[str]:
    """PodSecurity "restricted" for one container (container settings override the pod's)."""
    own = _dict(container.get("securityContext"))
    pod = _dict(spec.get("securityContext"))

    def effective(key: str) -> Any:
        return own[key] if own.get(key) is not None else pod.get(key)

    problems = []
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}.securityContext.allowPrivilegeEscalation must be false")
    capabilities = _dict(own.get("capabilities"))
    if "ALL" not in _list(capabilities.get("drop")):
        problems.append(f"{where}.securityContext.capabilities.drop must include ALL")
    if set(_list(capabilities.get("add"))) - {"NET_BIND_SERVICE"}:
        problems.append(f"{where}.securityContext.capabilities.add may only hold NET_BIND_SERVICE")
    if own.get("privileged") is True:
        problems.append(f"{where}.securityContext.privileged must not be true")
    if effective("runAsNonRoot") is not True:
        problems.append(f"{where}.securityContext.runAsNonRoot must be true")
    if effective("runAsUser") == 0:
        problems.append(f"{where}.securityContext.runAsUser must not be 0")
    if _dict(effective("seccompProfile")).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost")
    if any(_dict(port).get("hostPort") for port in _list(container.get("ports"))):
        problems.append(f"{where}.ports: hostPort is not allowed")
    return problems
