"""downward.dev/otel: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME from what the pod says at admission.

The attributes follow the OpenTelemetry semantic conventions for Kubernetes resources. What is known at
admission (namespace, container, the owner from ownerReferences and labels, app.kubernetes.io/* labels) is
written as a literal; what exists only later (a controller-made pod's name, every uid, the node) comes from
helper env vars with a fieldRef and is referenced as $(VAR). The kubelet expands $(VAR) in a literal value
against the entries *before* it in the list (pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables, with
third_party/forked/golang/expansion), leaving an unknown reference as written: the helpers are placed first.

Values are percent-encoded as the specification requires for this variable (resource/sdk.md: characters
outside the W3C baggage-octet range, and here also ',' '=' '%' which would break the key=value,... syntax).
Helper values expanded at runtime are pod names, uids and node names: DNS names and UUIDs, nothing to encode.
"""

from __future__ import annotations

from typing import NamedTuple

from .catalog import OTEL_HELPERS

LABEL_APP_NAME = "app.kubernetes.io/name"
LABEL_APP_VERSION = "app.kubernetes.io/version"
# The Deployment controller names a ReplicaSet <deployment>-<pod-template-hash> and labels its pods with the
# hash: the Deployment's name is the ReplicaSet's less that suffix, without asking the API.
LABEL_TEMPLATE_HASH = "pod-template-hash"
OTEL_LABELS: tuple[str, ...] = (LABEL_APP_NAME, LABEL_APP_VERSION, LABEL_TEMPLATE_HASH)

_OWNER_ATTRIBUTE = {
    ("apps", "ReplicaSet"): "k8s.replicaset.name",
    ("apps", "StatefulSet"): "k8s.statefulset.name",
    ("apps", "DaemonSet"): "k8s.daemonset.name",
    ("batch", "Job"): "k8s.job.name",
}
# The OpenTelemetry Operator's order for the service name, owners first to last (chooseServiceName).
_SERVICE_NAME_ORDER = (
    "k8s.deployment.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
)
_POD_NAME, _POD_UID, _NODE_NAME = (f"$({helper.name})" for helper in OTEL_HELPERS)


class Owner(NamedTuple):
    """The pod's controller, from metadata.ownerReferences (the entry with controller: true)."""

    api_group: str  # "apps" for apps/v1
    kind: str
    name: str


def owner_attributes(owner: Owner | None, template_hash: str | None) -> tuple[tuple[str, str], ...]:
    """k8s.<kind>.name for the owner, and the Deployment of a ReplicaSet whose name ends in the pod's hash.

    A Job's CronJob is not derived: a CronJob's Jobs are named <cronjob>-<minutes>, but so can any Job be,
    and an attribute that may be wrong is worse than none (the OpenTelemetry Operator reads the Job from the
    API to know)."""
    if owner is None:
        return ()
    attribute = _OWNER_ATTRIBUTE.get((owner.api_group, owner.kind))
    if attribute is None:
        return ()
    found = [(attribute, owner.name)]
    suffix = f"-{template_hash}" if template_hash else None
    if attribute == "k8s.replicaset.name" and suffix and owner.name.endswith(suffix) and len(owner.name) > len(suffix):
        found.insert(0, ("k8s.deployment.name", owner.name.removesuffix(suffix)))
    return tuple(found)


def service_name(app_name: str | None, owners: tuple[tuple[str, str], ...], container: str) -> str:
    """app.kubernetes.io/name, else the owner's name (Deployment first), else the container's name."""
    if app_name:
        return app_name
    by_key = dict(owners)
    return next((by_key[key] for key in _SERVICE_NAME_ORDER if key in by_key), container)


def resource_attributes(
    namespace: str,
    container: str,
    owners: tuple[tuple[str, str], ...],
    service: str | None,
    version: str | None,
) -> tuple[tuple[str, str], ...]:
    """The attributes, in the conventions' order; values not yet encoded. `service` None: the user's
    OTEL_SERVICE_NAME decides (the SDKs give it precedence over service.name in OTEL_RESOURCE_ATTRIBUTES)."""
    pairs: list[tuple[str, str]] = []
    if namespace:  # always known to the apiserver; offline, only when --namespace or the manifest says
        pairs.append(("k8s.namespace.name", namespace))
    pairs += [("k8s.pod.name", _POD_NAME), ("k8s.pod.uid", _POD_UID), ("k8s.node.name", _NODE_NAME)]
    pairs.append(("k8s.container.name", container))
    pairs += owners
    if service is not None:
        pairs.append(("service.name", service))
    if version:
        pairs.append(("service.version", version))
    return tuple(pairs)


def _encode_value(value: str) -> str:
    if value.startswith("$(") and value.endswith(")"):
        return value  # a reference the kubelet replaces; its characters are all baggage-octets
    out = []
    for char in value:
        code = ord(char)
        # baggage-octet: 0x21, 0x23-0x2B, 0x2D-0x3A, 0x3C-0x5B, 0x5D-0x7E; '=' and '%' are escaped too.
        if 0x21 <= code <= 0x7E and char not in '",;\\=%':
            out.append(char)
        else:
            out += [f"%{byte:02X}" for byte in char.encode()]
    return "".join(out)


def encode(pairs: tuple[tuple[str, str], ...]) -> str:
    """OTEL_RESOURCE_ATTRIBUTES: key=value,... with each value percent-encoded."""
    return ",".join(f"{key}={_encode_value(value)}" for key, value in pairs)


def keys_of(value: str) -> tuple[str, ...]:
    """The keys a user's OTEL_RESOURCE_ATTRIBUTES sets (the SDKs' parsing: split on ',', then on the first '=')."""
    return tuple(key.strip() for key, sep, _ in (item.partition("=") for item in value.split(",")) if sep)


class Merge(NamedTuple):
    value: str  # the user's value with the missing keys appended
    added: tuple[str, ...]
    kept: tuple[str, ...]  # ours that the user already sets: their value stays


def merge(user_value: str, ours: tuple[tuple[str, str], ...]) -> Merge:
    """Append to the user's value the keys it lacks; never change one of theirs."""
    theirs = set(keys_of(user_value))
    missing = tuple((key, value) for key, value in ours if key not in theirs)
    kept = tuple(key for key, _ in ours if key in theirs)
    if not missing:
        return Merge(user_value, (), kept)
    separator = "," if user_value.strip() else ""
    return Merge(user_value.rstrip(",") + separator + encode(missing), tuple(k for k, _ in missing), kept)


def fitted_warnings(head: str, items: tuple[str, ...], limit: int = 119) -> list[str]:
    """`head` followed by `items`, comma-separated, over as many warnings as needed to keep each under 120."""
    warnings: list[str] = []
    line = head
    for item in items:
        candidate = f"{line} {item}" if line == head else f"{line}, {item}"
        if len(candidate) > limit and line != head:
            warnings.append(line)
            line = f"{head} {item}"
        else:
            line = candidate
    warnings.append(line)
    return warnings
