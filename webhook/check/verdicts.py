"""Why a pod was injected or not: pure functions of plain API objects (dicts), no I/O.

The installed MutatingWebhookConfigurations are read, never assumed: the entries are recognised by their names
(the chart's pods.downward.dev and namespace.pods.downward.dev), and their namespaceSelectors are evaluated
against the namespace's labels the way the apiserver does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook.core.annotations import MIRROR_ANNOTATION, keys_under
from webhook.core.config import DEFAULT_PREFIX
from webhook.core.errors import Denied
from webhook.core.status import decode_status
from webhook.core.workloads import TEMPLATE_PATHS, annotations_of, pod_template

API_VERSION = "downward.dev/check/v1"

ANNOTATION_ENTRY = "pods.downward.dev"  # pods that carry the opt-in annotation
NAMESPACE_ENTRY = "namespace.pods.downward.dev"  # every pod of a namespace labelled "<prefix>inject: enabled"
POD_ENTRIES = (ANNOTATION_ENTRY, NAMESPACE_ENTRY)
NAME_LABEL = "kubernetes.io/metadata.name"  # set by the apiserver on every namespace; cannot be forged
SYSTEM_NAMESPACES = ("kube-system", "kube-node-lease", "kube-public")
# Keys that inject without "<prefix>inject" (annotations.py: they work alone).
ALONE_KEYS = ("otel", "env-from-labels", "env-from-annotations")

# Verdict codes; those of VICTIMS are pods that asked for injection and should have had it: restarting helps.
INJECTED = "injected"
STATUS_UNREADABLE = "status-unreadable"
MIRROR = "mirror-pod"
OPTED_OUT = "opted-out"
MISPLACED = "annotation-on-workload"
NOT_OPTED_IN = "not-opted-in"
EXCLUDED = "excluded-namespace"
NOT_SELECTED = "not-selected"
NO_NAMESPACE_ENTRY = "no-namespace-entry"
NO_CONFIGURATION = "no-configuration"
BEFORE_CONFIGURATION = "created-before-configuration"
MISSED = "no-webhook-answered"
UNCHANGED = "admitted-unchanged"
VICTIMS = frozenset({NO_CONFIGURATION, BEFORE_CONFIGURATION, MISSED, UNCHANGED})
UNEXPLAINED = "not-injected-unexplained"  # the pod's own annotations say "not injected"; the why is not readable


class UsageError(Exception):
    """Arguments that do not go together; exit status 2."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One of our webhook entries, as installed."""

    configuration: str
    created: str  # the configuration's creationTimestamp
    name: str
    failure_policy: str
    namespace_selector: Mapping[str, Any]
    target: Mapping[str, Any]  # clientConfig: {"service": {...}} or {"url": ...}, and caBundle


@dataclass(frozen=True, slots=True)
class Verdict:
    code: str
    message: str
    injected: bool = False
    opted_in: bool = False

    @property
    def victim(self) -> bool:
        return self.code in VICTIMS


# --- the installed configuration ------------------------------------------------------------------------------


