"""Turn a Plan into JSON-Patch operations, built directly (no diffing: it costs 300-1000x more).

The apiserver applies patches with evanphx/json-patch: `add` under a missing parent fails and breaks pod
creation for everyone, whatever the failurePolicy. So a list or map that is absent (or null) is created
whole, and an existing one is added to. Our env vars are prepended, so the user's own env entries can refer
to them with $(POD_NAME); mounts and volumes are appended. Operations that insert into initContainers come
last, after every operation that addresses a container by its index.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .annotations import DEFAULT_CONTAINER_ANNOTATION
from .catalog import env_entries, volume_items
from .plan import AmbassadorPlan, ContainerPlan, Plan

Op = dict[str, Any]


def escape(key: str) -> str:
    """A JSON Pointer reference token (RFC 6901): annotation keys hold '/' and may hold '~'."""
    return key.replace("~", "~0").replace("/", "~1")


def _volume(plan: ContainerPlan) -> dict[str, Any]:
    return {
        "name": plan.volume_name,
        "downwardAPI": {
            "defaultMode": 0o644,
            "items": volume_items(plan.container.name),
        },
    }


@lru_cache(maxsize=256)
def _env_paths(container_path: str, count: int) -> tuple[str, ...]:
    # A handful of (container, count) pairs recur in every cluster: formatting them was a tenth of the patch.
    return tuple(f"{container_path}/env/{i}" for i in range(count))


def _prepend_env(container_path: str, entries: tuple[dict[str, Any], ...]) -> tuple[Op, ...]:
    paths = _env_paths(container_path, len(entries))
    return tuple({"op": "add", "path": p, "value": e} for p, e in zip(paths, entries, strict=True))


@lru_cache(maxsize=1024)
def _env_ops(container_path: str, names: tuple[str, ...], container: str) -> tuple[Op, ...]:
    # The same for every pod with a container of that name at that position. Ops are shared, as their values
    # already were: nothing changes an op once built, and apply_ops copies values into documents.
    return _prepend_env(container_path, env_entries(names, container))


def _container_ops(plan: ContainerPlan) -> list[Op]:
    ops: list[Op] = []
    path = plan.container.path
    if plan.env:
        if not plan.container.has_env:
            ops.append({"op": "add", "path": f"{path}/env", "value": list(plan.env)})
        elif plan.env_names is not None:
            ops += _env_ops(path, plan.env_names, plan.container.name)
        else:
            ops += _prepend_env(path, plan.env)
    if plan.volume_name is not None:
        # No subPath: a subPath mount never sees updates, and the labels/annotations files must stay live.
        mount = {"name": plan.volume_name, "mountPath": plan.mount_path, "readOnly": True}
        if not plan.container.has_mounts:
            ops.append({"op": "add", "path": f"{path}/volumeMounts", "value": [mount]})
        else:
            ops.append({"op": "add", "path": f"{path}/volumeMounts/-", "value": mount})
    return ops


def build_ops(plan: Plan, volume_count: int, init_container_count: int) -> list[Op]:
    """The patch for `plan`, against the pod it was planned from (whose list lengths are given)."""
    if not plan.changes_pod:
        return []
    ops: list[Op] = []
    for container_plan in plan.containers:
        ops.extend(_container_ops(container_plan))

    volumes = [_volume(p) for p in plan.containers if p.volume_name is not None]
    if volumes:
        if volume_count == 0:
            ops.append({"op": "add", "path": "/spec/volumes", "value": volumes})
        else:
            ops.extend({"op": "add", "path": "/spec/volumes/-", "value": v} for v in volumes)

    annotations = {plan.status_key: plan.status.encode()}
    if plan.default_container is not None:
        annotations[DEFAULT_CONTAINER_ANNOTATION] = plan.default_container
    if not plan.annotations_present:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    else:
        for key, value in annotations.items():
            verb = "replace" if key == plan.status_key and plan.status_existed else "add"
            ops.append({"op": verb, "path": f"/metadata/annotations/{escape(key)}", "value": value})

    if plan.ambassador is not None:
        ops.append(_ambassador_op(plan.ambassador, init_container_count))
    return ops


def _ambassador_op(ambassador: AmbassadorPlan, init_container_count: int) -> Op:
    if ambassador.mode == "container":
        return {"op": "add", "path": "/spec/containers/-", "value": ambassador.container}
    if init_container_count == 0:
        return {"op": "add", "path": "/spec/initContainers", "value": [ambassador.container]}
    # First, so the user's own init containers can already reach the API through it.
    return {"op": "add", "path": "/spec/initContainers/0", "value": ambassador.container}
