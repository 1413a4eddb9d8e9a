"""The report of `check`, as text for people or as a versioned JSON document (docs/operations.md has its shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .health import ConfigurationHealth
from .manifests import DryRun
from .verdicts import API_VERSION, Verdict
from .victims import VictimGroup


@dataclass(frozen=True, slots=True)
class PodLine:
    namespace: str
    name: str
    verdict: Verdict


@dataclass
class Report:
    mode: str  # "pod" | "namespace" | "all-namespaces" | "manifest"
    configurations: list[ConfigurationHealth]
    pods: list[PodLine] = field(default_factory=list)
    victims: list[VictimGroup] | None = None  # None: not looked for (pod and manifest modes)
    dry_runs: list[DryRun] = field(default_factory=list)
    unreadable: str = ""  # what the user may not read (the configuration or the namespace): the report is partial

    @property
    def problems(self) -> list[str]:
        return [problem for c in self.configurations for problem in c.problems]

    @property
    def victim_count(self) -> int:
        return sum(len(g.pods) for g in self.victims or [])

    @property
    def exit_code(self) -> int:
        failed = (
            self.victim_count > 0
            or any(d.failed for d in self.dry_runs)
            or (self.mode == "pod" and not self.dry_runs and any(not p.verdict.injected for p in self.pods))
            or bool(self.problems)
        )
        return 1 if failed else 0


def as_json(report: Report) -> str:
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "CheckReport",
        "mode": report.mode,
        "webhook": {
            # null when it could not be read (an app team's RBAC): `unreadable` says what was refused
            "installed": None if report.unreadable and not report.configurations else bool(report.configurations),
            "configurations": [
                {
                    "name": c.name,
                    "created": c.created,
                    "entries": [{"name": n, "failurePolicy": p} for n, p in c.entries],
                    "target": c.target,
                    "tls": {"verified": c.tls_verified, "detail": c.tls},
                    "deployments": [{"name": n, "ready": r, "desired": d} for n, r, d in c.replicas],
                    "note": c.replicas_note,
                }
                for c in report.configurations
            ],
        },
        "pods": [
            {
                "namespace": p.namespace,
                "name": p.name,
                "verdict": p.verdict.code,
                "injected": p.verdict.injected,
                "optedIn": p.verdict.opted_in,
                "message": p.verdict.message,
            }
            for p in report.pods
        ],
        "victims": [
            {
                "namespace": g.namespace,
                "owner": {"kind": g.owner.kind, "name": g.owner.name} if g.owner else None,
                "pods": g.pods,
                "reason": g.reason,
                "restart": g.restart,
            }
            for g in report.victims or []
        ],
        "dryRuns": [
            {"source": d.label, "outcome": d.outcome, "message": d.message, "warnings": list(d.warnings)}
            for d in report.dry_runs
        ],
        "problems": report.problems,
        "unreadable": report.unreadable,
        "exitCode": report.exit_code,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def as_text(report: Report) -> str:
    if report.unreadable and not report.configurations:
        lines = [f"webhook: cannot be read with your permissions ({report.unreadable})"]
    else:
        lines = _webhook_lines(report.configurations)
    shown = [] if report.mode == "all-namespaces" else report.pods  # -A: the victims' groups below say it all
    lines += [f"pod {p.namespace}/{p.name}: {p.verdict.message}" for p in shown]
    for run in report.dry_runs:
        lines.append(f"{run.label}: {run.message}")
        lines += [f"  Warning: {warning}" for warning in run.warnings]
    if report.victims is not None:
        if report.victims:
            lines.append(f"{report.victim_count} opted-in pods not injected; restart them once the webhook answers:")
        for group in report.victims:
            owner = f"{group.owner.kind} {group.namespace}/{group.owner.name}" if group.owner else group.namespace
            lines.append(f"  {owner}: {', '.join(group.pods)}")
            lines.append(f"    {group.reason}")
            lines.append(f"    {group.restart}")
        lines.append(f"downward-webhook check: {report.victim_count} opted-in pods not injected")
    return "\n".join(lines) + "\n"


def _webhook_lines(configurations: list[ConfigurationHealth]) -> list[str]:
    if not configurations:
        return ["webhook: not installed (no MutatingWebhookConfiguration has the entry pods.downward.dev)"]
    lines = []
    for c in configurations:
        entries = ", ".join(f"{name} (failurePolicy {policy})" for name, policy in c.entries)
        lines.append(f"webhook: {c.name} (created {c.created}): {entries}")
        lines.append(f"  {c.target}: {c.tls}")
        lines += [f"  deployment {name}: {ready}/{desired} ready" for name, ready, desired in c.replicas]
        if c.replicas_note:
            lines.append(f"  {c.replicas_note}")
    return lines
