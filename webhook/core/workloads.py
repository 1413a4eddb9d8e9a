"""Workload objects: where their pod template lives, and whether the opt-in sits on the wrong object.

Putting the annotation on a Deployment's own metadata instead of its pod template is the most common
reason injectors "silently do nothing" (vault-helm #335, linkerd2 #4125); we say so at `kubectl apply` time.
"""

from __future__ import annotations

from typing import Any

# (API group, kind) -> the path of the pod template inside the object.
TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}
WORKLOAD_KINDS = frozenset(TEMPLATE_PATHS)


def pod_template(group: str, kind: str, obj: Any) -> dict[str, Any] | None:
    """The object's pod template (the live dict inside obj), or None when it has none."""
    path = TEMPLATE_PATHS.get((group, kind))
    if path is None:
        return None
    node = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def annotations_of(node: Any) -> dict[str, Any]:
    metadata = node.get("metadata") if isinstance(node, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def misplaced_opt_in(group: str, kind: str, obj: Any, inject_key: str) -> str | None:
    """The warning for an opt-in on the workload's own metadata that its pod template lacks."""
    if inject_key in annotations_of(obj) and inject_key not in annotations_of(pod_template(group, kind, obj)):
        template_path = ".".join(TEMPLATE_PATHS[(group, kind)])
        return f"{inject_key} on the {kind} is ignored: move it to {template_path}.metadata.annotations"
    return None
