"""Offline injection (`downward-webhook inject`): manifests in, manifests out, exactly as the server would.

Pods and the pod templates of workloads are injected; a `kind: List` is walked; everything else passes
through unchanged. A denial stops the whole run, as `kubectl apply` would.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonpatch

from .core.annotations import keys_under
from .core.config import Config
from .core.errors import BadReview, Denied
from .core.pod import view_pod
from .core.review import PodCreate, operator_env_names, review_pod
from .core.workloads import TEMPLATE_PATHS, misplaced_opt_in, pod_template


@dataclass(frozen=True, slots=True)
class OfflineResult:
    documents: list[Any]
    warnings: list[str]


def _group_of(api_version: Any) -> str:
    return api_version.split("/")[0] if isinstance(api_version, str) and "/" in api_version else ""


def _label(doc: dict[str, Any], index: int) -> str:
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = metadata.get("name") or metadata.get("generateName") or "(unnamed)"
    return f"document {index + 1} ({doc.get('kind', '?')} {name})"


def _inject_one(pod: dict[str, Any], namespace: str, config: Config, where: str, warnings: list[str]) -> None:
    try:
        view = view_pod(pod, config.prefix, operator_env_names(config), otel_anywhere=bool(config.otel_namespaces))
    except BadReview as error:
        raise Denied(f"{where}: {error.message}") from None
    answer = review_pod(PodCreate(view, namespace), config, inject_by_default=False, admitted=False)
    if not answer.allowed:
        raise Denied(f"{where}: {answer.message}")
    warnings.extend(f"{where}: {w}" for w in answer.warnings)
    # The library applies the operations as the apiserver's evanphx/json-patch does (add, replace, "-").
    jsonpatch.apply_patch(pod, list(answer.ops), in_place=True)


def _namespace(doc: dict[str, Any], default: str) -> str:
    metadata = doc.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else default


def _process(doc: Any, index: int, config: Config, namespace: str, warnings: list[str]) -> Any:
    if not isinstance(doc, dict):
        return doc
    kind, group = doc.get("kind"), _group_of(doc.get("apiVersion"))
    where = _label(doc, index)
    if kind == "List" and isinstance(doc.get("items"), list):
        doc["items"] = [_process(item, index, config, namespace, warnings) for item in doc["items"]]
        return doc
    if kind == "Pod" and group == "":
        _inject_one(doc, _namespace(doc, namespace), config, where, warnings)
    elif (group, kind) in TEMPLATE_PATHS:
        assert isinstance(kind, str)
        misplaced = misplaced_opt_in(group, kind, doc, keys_under(config.prefix).inject)
        if misplaced:
            warnings.append(f"{where}: {misplaced}")
        template = pod_template(group, kind, doc)
        if template is not None:
            _inject_one(template, _namespace(doc, namespace), config, where, warnings)
    return doc


def inject_documents(documents: Iterable[Any], config: Config, namespace: str = "default") -> OfflineResult:
    """Inject every pod and pod template; raises Denied naming the document."""
    warnings: list[str] = []
    out = [_process(copy.deepcopy(doc), i, config, namespace, warnings) for i, doc in enumerate(documents)]
    return OfflineResult(out, warnings)
