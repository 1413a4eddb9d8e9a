"""The pod as the planner sees it: the few facts it decides on, read once from the decoded object.

The pod is never round-tripped through a model: unknown fields would be dropped and the cost grows with the
pod. We read names, our annotations, the env vars we could collide with, mount paths and ports, and check only
the shapes we rely on; anything else in the object is left exactly as the apiserver sent it.

A view holds nothing but those facts (no pod name, no uid, no env var we could never inject) and is hashable,
so two pods with equal views get the same answer: the pods of one ReplicaSet, Job or StatefulSet differ only
in what the planner never reads. webhook/serving/memo.py remembers answers by view.

The view is the one value the server builds, hashes and compares for every request, memoized or not, so its
types are NamedTuples: a frozen dataclass costs twice as much to build and three times as much to hash and
compare, 6 µs per typical pod on the memo's path (docs/benchmarks.md, "Issue 15"). Everything built after
the memo (request, plan, answer) is a frozen dataclass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .annotations import DEFAULT_CONTAINER_ANNOTATION, MIRROR_ANNOTATION, env_from_names, keys_under
from .catalog import INJECTABLE_ENV_NAMES
from .errors import BadReview
from .otel import OTEL_LABELS, Owner
from .shapes import as_list, as_mapping, bad_strings, invalid, string_map, strings

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
    position: int  # its index in the container's env (OTEL_RESOURCE_ATTRIBUTES is extended in place)


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
        return next((entry for entry in self.claimed if entry.name == name), None)


class PodView(NamedTuple):
    ours: tuple[tuple[str, str], ...]  # our annotations but the status, full keys, in the pod's order
    status: str | None  # our status annotation as written, decoded by the review (it may deny)
    mirror: bool  # a static pod's mirror: never injected
    default_container_set: bool  # kubectl.kubernetes.io/default-container is there: the user chose
    annotations_present: bool  # a map exists (possibly empty) and keys can be added under it
    containers: tuple[ContainerView, ...]
    init_containers: tuple[ContainerView, ...]
    volume_names: frozenset[str]
    automount_token: bool | None
    host_network: bool
    os_name: str  # spec.os.name: "linux", "windows" or "" when unset
    # For downward.dev/otel, and the same for every pod of a ReplicaSet, StatefulSet or Job (the memo's key):
    otel_labels: tuple[str | None, ...]  # the values of otel.OTEL_LABELS (app name, version, template hash)
    owner: Owner | None  # the controller in metadata.ownerReferences

    @property
    def token_volume(self) -> str | None:
        """The kube-api-access-* volume ServiceAccount admission added, if any."""
        return min((n for n in self.volume_names if n.startswith(TOKEN_VOLUME_PREFIX)), default=None)


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _user_env(entry: dict[str, Any], index: int) -> UserEnv:
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
        position=index,
    )


def _claimed(env: Any, where: str, injectable: frozenset[str]) -> tuple[UserEnv, ...]:
    """The user's env entries whose name we could inject, first occurrence of each name, in order.

    Env lists are the longest lists in a pod (hundreds of entries) and this runs for every pod, memoized or
    not: one pass over the names and one set test, without checking each name's type. A name that is not a
    string cannot collide with ours, and the apiserver, which sent the pod typed, never sends one.
    """
    entries = as_list(env, where)
    try:
        names = [entry["name"] for entry in entries]
        if injectable.isdisjoint(names):
            return ()
    except (TypeError, KeyError):  # an entry that is no object, has no name, or an unhashable one
        raise bad_strings(env, "name", where) from None
    claimed: dict[str, UserEnv] = {}
    for index, (name, entry) in enumerate(zip(names, entries, strict=True)):
        if name in injectable and name not in claimed:
            claimed[name] = _user_env(entry, index)
    return tuple(claimed.values())


def _ports(ports: Any, where: str) -> tuple[int, ...]:
    # type() and not isinstance(): a JSON true is a bool, which Python counts as an int, and is no port.
    return tuple(
        p["containerPort"] for p in as_list(ports, where) if isinstance(p, dict) and type(p.get("containerPort")) is int
    )


def _container(raw: Any, list_name: str, index: int, injectable: frozenset[str]) -> ContainerView:
    where = f"spec.{list_name}[{index}]"
    if not isinstance(raw, dict):
        raise invalid(where, "must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.name", "is required and must be a string")
    env = raw.get("env")
    claimed = _claimed(env, f"{where}.env", injectable)  # checked in this order: the first problem is the one reported
    mount_paths = strings(raw.get("volumeMounts"), "mountPath", f"{where}.volumeMounts")
    devices = raw.get("volumeDevices")  # rare: raw block devices
    device_paths = strings(devices, "devicePath", f"{where}.volumeDevices") if devices else ()
    raw_ports = raw.get("ports")
    ports = _ports(raw_ports, f"{where}.ports") if raw_ports else ()
    return ContainerView(
        name=name,
        list_name=list_name,
        position=index,
        has_env=bool(env),
        claimed=claimed,
        has_env_from=bool(raw.get("envFrom")),
        mount_paths=mount_paths + device_paths,
        has_mounts=bool(mount_paths),
        ports=ports,
        native_sidecar=list_name == "initContainers" and raw.get("restartPolicy") == "Always",
    )


def _owner(references: Any) -> Owner | None:
    # The apiserver has checked ownerReferences' shape; anything unexpected is simply no owner we can name.
    for ref in references if isinstance(references, list) else ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            api_version, kind, name = ref.get("apiVersion"), ref.get("kind"), ref.get("name")
            if isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str) and name:
                return Owner(api_version.rpartition("/")[0], kind, name)
    return None


def view_pod(
    obj: Any, prefix: str, operator_env: frozenset[str] = frozenset(), *, otel_anywhere: bool = False
) -> PodView:
    """Read the planner's view (our annotations: those under `prefix`); BadReview when it is no Pod's shape.

    `operator_env`: the names of the operator's own catalog entries, which the user's env may hold too.
    The labels and owner otel reads are in the view only when the pod may get otel (its annotation is there,
    or `otel_anywhere`: the operator turns it on in some namespaces), so that other pods of different
    ReplicaSets still share one memoized answer."""
    pod = as_mapping(obj, "the object")
    if not pod:
        raise BadReview("request.object is missing")
    metadata = as_mapping(pod.get("metadata"), "metadata")
    spec = as_mapping(pod.get("spec"), "spec")
    raw_annotations = metadata.get("annotations")
    annotations = string_map(raw_annotations, "metadata.annotations")
    otel = otel_anywhere or prefix + "otel" in annotations
    labels = metadata.get("labels") if otel else None
    labels = labels if isinstance(labels, dict) else {}
    injectable = INJECTABLE_ENV_NAMES | operator_env | env_from_names(annotations, prefix)
    containers = tuple(
        _container(c, "containers", i, injectable)
        for i, c in enumerate(as_list(spec.get("containers"), "spec.containers"))
    )
    if not containers:
        raise BadReview("request.object is not a valid Pod: spec.containers is empty")
    init_containers = tuple(
        _container(c, "initContainers", i, injectable)
        for i, c in enumerate(as_list(spec.get("initContainers") or None, "spec.initContainers"))
    )
    volume_names = strings(spec.get("volumes"), "name", "spec.volumes")
    automount = spec.get("automountServiceAccountToken")
    os_spec = spec.get("os")
    os_name = os_spec.get("name") if isinstance(os_spec, dict) else None
    status_key = keys_under(prefix).status
    return PodView(
        ours=tuple(item for item in annotations.items() if item[0].startswith(prefix) and item[0] != status_key),
        status=annotations.get(status_key),
        mirror=MIRROR_ANNOTATION in annotations,
        default_container_set=DEFAULT_CONTAINER_ANNOTATION in annotations,
        annotations_present=isinstance(raw_annotations, dict),
        containers=containers,
        init_containers=init_containers,
        volume_names=frozenset(volume_names),
        automount_token=automount if isinstance(automount, bool) else None,
        host_network=spec.get("hostNetwork") is True,
        os_name=os_name if isinstance(os_name, str) else "",
        otel_labels=tuple(_optional_string(labels.get(key)) for key in OTEL_LABELS),
        owner=_owner(metadata.get("ownerReferences")) if otel else None,
    )