def entries_of(configurations: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """Our pod entries in every MutatingWebhookConfiguration, oldest configuration first."""
    found = []
    for configuration in configurations:
        metadata = configuration.get("metadata") or {}
        for webhook in configuration.get("webhooks") or []:
            if webhook.get("name") in POD_ENTRIES:
                found.append(
                    Entry(
                        configuration=str(metadata.get("name", "")),
                        created=str(metadata.get("creationTimestamp", "")),
                        name=str(webhook["name"]),
                        failure_policy=str(webhook.get("failurePolicy", "Fail")),
                        namespace_selector=webhook.get("namespaceSelector") or {},
                        target=webhook.get("clientConfig") or {},
                    )
                )
    return sorted(found, key=lambda e: (e.created, e.configuration))


def prefix_of(entries: Sequence[Entry]) -> str:
    """The annotation prefix the installed chart uses: the namespace entry selects "<prefix>inject: enabled"."""
    for entry in entries:
        if entry.name == NAMESPACE_ENTRY:
            for key, value in (entry.namespace_selector.get("matchLabels") or {}).items():
                if value == "enabled" and key.endswith("/inject"):
                    return str(key[: -len("inject")])
    return DEFAULT_PREFIX


def selector_failure(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> str | None:
    """None when the label selector matches `labels`, else the first requirement that does not hold."""
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return f"{key}={value}"
    for expression in (selector or {}).get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        holds = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(operator), False)
        if not holds:
            return f"{key} {operator} [{', '.join(values)}]" if values else f"{key} {operator}"
    return None


def namespace_labels(namespace: Mapping[str, Any]) -> dict[str, str]:
    metadata = namespace.get("metadata") or {}
    labels = dict(metadata.get("labels") or {})
    labels.setdefault(NAME_LABEL, str(metadata.get("name", "")))
    return labels


# --- one pod ----------------------------------------------------------------------------------------------------


def describe_status(value: str, prefix: str) -> str:
    """ "env POD_NAME,POD_NAMESPACE into app, volume /etc/downward" from our status annotation."""
    status = decode_status(keys_under(prefix).status, value)
    parts = []
    into = ",".join(status.containers) or "no container"
    parts.append(f"env {','.join(status.env)} into {into}" if status.env else f"no env into {into}")
    if status.mount_path:
        parts.append(f"volume {status.mount_path}")
    if status.ambassador:
        parts.append(f"ambassador ({status.ambassador})")
    return ", ".join(parts)


def pod_verdict(
    pod: Mapping[str, Any],
    namespace: Mapping[str, Any],
    entries: Sequence[Entry],
    owners: Sequence[Mapping[str, Any]] = (),
    prefix: str | None = None,
) -> Verdict:
    """The one-line reason for an existing pod. `owners`: its controller chain, nearest first (ReplicaSet,
    Deployment), as far as it could be read."""
    prefix = prefix or prefix_of(entries)
    keys = keys_under(prefix)
    metadata = pod.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    ns_name = str(metadata.get("namespace") or (namespace.get("metadata") or {}).get("name", ""))
    labels = namespace_labels(namespace)
    if keys.status in annotations:
        return _from_status(annotations[keys.status], prefix)
    if MIRROR_ANNOTATION in annotations:
        return Verdict(MIRROR, "not injected: a static pod's mirror is never injected (the kubelet created it)")
    raw = annotations.get(keys.inject)
    folded = raw.strip().lower() if isinstance(raw, str) else None
    if folded == "false":
        return Verdict(OPTED_OUT, f"opted out: the pod has {keys.inject}={raw}")
    by_annotation = folded == "true" or any(prefix + key in annotations for key in ALONE_KEYS)
    by_namespace = labels.get(keys.inject) == "enabled"
    if not (by_annotation or by_namespace):
        misplaced = misplaced_on(owners, keys.inject)
        return (
            Verdict(MISPLACED, misplaced)
            if misplaced
            else Verdict(
                NOT_OPTED_IN,
                f"not sent to the webhook: namespace {ns_name} has no label {keys.inject}=enabled "
                f"and the pod has no {keys.inject} annotation",
            )
        )
    return _missed(metadata, ns_name, labels, entries, by_annotation=by_annotation, by_namespace=by_namespace)


def limited_verdict(pod: Mapping[str, Any], unreadable: str) -> Verdict:
    """The pod judged by its own annotations, for a user who may read it but not the webhook configuration or the
    namespace (an app team's usual RBAC): whether it was injected is certain; why not needs what `unreadable`
    names. The annotation prefix is then the default one (a custom prefix lives in the unreadable configuration)."""
    namespace = {"metadata": {"name": (pod.get("metadata") or {}).get("namespace", "")}}
    verdict = pod_verdict(pod, namespace, [], prefix=DEFAULT_PREFIX)
    if verdict.injected or verdict.code in (MIRROR, OPTED_OUT, STATUS_UNREADABLE):
        return verdict
    asked = f"opted in ({DEFAULT_PREFIX}inject) but not injected" if verdict.opted_in else "not injected"
    return Verdict(
        UNEXPLAINED,
        f"{asked}; why cannot be read with your permissions ({unreadable}): "
        "a cluster operator's `downward-webhook check -A` says",
        opted_in=verdict.opted_in,
    )


def _from_status(value: str, prefix: str) -> Verdict:
    try:
        return Verdict(INJECTED, "injected: " + describe_status(value, prefix), injected=True, opted_in=True)
    except Denied as denial:
        return Verdict(STATUS_UNREADABLE, f"status annotation unreadable: {denial.message}", opted_in=True)


def _missed(
    metadata: Mapping[str, Any],
    ns_name: str,
    labels: Mapping[str, str],
    entries: Sequence[Entry],
    *,
    by_annotation: bool,
    by_namespace: bool,
) -> Verdict:
    """An opted-in pod without our status: which entry should have had it, and why it did not."""
    inject_key = prefix_of(entries) + "inject"
    if not entries:
        return Verdict(
            NO_CONFIGURATION,
            "opted in but not injected: no downward-webhook MutatingWebhookConfiguration is installed",
            opted_in=True,
        )
    relevant = [e for e in entries if e.name == NAMESPACE_ENTRY] if by_namespace else []
    if not relevant:
        if not by_annotation:
            return Verdict(
                NO_NAMESPACE_ENTRY,
                f"not sent to the webhook: namespace {ns_name} is labelled {inject_key}=enabled but no installed "
                f"configuration has the namespace-wide entry (chart value webhook.namespaceWide.enabled)",
                opted_in=True,
            )
        relevant = [e for e in entries if e.name == ANNOTATION_ENTRY]
    matching = [e for e in relevant if selector_failure(e.namespace_selector, labels) is None]
    if not matching:
        return _not_selected(relevant[0], ns_name, labels)
    created = str(metadata.get("creationTimestamp", ""))
    if all(_before(created, e.created) for e in matching):
        first = matching[0]
        return Verdict(
            BEFORE_CONFIGURATION,
            f"opted in but not injected: created at {created}, before the webhook configuration "
            f"{first.configuration} existed ({first.created}); restart it",
            opted_in=True,
        )
    if any(e.failure_policy == "Ignore" for e in matching):
        return Verdict(
            MISSED,
            f"opted in but not injected: created at {created} while no webhook answered (failurePolicy Ignore)",
            opted_in=True,
        )
    return Verdict(
        UNCHANGED,
        f"opted in but not injected: the webhook admitted it unchanged at {created}; see the webhook's logs",
        opted_in=True,
    )


def _not_selected(entry: Entry, ns_name: str, labels: Mapping[str, str]) -> Verdict:
    failure = selector_failure(entry.namespace_selector, labels) or ""
    if failure.startswith(f"{NAME_LABEL} NotIn"):
        service = entry.target.get("service") or {}
        if ns_name in SYSTEM_NAMESPACES:
            why = "a system namespace"
        elif ns_name == service.get("namespace"):
            why = "the webhook's own namespace"
        else:
            why = "listed in the chart value webhook.excludeNamespaces"
        return Verdict(
            EXCLUDED,
            f"not sent to the webhook: namespace {ns_name} is excluded ({why}) by {entry.configuration}",
            opted_in=True,
        )
    return Verdict(
        NOT_SELECTED,
        f"not sent to the webhook: namespace {ns_name} is not selected by the namespaceSelector of "
        f"{entry.configuration}/{entry.name} (needs {failure})",
        opted_in=True,
    )


def _before(pod_created: str, configuration_created: str) -> bool:
    try:
        return _time(pod_created) < _time(configuration_created)
    except ValueError:
        return False


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def misplaced_on(owners: Sequence[Mapping[str, Any]], inject_key: str) -> str | None:
    """The sentence for an opt-in written on a workload's own metadata instead of its pod template. The topmost
    owner is named: a Deployment's annotations are copied onto its ReplicaSets, but it is where they were written."""
    for owner in reversed(owners):
        kind = str(owner.get("kind", ""))
        group = str(owner.get("apiVersion", "")).partition("/")[0] if "/" in str(owner.get("apiVersion", "")) else ""
        if (group, kind) not in TEMPLATE_PATHS:
            continue
        if inject_key in annotations_of(owner) and inject_key not in annotations_of(pod_template(group, kind, owner)):
            path = ".".join(TEMPLATE_PATHS[(group, kind)])
            name = (owner.get("metadata") or {}).get("name", "")
            return (
                f"not injected: {inject_key} is on the {kind} {name}, not its pod template: "
                f"move it to {path}.metadata.annotations"
            )
    return None
