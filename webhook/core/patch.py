"""Turn a Plan into JSON-Patch operations against the pod it was planned from, built directly (no diffing).

The apiserver applies patches with evanphx/json-patch: `add` under a missing parent fails and breaks pod
creation for everyone, whatever the failurePolicy. So a list or map the view says is absent (or null) is
created whole, and an existing one is added to. Our env vars are prepended, so the user's own env entries can
refer to them with $(POD_NAME); mounts and volumes are appended. Operations that insert into initContainers
come last, after every operation that addresses a container by its index.
"""

from __future__ import annotations

from typing import Any

from .annotations import DEFAULT_CONTAINER_ANNOTATION, keys_under
from .build.ambassador import ambassador_container
from .build.env import env_entries
from .build.token import token_volume
from .build.volume import mount, volume
from .config import Config
from .plan import ContainerPlan, Plan
from .pod import PodView

Op = dict[str, Any]


def escape(key: str) -> str:
    """A JSON Pointer reference token (RFC 6901): annotation keys hold '/' and may hold '~'."""
    return key.replace("~", "~0").replace("/", "~1")


def _add(path: str, value: Any) -> Op:
    return {"op": "add", "path": path, "value": value}


def _container_ops(plan: ContainerPlan) -> list[Op]:
    container = plan.container
    path = container.path
    ops: list[Op] = []
    if plan.extended_env is not None:
        # Before the inserts below shift the user's entries: the index is the one the view read.
        index, value = plan.extended_env
        ops.append({"op": "replace", "path": f"{path}/env/{index}/value", "value": value})
    entries = env_entries(container.name, plan.env, plan.proxy_url)
    if entries and not container.has_env:
        ops.append(_add(f"{path}/env", entries))
    elif entries:
        ops += [_add(f"{path}/env/{index}", entry) for index, entry in enumerate(entries)]
    if plan.volume is not None:
        if not container.has_mounts:
            ops.append(_add(f"{path}/volumeMounts", [mount(plan.volume, plan.mount_path)]))
        else:
            ops.append(_add(f"{path}/volumeMounts/-", mount(plan.volume, plan.mount_path)))
    return ops


def build_ops(plan: Plan, pod: PodView, config: Config) -> list[Op]:
    """The patch for `plan`; what exists in the pod (lists, maps, our status) comes from its view."""
    if not plan.changes_pod:
        return []
    ops = [op for container_plan in plan.containers for op in _container_ops(container_plan)]

    volumes = [volume(p.volume, p.container.name) for p in plan.containers if p.volume is not None]
    if plan.token_volume is not None:
        volumes.append(token_volume(plan.token_volume))
    if volumes and not pod.volume_names:
        ops.append(_add("/spec/volumes", volumes))
    else:
        ops += [_add("/spec/volumes/-", v) for v in volumes]

    status_key = keys_under(config.prefix).status
    annotations = {status_key: plan.status.encode()}
    if plan.default_container is not None:
        annotations[DEFAULT_CONTAINER_ANNOTATION] = plan.default_container
    if not pod.annotations_present:
        ops.append(_add("/metadata/annotations", annotations))
    else:
        for key, value in annotations.items():
            verb = "replace" if key == status_key and pod.status is not None else "add"
            ops.append({"op": verb, "path": f"/metadata/annotations/{escape(key)}", "value": value})

    if plan.ambassador is not None:
        ops.append(_ambassador_op(plan.ambassador, pod, config, plan.token_volume or pod.token_volume))
    return ops


def _ambassador_op(mode: str, pod: PodView, config: Config, token: str | None) -> Op:
    container = ambassador_container(config, token)
    if mode == "container":
        return _add("/spec/containers/-", container)
    if not pod.init_containers:
        return _add("/spec/initContainers", [container])
    # First, so the user's own init containers can already reach the API through it.
    return _add("/spec/initContainers/0", container)
