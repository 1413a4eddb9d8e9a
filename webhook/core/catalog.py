"""The Downward API fields this webhook exposes: the env var catalog and the files of the volume.

The apiserver allows different field paths in env vars and in downwardAPI volumes
(validEnvDownwardAPIFieldPathExpressions vs validVolumeDownwardAPIFieldPathExpressions): spec.* and status.*
only work in env, unsubscripted metadata.labels/annotations only in a volume. Each entry here is placed only
where the apiserver accepts it, so no combination of annotations can produce an invalid pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True, slots=True)
class EnvField:
    """One env var: a pod field (fieldRef) or a resource of the container it lands in (resourceFieldRef)."""

    name: str
    field_path: str | None = None
    resource: str | None = None
    divisor: str | None = None

    def value_from(self, container: str) -> dict[str, Any]:
        # Emitted in the apiserver's defaulted form (apiVersion, canonical divisor) so that a pod read back
        # from the cluster carries exactly what we wrote.
        if self.field_path is not None:
            return {"fieldRef": {"apiVersion": "v1", "fieldPath": self.field_path}}
        return {"resourceFieldRef": {"containerName": container, "resource": self.resource, "divisor": self.divisor}}

    @property
    def source(self) -> str:
        if self.field_path is not None:
            return self.field_path
        return f"{self.resource} (divisor {self.divisor})"


ENV_CATALOG: tuple[EnvField, ...] = (
    EnvField("POD_NAME", field_path="metadata.name"),
    EnvField("POD_NAMESPACE", field_path="metadata.namespace"),
    EnvField("POD_UID", field_path="metadata.uid"),
    EnvField("POD_IP", field_path="status.podIP"),
    EnvField("POD_IPS", field_path="status.podIPs"),
    EnvField("HOST_IP", field_path="status.hostIP"),
    EnvField("HOST_IPS", field_path="status.hostIPs"),
    EnvField("NODE_NAME", field_path="spec.nodeName"),
    EnvField("SERVICE_ACCOUNT", field_path="spec.serviceAccountName"),
    EnvField("CONTAINER_CPU_REQUEST_MILLICORES", resource="requests.cpu", divisor="1m"),
    EnvField("CONTAINER_CPU_LIMIT_MILLICORES", resource="limits.cpu", divisor="1m"),
    EnvField("CONTAINER_MEMORY_REQUEST_KIBIBYTES", resource="requests.memory", divisor="1Ki"),
    EnvField("CONTAINER_MEMORY_LIMIT_KIBIBYTES", resource="limits.memory", divisor="1Ki"),
)

ENV_BY_NAME: dict[str, EnvField] = {field.name: field for field in ENV_CATALOG}
ENV_NAMES: tuple[str, ...] = tuple(field.name for field in ENV_CATALOG)

# The seed's example (Kubernetes in Action, 8.1.2) exposes exactly these seven.
SEED_ENV: tuple[str, ...] = (
    "POD_NAME",
    "POD_NAMESPACE",
    "POD_IP",
    "NODE_NAME",
    "SERVICE_ACCOUNT",
    "CONTAINER_CPU_REQUEST_MILLICORES",
    "CONTAINER_MEMORY_LIMIT_KIBIBYTES",
)


@dataclass(frozen=True, slots=True)
class FileField:
    """One file of the downwardAPI volume."""

    path: str
    field_path: str | None = None
    resource: str | None = None
    divisor: str | None = None

    def item(self, container: str) -> dict[str, Any]:
        if self.field_path is not None:
            return {"path": self.path, "fieldRef": {"apiVersion": "v1", "fieldPath": self.field_path}}
        # containerName is required in a volume (unlike env): the file describes that one container.
        return {
            "path": self.path,
            "resourceFieldRef": {"containerName": container, "resource": self.resource, "divisor": self.divisor},
        }


FILE_CATALOG: tuple[FileField, ...] = (
    FileField("podName", field_path="metadata.name"),
    FileField("podNamespace", field_path="metadata.namespace"),
    FileField("podUid", field_path="metadata.uid"),
    FileField("labels", field_path="metadata.labels"),
    FileField("annotations", field_path="metadata.annotations"),
    FileField("containerCpuRequestMilliCores", resource="requests.cpu", divisor="1m"),
    FileField("containerCpuLimitMilliCores", resource="limits.cpu", divisor="1m"),
    FileField("containerMemoryRequestBytes", resource="requests.memory", divisor="1"),
    FileField("containerMemoryLimitBytes", resource="limits.memory", divisor="1"),
)

# Tells app containers where the ambassador listens (see docs/annotations.md).
PROXY_ENV_NAME = "KUBE_API_PROXY_URL"

# Every env var name we could ever add: a user's env var with another name can never collide with ours.
INJECTABLE_ENV_NAMES: frozenset[str] = frozenset((*ENV_NAMES, PROXY_ENV_NAME))


# The entries below are shared between requests: they are serialised, never mutated (offline injection
# copies what it inserts). What describes the pod is built once, at import; what names the container
# (resourceFieldRef.containerName) once per container name, as names repeat across pods: a cache hit costs
# a tenth of building a container's entries, and a new name costs little more than the lookup.

_POD_ENV: dict[str, dict[str, Any]] = {
    field.name: {"name": field.name, "valueFrom": field.value_from("")}
    for field in ENV_CATALOG
    if field.field_path is not None
}
_POD_ITEMS: tuple[dict[str, Any] | None, ...] = tuple(
    field.item("") if field.field_path is not None else None for field in FILE_CATALOG
)


def env_entry(name: str, container: str) -> dict[str, Any]:
    """The env var `name` of the catalog, as added to `container`."""
    entry = _POD_ENV.get(name)
    if entry is None:
        return {"name": name, "valueFrom": ENV_BY_NAME[name].value_from(container)}
    return entry


@lru_cache(maxsize=4096)
def env_entries(names: tuple[str, ...], container: str) -> tuple[dict[str, Any], ...]:
    """The env vars `names` as added to `container`."""
    return tuple(env_entry(name, container) for name in names)


@lru_cache(maxsize=4096)
def volume_items(container: str) -> list[dict[str, Any]]:
    """The downwardAPI items describing the pod and `container`."""
    return [
        item if item is not None else field.item(container)
        for item, field in zip(_POD_ITEMS, FILE_CATALOG, strict=True)
    ]
