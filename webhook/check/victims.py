"""Outage victims: pods that opted in and were admitted without injection, grouped by what restarts them.

Pure, like verdicts.py: plain API objects in, the groups and the kubectl command for each out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .verdicts import Verdict


@dataclass(frozen=True, slots=True)
class Owner:
    kind: str
    name: str


@dataclass
class VictimGroup:
    namespace: str
    owner: Owner | None  # None: a bare pod
    pods: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def restart(self) -> str:
        return restart_command(self.namespace, self.owner, self.pods)


def controller_of(obj: Mapping[str, Any]) -> Owner | None:
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return Owner(str(reference.get("kind", "")), str(reference.get("name", "")))
    return None


def top_owner(pod: Mapping[str, Any], owners: Sequence[Mapping[str, Any]]) -> Owner | None:
    """The object to restart: the Deployment above a ReplicaSet, the CronJob above a Job, else the controller."""
    owner = controller_of(pod)
    for obj in owners:
        above = controller_of(obj)
        if above is not None:
            owner = above
    return owner


def group_victims(victims: Iterable[tuple[Mapping[str, Any], Owner | None, Verdict]]) -> list[VictimGroup]:
    groups: dict[tuple[str, str, str], VictimGroup] = {}
    for pod, owner, verdict in victims:
        metadata = pod.get("metadata") or {}
        ns, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        key = (ns, owner.kind, owner.name) if owner else (ns, "Pod", name)
        group = groups.setdefault(key, VictimGroup(ns, owner, reason=verdict.message))
        group.pods.append(name)
    return sorted(groups.values(), key=lambda g: (g.namespace, g.owner.kind if g.owner else "", g.pods[0]))


def restart_command(namespace: str, owner: Owner | None, pods: Sequence[str]) -> str:
    if owner is not None and owner.kind in ("Deployment", "StatefulSet", "DaemonSet"):
        return f"kubectl rollout restart {owner.kind.lower()}/{owner.name} -n {namespace}"
    if owner is not None and owner.kind == "CronJob":
        rerun = f"kubectl create job --from=cronjob/{owner.name} {owner.name}-rerun -n {namespace}"
        return rerun + "  # or wait for the next run"
    if owner is not None:  # ReplicaSet, Job, anything else that recreates its pods
        return f"kubectl delete pod {' '.join(pods)} -n {namespace}  # the {owner.kind} {owner.name} recreates them"
    return " ; ".join(f"kubectl get pod {pod} -n {namespace} -o yaml | kubectl replace --force -f -" for pod in pods)
