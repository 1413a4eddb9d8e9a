"""The admission pipeline: review(request) -> Answer. Pure: no HTTP, no I/O, no clock.

Pod CREATE:  view the pod -> read our annotations and status -> plan -> JSON-Patch ops
workloads:   warn when the opt-in sits on the workload instead of its pod template
the rest:    allowed, untouched

review() is pod_create() then review_pod(); the server's memo (webhook/serving/memo.py) calls the two
halves itself, to remember answers by the view in between.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .annotations import NotRequested, keys_under, parse
from .answer import AdmissionRequest, Answer
from .config import Config
from .errors import BadReview, Denied
from .patch import build_ops
from .plan import Plan, make_plan
from .pod import PodView, view_pod
from .status import decode_status
from .workloads import WORKLOAD_KINDS, annotations_of, misplaced_opt_in, pod_template


class PodCreate(NamedTuple):
    """A Pod being created, the one request that can be injected: what its answer depends on (the memo's key)."""

    view: PodView
    namespace: str


def review(request: AdmissionRequest, config: Config, *, inject_by_default: bool) -> Answer:
    """The answer to one AdmissionReview; raises BadReview only for an object that is no Pod."""
    pod = pod_create(request, config)
    if pod is not None:
        return review_pod(pod, config, inject_by_default=inject_by_default)
    if request.sub_resource:
        return Answer.skipped(f"subresource {request.kind}/{request.sub_resource}")
    if request.group == "" and request.kind == "Pod":
        return Answer.skipped(f"operation {request.operation}")
    if (request.group, request.kind) in WORKLOAD_KINDS and request.operation in ("CREATE", "UPDATE"):
        return Answer.skipped(f"{request.kind} checked", _workload_warnings(request, config))
    return Answer.skipped(f"kind {request.kind} {request.operation}")


def pod_create(request: AdmissionRequest, config: Config) -> PodCreate | None:
    """The view and namespace of a Pod being created; None for any other request. Raises BadReview for no Pod."""
    if request.sub_resource or request.operation != "CREATE" or request.kind != "Pod" or request.group != "":
        return None
    view = view_pod(request.obj, config.prefix, operator_env_names(config), otel_anywhere=bool(config.otel_namespaces))
    return PodCreate(view, request.namespace or _namespace_of(request.obj))


def review_pod(pod: PodCreate, config: Config, *, inject_by_default: bool, admitted: bool = True) -> Answer:
    """The answer for one pod (or pod template): a function of its view, its namespace and the configuration.

    `admitted` is false for manifests injected offline (no ServiceAccount admission has run on them yet)."""
    view = pod.view
    if view.mirror:
        return Answer.skipped("mirror pod")
    try:
        request = parse(dict(view.ours), config, inject_by_default=inject_by_default, namespace=pod.namespace)
        if isinstance(request, NotRequested):
            return Answer.skipped(request.reason, request.warnings)
        previous = decode_status(keys_under(config.prefix).status, view.status)
        plan = make_plan(request, previous, view, config, pod.namespace, admitted=admitted)
    except Denied as denial:
        return Answer.denied(denial.message)
    if not plan.changes_pod:
        audit = {"injected": "nothing"}
        return Answer(allowed=True, outcome="unchanged", reason="already injected", warnings=plan.warnings, audit=audit)
    audit, kinds = _summary(plan)
    ops = tuple(build_ops(plan, view, config))
    return Answer(allowed=True, outcome="injected", ops=ops, warnings=plan.warnings, audit=audit, injected=kinds)


def _summary(plan: Plan) -> tuple[dict[str, str], tuple[str, ...]]:
    """The audit annotations and the kinds injected (for metrics)."""
    env = any(p.env or p.proxy_url or p.extended_env for p in plan.containers)
    volume = any(p.volume is not None for p in plan.containers)
    otel = any(p.otel for p in plan.containers)
    present = (("env", env), ("volume", volume), ("otel", otel), ("ambassador", plan.ambassador))
    kinds = [kind for kind, on in present if on]
    audit = {"injected": ",".join(kinds) or "nothing"}
    if plan.containers:
        audit["containers"] = ",".join(p.container.name for p in plan.containers)
    if plan.ambassador is not None:
        audit["ambassador"] = plan.ambassador
    return audit, tuple(kinds)


def _workload_warnings(request: AdmissionRequest, config: Config) -> tuple[str, ...]:
    inject_key = keys_under(config.prefix).inject
    warnings = []
    misplaced = misplaced_opt_in(request.group, request.kind, request.obj, inject_key)
    if misplaced:
        warnings.append(misplaced)
    template = pod_template(request.group, request.kind, request.obj)
    if template is not None and inject_key in annotations_of(template):
        # Pods are checked again when they are created; saying it now beats a ReplicaSet event nobody reads.
        try:
            view = view_pod(
                template, config.prefix, operator_env_names(config), otel_anywhere=bool(config.otel_namespaces)
            )
        except BadReview:
            return tuple(warnings)  # an invalid template is the apiserver's to reject
        answer = review_pod(PodCreate(view, request.namespace), config, inject_by_default=False, admitted=False)
        if not answer.allowed:
            warnings.append(f"pods of this {request.kind} will be denied: {answer.message}")
    return tuple(warnings)


def operator_env_names(config: Config) -> frozenset[str]:
    """The names of the operator's catalog entries: the user's env entries of those names are read too."""
    return frozenset(field.name for field in config.extra_env)


def _namespace_of(obj: Any) -> str:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) else ""
