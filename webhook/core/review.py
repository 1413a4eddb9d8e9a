"""The admission pipeline: request -> verdict. Pure: no HTTP, no I/O, no clock.

Pod CREATE:  view the pod -> read annotations -> plan -> JSON-Patch ops
workloads:   warn when the opt-in sits on the workload instead of its pod template
the rest:    allowed, untouched
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ..config import Config
from ..serving.admission import AdmissionRequest
from .annotations import INJECT, MIRROR_ANNOTATION, InjectionRequest, NotRequested, parse
from .errors import BadReview, Denied
from .patch import Op, build_ops
from .plan import Plan, make_plan
from .pod import PodView, view_pod
from .workloads import WORKLOAD_KINDS, annotations_of, misplaced_opt_in, pod_template

_NO_AUDIT: Mapping[str, str] = MappingProxyType({})


class Verdict(NamedTuple):  # a NamedTuple, as the plan: built for every pod (see webhook/plan.py)
    allowed: bool
    outcome: str  # injected | skipped | denied | unchanged
    reason: str = ""
    ops: Sequence[Op] = ()
    warnings: tuple[str, ...] = ()
    audit: Mapping[str, str] = _NO_AUDIT
    message: str = ""
    injected: tuple[str, ...] = ()  # what was added, for metrics: env, volume, ambassador


def _skip(reason: str, warnings: tuple[str, ...] = ()) -> Verdict:
    return Verdict(allowed=True, outcome="skipped", reason=reason, warnings=warnings)


def _summary(plan: Plan) -> tuple[dict[str, str], tuple[str, ...]]:
    env = volume = False
    names = []
    for container in plan.containers:
        env = env or bool(container.env)
        volume = volume or container.volume_name is not None
        names.append(container.container.name)
    kinds = [kind for kind, present in (("env", env), ("volume", volume)) if present]
    if plan.ambassador is not None:
        kinds.append("ambassador")
    audit = {"injected": ",".join(kinds) or "nothing"}
    if names:
        audit["containers"] = ",".join(names)
    if plan.ambassador is not None:
        audit["ambassador"] = plan.ambassador.mode
    return audit, tuple(kinds)


def inject_pod(
    pod: PodView, namespace: str, config: Config, *, inject_by_default: bool, admitted: bool = True
) -> Verdict:
    """Decide and build the patch for one pod (or pod template); raises Denied.

    `admitted` is false for manifests injected offline (no ServiceAccount admission has run on them yet)."""
    annotations = pod.annotation_map()
    if MIRROR_ANNOTATION in annotations:
        return _skip("mirror pod")
    request = parse(annotations, config, inject_by_default=inject_by_default)
    if isinstance(request, NotRequested):
        return _skip(request.reason, request.warnings)
    return _inject(request, pod, namespace, config, admitted=admitted)


def _inject(request: InjectionRequest, pod: PodView, namespace: str, config: Config, *, admitted: bool) -> Verdict:
    plan = make_plan(request, pod, config, namespace, admitted=admitted)
    if not plan.changes_pod:
        return Verdict(
            allowed=True,
            outcome="unchanged",
            reason="already injected",
            warnings=plan.warnings,
            audit={"injected": "nothing"},
        )
    ops = build_ops(plan, pod.volume_count, len(pod.init_containers))
    audit, kinds = _summary(plan)
    return Verdict(allowed=True, outcome="injected", ops=ops, warnings=plan.warnings, audit=audit, injected=kinds)


def pod_to_inject(request: AdmissionRequest, config: Config) -> tuple[PodView, str] | None:
    """The view and namespace of a Pod being created, the one request that can be injected; None otherwise.

    Raises BadReview when the object is no Pod."""
    if request.sub_resource or request.operation != "CREATE" or request.kind != "Pod" or request.group != "":
        return None
    return view_pod(request.obj, config.prefix), request.namespace or _namespace_of(request.obj)


def decide(pod: PodView, namespace: str, config: Config, *, inject_by_default: bool) -> Verdict:
    """The verdict for a Pod being created: a function of its view, its namespace and the configuration only."""
    try:
        return inject_pod(pod, namespace, config, inject_by_default=inject_by_default)
    except Denied as denial:
        return Verdict(allowed=False, outcome="denied", reason="denied", message=denial.message)


def review(request: AdmissionRequest, config: Config, *, inject_by_default: bool) -> Verdict:
    """The whole decision for one AdmissionReview; raises BadReview only for an object that is no Pod."""
    pod = pod_to_inject(request, config)
    if pod is not None:
        return decide(*pod, config, inject_by_default=inject_by_default)
    if request.sub_resource:
        return _skip(f"subresource {request.kind}/{request.sub_resource}")
    if request.group == "" and request.kind == "Pod":
        return _skip(f"operation {request.operation}")
    if (request.group, request.kind) in WORKLOAD_KINDS and request.operation in ("CREATE", "UPDATE"):
        return _skip(f"{request.kind} checked", _workload_warnings(request, config))
    return _skip(f"kind {request.kind} {request.operation}")


def _workload_warnings(request: AdmissionRequest, config: Config) -> tuple[str, ...]:
    inject_key = config.prefix + INJECT
    warnings = []
    misplaced = misplaced_opt_in(request.group, request.kind, request.obj, inject_key)
    if misplaced:
        warnings.append(misplaced)
    template = pod_template(request.group, request.kind, request.obj)
    if template is not None and inject_key in annotations_of(template):
        # Pods are checked again when they are created; saying it now beats a ReplicaSet event nobody reads.
        try:
            pod = view_pod(template, config.prefix)
            inject_pod(pod, request.namespace, config, inject_by_default=False, admitted=False)
        except Denied as denial:
            warnings.append(f"pods of this {request.kind} will be denied: {denial.message}")
        except BadReview:
            pass  # an invalid template is the apiserver's to reject
    return tuple(warnings)


def _namespace_of(obj: Any) -> str:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) else ""


__all__ = ["Verdict", "decide", "inject_pod", "pod_to_inject", "review"]
