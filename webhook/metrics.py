"""Prometheus metrics, in a registry owned by the app (no import-time globals)."""

from __future__ import annotations

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

        self.certificate_expiry = Gauge(
            "downward_webhook_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time); alert well before it.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
