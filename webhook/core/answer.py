"""What the core answers for one admission request, as plain values: the request it reads, the answer it gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The envelope's facts (webhook/serving/admission.py checks them) and the object as the apiserver sent it."""

    uid: str
    group: str
    version: str
    kind: str
    sub_resource: str
    operation: str
    namespace: str
    name: str
    obj: Any
    dry_run: bool


@dataclass(frozen=True, slots=True)
class Answer:
    """Allowed or denied, the JSON-Patch operations, and what to tell the user, the audit log and the metrics.

    A denial is an answer like the others (allowed false, outcome "denied", the message for kubectl), never an
    exception: review() always returns one.
    """

    allowed: bool
    outcome: str  # injected | unchanged | skipped | denied
    reason: str = ""  # for the log, when allowed
    ops: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    audit: Mapping[str, str] = field(default_factory=dict)
    message: str = ""  # why it was denied, for the person running kubectl
    injected: tuple[str, ...] = ()  # what was added, for metrics: env, volume, ambassador

    @classmethod
    def skipped(cls, reason: str, warnings: tuple[str, ...] = ()) -> Answer:
        return cls(allowed=True, outcome="skipped", reason=reason, warnings=warnings)

    @classmethod
    def denied(cls, message: str) -> Answer:
        return cls(allowed=False, outcome="denied", reason="denied", message=message)
