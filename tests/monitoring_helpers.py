"""The monitoring the project ships, for tests and for `make monitoring-files`: the chart's alert rules, the
plain rules file generated from them, the dashboard's queries, and the real promtool/prometheus to check them.

prometheus and promtool are built from the Go module github.com/prometheus/prometheus by
tools/prometheus/build.sh (cached under ~/.cache/downward-webhook/prom-<key>; its last stdout line is the bin
dir). Looked for in this order: $DOWNWARD_PROM_BIN_DIR; the bin dir of the current pin (`build.sh
--print-dir`); else `build.sh` builds them (~3 min cold on 2 cores plus the download), unless
DOWNWARD_KUBE_BUILD=0.

    python -m tests.monitoring_helpers   rewrite deploy/monitoring/downward-webhook-alerts.yaml from the chart
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chart_helpers import CHART_DIR, REPO_ROOT, Helm, Render

PROM_BUILD_SCRIPT = REPO_ROOT / "tools" / "prometheus" / "build.sh"
PROM_BIN_DIR_ENV = "DOWNWARD_PROM_BIN_DIR"
DASHBOARD = CHART_DIR / "dashboards" / "downward-webhook.json"
PLAIN_RULES = REPO_ROOT / "deploy" / "monitoring" / "downward-webhook-alerts.yaml"
#: The release and namespace the plain rules file is rendered for (the README's install; job = Service name).
PLAIN_RELEASE = "downward-webhook"
PLAIN_NAMESPACE = "downward-system"
PLAIN_HEADER = """\
# The downward-webhook alert rules, for a Prometheus without the Prometheus operator (rule_files:).
# GENERATED from the Helm chart (charts/downward-webhook/templates/_alerts.tpl, default values, release
# "downward-webhook", so the webhook's scrape job is "downward-webhook"): do not edit, run `make monitoring-files`.
# With the operator, install the chart with prometheusRule.enabled=true instead. See docs/operations.md, Monitoring.
"""
#: Grafana variables of the dashboard and what the tests put in their place.
DASHBOARD_VARIABLES = {"$timeout": "5"}
#: The metric names the dashboard and the rules may read besides the webhook's own (downward_webhook_*):
#: Prometheus' `up`, and the kube-apiserver's admission-webhook metrics (tests/e2e/test_monitoring_apiserver.py
#: checks them against the pinned apiservers' /metrics).
APISERVER_METRICS = frozenset(
    {
        "apiserver_admission_webhook_admission_duration_seconds_bucket",
        "apiserver_admission_webhook_fail_open_count",
        "apiserver_admission_webhook_rejection_count",
        "apiserver_admission_webhook_request_total",
    }
)
PROMETHEUS_METRICS = frozenset({"up"})


class PromUnavailable(RuntimeError):
    """promtool/prometheus are not built and cannot be built here; str() is one line for pytest.skip."""


@functools.cache
def prom_bin_dir() -> Path:
    """The directory holding `prometheus` and `promtool` (building them when needed and allowed)."""
    env_dir = os.environ.get(PROM_BIN_DIR_ENV)
    if env_dir:
        if not all(os.access(Path(env_dir) / name, os.X_OK) for name in ("prometheus", "promtool")):
            raise PromUnavailable(f"${PROM_BIN_DIR_ENV}={env_dir} lacks prometheus or promtool: unset it")
        return Path(env_dir)
    if shutil.which("bash") is None:
        raise PromUnavailable("bash not found: tools/prometheus/build.sh needs bash and Go >= 1.26")
    printed = subprocess.run(
        ["bash", str(PROM_BUILD_SCRIPT), "--print-dir"], capture_output=True, text=True, check=True
    )
    current = Path(printed.stdout.strip())
    if all(os.access(current / name, os.X_OK) for name in ("prometheus", "promtool")):
        return current
    if os.environ.get("DOWNWARD_KUBE_BUILD", "1") == "0":
        raise PromUnavailable("promtool not built and DOWNWARD_KUBE_BUILD=0: run make prom-tools")
    if shutil.which("go") is None:
        raise PromUnavailable("go not found: install Go >= 1.26 and run make prom-tools")
    proc = subprocess.run(["bash", str(PROM_BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tools/prometheus/build.sh failed with exit code {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class ToolResult:
    args: tuple[str, ...]
    returncode: int
    output: str

    def check(self) -> ToolResult:
        assert self.returncode == 0, f"{' '.join(self.args)} failed ({self.returncode}):\n{self.output}"
        return self


def promtool(*args: str | Path, cwd: Path | None = None) -> ToolResult:
    """Run the real promtool; its exit code and stdout+stderr."""
    argv = (str(prom_bin_dir() / "promtool"), *map(str, args))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, cwd=cwd)
    return ToolResult(argv, proc.returncode, proc.stdout + proc.stderr)


def exposed_names(text: str) -> set[str]:
    """The sample names of a /metrics page in the text format, exactly as exposed (prometheus_client's parser
    would rename a counter `x_count` to `x_count_total`; Prometheus stores what is exposed)."""
    names = set()
    for line in text.splitlines():
        match = _SAMPLE_NAME.match(line)
        if match:
            names.add(match.group(0))
    return names


_SAMPLE_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=[{ ])")


# --- the rules ------------------------------------------------------------------------------------------------


def rule_groups(render: Render) -> dict[str, Any]:
    """The rules file (`groups:`) of a render's PrometheusRule."""
    spec: dict[str, Any] = render.one("PrometheusRule")["spec"]
    return spec


def alerts(groups: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every alerting rule of a rules file, by alert name."""
    return {rule["alert"]: rule for group in groups["groups"] for rule in group["rules"] if "alert" in rule}


def plain_rules_text(helm: Helm) -> str:
    """What deploy/monitoring/downward-webhook-alerts.yaml must hold: the `spec` of the chart's PrometheusRule
    with default values, as helm renders it (block scalars and all), under a header."""
    rendered = helm.template_raw(
        values={"prometheusRule": {"enabled": True}},
        release=PLAIN_RELEASE,
        namespace=PLAIN_NAMESPACE,
        extra=["--show-only", "templates/prometheusrule.yaml"],
    ).check()
    _, marker, spec = rendered.stdout.partition("\nspec:\n")
    assert marker, f"no spec in the PrometheusRule:\n{rendered.stdout}"
    return PLAIN_HEADER + textwrap.dedent(spec)


# --- the dashboard --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    panel: str
    ref: str
    expr: str


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(job: str, *, rate_interval: str = "5m", range_: str = "1h") -> list[Query]:
    """Every PromQL query of the dashboard with its Grafana variables filled in ($job = ``job``)."""
    variables = {**DASHBOARD_VARIABLES, "$job": job, "$__rate_interval": rate_interval, "$__range": range_}
    pattern = re.compile("|".join(re.escape(name) for name in sorted(variables, key=len, reverse=True)))
    return [
        Query(panel["title"], target["refId"], pattern.sub(lambda m: variables[m.group(0)], target["expr"]))
        for panel in _panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def recording_rules(queries: list[Query]) -> dict[str, Any]:
    """A rules file with one recording rule per query, for `promtool check rules` (which parses each expr)."""
    rules = [{"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries)]
    return {"groups": [{"name": "dashboard", "rules": rules}]}


def main(argv: list[str]) -> int:
    from tests.chart_helpers import helm_binary

    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        text = plain_rules_text(Helm(helm_binary(), Path(home)))
    PLAIN_RULES.parent.mkdir(parents=True, exist_ok=True)
    PLAIN_RULES.write_text(text, encoding="utf-8")
    print(f"wrote {PLAIN_RULES.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
