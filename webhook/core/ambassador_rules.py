"""Whether the kubectl-proxy ambassador may join a pod: the operator's switches, then the pod's own facts.

Each refusal names the annotation and what to change; the container itself is built by build/ambassador.py.
"""

from __future__ import annotations

from .annotations import InjectionRequest, keys_under
from .config import Config
from .errors import Denied, quote
from .pod import PodView
from .status import Status


def ambassador_mode(
    request: InjectionRequest,
    pod: PodView,
    *,
    config: Config,
    namespace: str,
    previous: Status,
    warnings: list[str],
) -> str | None:
    """The mode of the ambassador to add ("native" or "container"), None when none is added; raises Denied."""
    if not request.ambassador or previous.ambassador is not None:
        return None
    annotation = keys_under(config.prefix).ambassador
    amb = config.ambassador
    if not amb.allowed:
        raise Denied(f'annotation {annotation}: "true" is not accepted: the cluster operator disabled the ambassador')
    if namespace in amb.disabled_namespaces:
        raise Denied(
            f'annotation {annotation}: "true" is not accepted: the cluster operator disabled the ambassador '
            f"in namespace {namespace}"
        )
    if pod.os_name == "windows":
        raise Denied(
            f'annotation {annotation}: "true" is refused for Windows pods: the ambassador image and its '
            "security settings are Linux-only"
        )
    if pod.host_network:
        raise Denied(
            f'annotation {annotation}: "true" is refused for hostNetwork pods: the proxy would be open to '
            "every process on the node; remove one of them"
        )
    for container in (*pod.containers, *pod.init_containers):
        if container.name == amb.name:
            warnings.append(f"kept your container {amb.name}; no ambassador added")
            return None
        if amb.port in container.ports:
            raise Denied(
                f'annotation {annotation}: "true" conflicts with container {quote(container.name)}, which uses '
                f"port {amb.port}; the ambassador needs it (the cluster operator sets that port)"
            )
    return amb.mode
