"""Manifests and dry-runs: the pod a document would create, what to dry-run for a live pod, and the answer in
one line.

Pure, like verdicts.py: the apiserver's dry-run create (cluster.py) evaluates every webhook, selector and
matchCondition for real; this module only prepares the pod and reads the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.core.workloads import TEMPLATE_PATHS, pod_template

from .verdicts import NO_CONFIGURATION, Entry, pod_verdict


@dataclass(frozen=True, slots=True)
class WouldBe:
    """A pod to dry-run: what it came from, the namespace and the pod; or why a document is skipped."""

    label: str
    namespace: str
    pod: dict[str, Any] | None
    skipped: str = ""


def would_be_pods(documents: Iterable[Any], default_namespace: str) -> list[WouldBe]:
    """The pod each Pod or workload document would create (a workload's pod template), named by generateName so
    that a dry-run never collides with an existing pod."""
    result = []
    for doc in _flatten(documents):
        if not isinstance(doc, dict):
            result.append(WouldBe("(document)", default_namespace, None, "not a Kubernetes object"))
            continue
        kind, api_version = str(doc.get("kind", "")), str(doc.get("apiVersion", ""))
        group = api_version.partition("/")[0] if "/" in api_version else ""
        metadata = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
        name = str(metadata.get("name") or metadata.get("generateName") or "")
        namespace = str(metadata.get("namespace") or default_namespace)
        label = f"{kind} {namespace}/{name}".rstrip("/")
        if (group, kind) == ("", "Pod"):
            template: Any = doc
        elif (group, kind) in TEMPLATE_PATHS:
            template = pod_template(group, kind, doc)
        else:
            result.append(
                WouldBe(label, namespace, None, f"skipped: a {kind or 'document without kind'} makes no pods")
            )
            continue
        if not isinstance(template, dict):
            result.append(WouldBe(label, namespace, None, "skipped: no pod template"))
            continue
        result.append(WouldBe(label, namespace, pod_from_template(template, name or "check")))
    return result


def _flatten(documents: Iterable[Any]) -> Iterable[Any]:
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from doc["items"]
        elif doc is not None:
            yield doc


def pod_from_template(template: Mapping[str, Any], base_name: str) -> dict[str, Any]:
    metadata = template["metadata"] if isinstance(template.get("metadata"), dict) else {}
    pod_metadata: dict[str, Any] = {"generateName": f"{base_name.rstrip('-')}-"}
    for key in ("labels", "annotations"):
        if metadata.get(key):
            pod_metadata[key] = dict(metadata[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_metadata, "spec": dict(template.get("spec") or {})}


def respec(pod: Mapping[str, Any], owners: Sequence[Mapping[str, Any]] = ()) -> tuple[str, dict[str, Any]]:
    """What to dry-run for a live pod, and what it is: the pod template of its nearest controller that has one (the
    pod that controller would create now), else the pod's own spec without what scheduling and ServiceAccount
    admission added. Our status annotation stays: on an injected pod the webhook then sees what it did already
    (it is idempotent) instead of refusing its own volume as a conflict."""
    metadata = pod.get("metadata") or {}
    name = str(metadata.get("name", "check"))
    for owner in owners:
        kind = str(owner.get("kind", ""))
        group = str(owner.get("apiVersion", "")).partition("/")[0]
        template = pod_template(group, kind, owner)
        if template is not None:
            owner_name = (owner.get("metadata") or {}).get("name", "")
            return f"the pod template of its {kind} {owner_name}", pod_from_template(template, name)
    annotations = dict(metadata.get("annotations") or {})
    template = {"metadata": {"labels": metadata.get("labels") or {}, "annotations": annotations}}
    spec = dict(pod.get("spec") or {})
    spec.pop("nodeName", None)
    token_volumes = {
        v.get("name") for v in spec.get("volumes") or [] if str(v.get("name", "")).startswith("kube-api-access-")
    }
    if token_volumes:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in token_volumes]
        for list_name in ("containers", "initContainers"):
            spec[list_name] = [
                {**c, "volumeMounts": [m for m in c.get("volumeMounts") or [] if m.get("name") not in token_volumes]}
                for c in spec.get(list_name) or []
            ]
            if not spec[list_name]:
                del spec[list_name]
    template["spec"] = spec
    return "its spec", pod_from_template(template, name)


@dataclass(frozen=True, slots=True)
class DryRun:
    label: str
    outcome: str  # "injected" | "not-injected" | "denied" | "skipped"
    message: str
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome == "denied" or self.message.startswith("would NOT be injected")


def dry_run_verdict(
    label: str,
    status: int,
    body: Any,
    warnings: Sequence[str],
    *,
    namespace: Mapping[str, Any],
    entries: Sequence[Entry],
) -> DryRun:
    """What the apiserver's dry-run create answered, in one line."""
    if status >= 400 or not isinstance(body, dict) or body.get("kind") == "Status":
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        return DryRun(label, "denied", f"denied: {message}", tuple(warnings))
    verdict = pod_verdict(body, namespace, entries)
    if verdict.injected:
        return DryRun(label, "injected", "would be " + verdict.message, tuple(warnings))
    if verdict.victim:
        reason = (
            "no downward-webhook configuration is installed"
            if verdict.code == NO_CONFIGURATION
            else "the webhook did not answer (failurePolicy Ignore) or left it unchanged"
        )
        return DryRun(label, "not-injected", f"would NOT be injected although it opted in: {reason}", tuple(warnings))
    return DryRun(label, "not-injected", f"would not be injected: {verdict.message}", tuple(warnings))
