"""The Downward API fields this webhook exposes: the env var catalog and the files of the volume.

The apiserver allows different field paths in env vars and in downwardAPI volumes
(validEnvDownwardAPIFieldPathExpressions vs validVolumeDownwardAPIFieldPathExpressions): spec.* and status.*
only work in env, unsubscripted metadata.labels/annotations only in a volume. Each entry here is placed only
where the apiserver accepts it, so no combination of annotations can produce an invalid pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EnvField:
    """One env var: a pod field (fieldRef), a resource of the container it lands in (resourceFieldRef), or a
    literal value (only the operator's own entries, e.g. CLUSTER_NAME: see webhook/config.py)."""

    name: str
    field_path: str | None = None
    resource: str | None = None
    divisor: str | None = None
    value: str | None = None

    def entry(self, container: str) -> dict[str, Any]:
        """The whole env entry for `container`."""
        if self.value is not None:
            return {"name": self.name, "value": self.value}
        return {"name": self.name, "valueFrom": self.value_from(container)}

    def value_from(self, container: str) -> dict[str, Any]:
        # Emitted in the apiserver's defaulted form (apiVersion, canonical divisor) so that a pod read back
        # from the cluster carries exactly what we wrote.
        if self.field_path is not None:
            return {"fieldRef": {"apiVersion": "v1", "fieldPath": self.field_path}}
        return {"resourceFieldRef": {"containerName": container, "resource": self.resource, "divisor": self.divisor}}

    @property
    def source(self) -> str:
        if self.value is not None:
            return f"value {self.value!r}"
        if self.field_path is not None:
            return self.field_path
        return f"{self.resource} (divisor {self.divisor})"


def label_field(name: str, key: str) -> EnvField:
    """An env var holding one label: the subscripted form is the only one the apiserver allows in env."""
    return EnvField(name, field_path=f"metadata.labels['{key}']")


def annotation_field(name: str, key: str) -> EnvField:
    return EnvField(name, field_path=f"metadata.annotations['{key}']")


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

# Tells app containers where the ambassador listens (README, "The ambassador").
PROXY_ENV_NAME = "KUBE_API_PROXY_URL"

# downward.dev/otel: the OpenTelemetry SDKs' variables, and the helpers that carry the values known only after
# admission into OTEL_RESOURCE_ATTRIBUTES by $(VAR) reference. The helper names are the OpenTelemetry
# Operator's own (pkg/instrumentation/sdk.go), so a pod seen by both tools gets one set, not two.
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_HELPERS: tuple[EnvField, ...] = (
    EnvField("OTEL_RESOURCE_ATTRIBUTES_POD_NAME", field_path="metadata.name"),
    EnvField("OTEL_RESOURCE_ATTRIBUTES_POD_UID", field_path="metadata.uid"),
    EnvField("OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", field_path="spec.nodeName"),
)
OTEL_ENV_NAMES: tuple[str, ...] = (*(h.name for h in OTEL_HELPERS), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)

# Every env var name of the built-in catalog we could add: a user's env var with another name can never
# collide with ours (the pod's own env-from-labels names and the operator's entries are added per pod/config).
INJECTABLE_ENV_NAMES: frozenset[str] = frozenset((*ENV_NAMES, PROXY_ENV_NAME, *OTEL_ENV_NAMES))
