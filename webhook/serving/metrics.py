"""Prometheus metrics, in a registry owned by the app (no import-time globals); one process per pod."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The apiserver's apiserver_admission_webhook_admission_duration_seconds buckets, so the two line up.
APISERVER_WEBHOOK_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 25.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "downward_webhook_requests",
            "Admission requests answered, by path, operation and outcome "
            "(injected, unchanged, skipped, denied, invalid, too_large, timeout, error).",
            ["path", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "downward_webhook_request_duration_seconds",
            "Time from the request body being read to the response being ready, by path.",
            ["path"],
            buckets=APISERVER_WEBHOOK_BUCKETS,
            registry=self.registry,
        )
        self.injections = Counter(
            "downward_webhook_injections",
            "Pods injected, by kind of injection (env, volume, ambassador).",
            ["kind"],
            registry=self.registry,
        )
        self.answers = Counter(
            "downward_webhook_answers",
            "Pod CREATE answers, by where they came from: the memo (the pod looked, to the planner, like one "
            "answered before: the pods of one workload) or a fresh decision.",
            ["source"],
            registry=self.registry,
        )
        self._answers_memo = self.answers.labels("memo")
        self._answers_fresh = self.answers.labels("fresh")
        self.certificate_expiry = Gauge(
            "downward_webhook_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time); alert well before it.",
            registry=self.registry,
        )

        # Labelled children, looked up once per label set: .labels() costs more than the increment.
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._injection_children: dict[str, Any] = {}

    def count(self, path: str, operation: str, outcome: str, elapsed: float | None = None) -> None:
        """One answered request; `elapsed` (seconds) also goes to the latency histogram."""
        key = (path, operation, outcome)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(*key)
        child.inc()
        if elapsed is not None:
            histogram = self._latency_children.get(path)
            if histogram is None:
                histogram = self._latency_children[path] = self.latency.labels(path)
            histogram.observe(elapsed)

    def injected(self, kind: str) -> None:
        child = self._injection_children.get(kind)
        if child is None:
            child = self._injection_children[kind] = self.injections.labels(kind)
        child.inc()

    def answered(self, memoized: bool) -> None:
        (self._answers_memo if memoized else self._answers_fresh).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
