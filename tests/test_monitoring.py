"""The alerts and the dashboard the project ships, checked with the real promtool (built from the Prometheus
module by tools/prometheus/build.sh) and against the real webhook's /metrics.

- every chart render with prometheusRule on, and the plain rules file, pass `promtool check rules`;
- tests/monitoring/alerts-test.yaml (`promtool test rules`) makes every alert fire and stay silent;
- the plain rules file is the chart's render (`make monitoring-files` rewrites it);
- every dashboard query parses (as a recording rule, through `promtool check rules`) and names only metrics
  that exist: the webhook's own (a real TLS server's /metrics), Prometheus' `up`, or the kube-apiserver's
  admission metrics (tests/e2e/test_monitoring_apiserver.py checks those against the pinned apiservers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.chart_helpers import NAMESPACE, RELEASE, REPO_ROOT, VALUE_IDS, VALUE_SETS, Helm, Render
from tests.monitoring_helpers import (
    APISERVER_METRICS,
    PLAIN_RULES,
    PROMETHEUS_METRICS,
    PromUnavailable,
    ToolResult,
    alerts,
    dashboard,
    dashboard_queries,
    exposed_names,
    plain_rules_text,
    prom_bin_dir,
    promtool,
    recording_rules,
    rule_groups,
)
from tests.server_process import WebhookServer, opted_in_review

ALERTS_TEST = REPO_ROOT / "tests" / "monitoring" / "alerts-test.yaml"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
ALERT_NAMES = {
    "DownwardWebhookDown",
    "DownwardWebhookFailOpen",
    "DownwardWebhookCallsRejected",
    "DownwardWebhookErrors",
    "DownwardWebhookSlow",
    "DownwardWebhookCertificateExpiresSoon",
    "DownwardWebhookCertificateNotRenewed",
}
JOB = f"{RELEASE}-downward-webhook"  # the Service's name for the test release: the ServiceMonitor's job
# A metric selector in PromQL: a name followed by its label matchers.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


@pytest.fixture(scope="session")
def prom_tools() -> Path:
    try:
        return prom_bin_dir()
    except PromUnavailable as missing:
        if os.environ.get("CI") == "true":  # CI's machine has Go: a missing promtool is a broken set-up
            pytest.fail(f"{missing} (CI=true)")
        pytest.skip(str(missing))


def _check_rules(prom_tools: Path, directory: Path, groups: dict[str, Any]) -> ToolResult:
    path = directory / f"rules-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(groups, sort_keys=False), encoding="utf-8")
    return promtool("check", "rules", "--lint=all", "--lint-fatal", path)


def _rules_on(helm: Helm, files: tuple[Path, ...] = (), **values: Any) -> Render:
    return helm.template(files, {"prometheusRule": {"enabled": True}, **values})


# --- the tool ---------------------------------------------------------------------------------------------------


def test_promtool_is_the_pinned_prometheus(prom_tools: Path) -> None:
    go_mod = (REPO_ROOT / "tools" / "prometheus" / "go.mod").read_text(encoding="utf-8")
    module = re.search(r"github\.com/prometheus/prometheus (v0\.3(\d\d)\.(\d+))", go_mod)
    assert module, "tools/prometheus/go.mod does not pin github.com/prometheus/prometheus"
    version = f"3.{int(module.group(2))}.{module.group(3)}"
    for tool in ("promtool", "prometheus"):
        proc = subprocess.run([str(prom_tools / tool), "--version"], capture_output=True, text=True, check=False)
        result = ToolResult((tool, "--version"), proc.returncode, proc.stdout + proc.stderr).check()
        assert f"version {version}" in result.output, result.output


# --- the rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("files", VALUE_SETS, ids=VALUE_IDS)
def test_every_render_passes_promtool_check_rules(
    helm: Helm, prom_tools: Path, tmp_path: Path, files: tuple[Path, ...]
) -> None:
    groups = rule_groups(_rules_on(helm, files))
    assert set(alerts(groups)) == ALERT_NAMES
    result = _check_rules(prom_tools, tmp_path, groups).check()
    assert "SUCCESS: 7 rules found" in result.output, result.output


def test_plain_rules_file_is_the_charts_render(helm: Helm, prom_tools: Path) -> None:
    expected = plain_rules_text(helm)
    actual = PLAIN_RULES.read_text(encoding="utf-8") if PLAIN_RULES.exists() else ""
    assert actual == expected, f"{PLAIN_RULES.relative_to(REPO_ROOT)} is stale: run make monitoring-files"
    promtool("check", "rules", "--lint=all", "--lint-fatal", PLAIN_RULES).check()


def test_promtool_unit_tests_of_every_alert_pass(prom_tools: Path) -> None:
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)
    assert result.returncode == 0, result.output
    assert "SUCCESS" in result.output, result.output


def test_promtool_unit_tests_cover_every_alert_firing_and_silent() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert fired == ALERT_NAMES, f"never fires in a test: {ALERT_NAMES - fired}"
    assert silent == ALERT_NAMES, f"never checked silent: {ALERT_NAMES - silent}"
    assert tests["rule_files"] == [str(Path("..") / ".." / PLAIN_RULES.relative_to(REPO_ROOT))]


def test_the_unit_tests_can_fail(prom_tools: Path, tmp_path: Path) -> None:
    """A broken expectation makes promtool fail: the unit tests do test something."""
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    broken = next(c for c in tests["tests"] for check in c["alert_rule_test"] if check.get("exp_alerts"))
    broken["alert_rule_test"] = [{**check, "exp_alerts": []} for check in broken["alert_rule_test"]]
    tests["tests"] = [broken]
    tests["rule_files"] = [str(PLAIN_RULES)]
    path = tmp_path / "broken-test.yaml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = promtool("test", "rules", path)
    assert result.returncode != 0, result.output
    assert "FAILED" in result.output, result.output


def test_every_alert_has_a_summary_a_description_and_a_runbook_in_the_docs(renders_with_rules: Render) -> None:
    anchors = {_anchor(line) for line in OPERATIONS.read_text(encoding="utf-8").splitlines() if line.startswith("#")}
    for name, rule in alerts(rule_groups(renders_with_rules)).items():
        annotations = rule["annotations"]
        assert annotations["summary"], name
        assert annotations["description"], name
        base, _, anchor = annotations["runbook_url"].partition("#")
        assert base == "https://github.com/downward-dev/downward-webhook/blob/main/docs/operations.md", name
        assert anchor == name.lower(), name
        assert anchor in anchors, f"docs/operations.md has no heading for {name} (#{anchor})"
        assert rule["labels"]["severity"] in {"critical", "warning"}, name


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")


@pytest.fixture(scope="module")
def renders_with_rules(helm: Helm) -> Render:
    return _rules_on(helm)


def test_defaults_read_the_charts_own_names_and_timeout(renders_with_rules: Render) -> None:
    rules = alerts(rule_groups(renders_with_rules))
    assert rules["DownwardWebhookDown"]["expr"].strip() == f'absent(up{{job="{JOB}"}} == 1)'
    assert rules["DownwardWebhookDown"]["for"] == "5m"
    # p99 above half of webhook.timeoutSeconds (5 s by default)
    assert rules["DownwardWebhookSlow"]["expr"].rstrip().endswith("> 2.5")
    # tls.mode chart: renewed by helm upgrade; "should have been renewed" at 7 days
    assert rules["DownwardWebhookCertificateNotRenewed"]["expr"].rstrip().endswith(f"< {7 * 86400}")
    for name in ("DownwardWebhookFailOpen", "DownwardWebhookCallsRejected"):
        expr = rules[name]["expr"]
        for webhook_name in ("pods.downward.dev", "namespace.pods.downward.dev", "workloads.downward.dev"):
            assert re.search(f"name=~`[^`]*{re.escape(re.escape(webhook_name))}", expr), (name, webhook_name)
    assert 'error_type!="no_error"' in rules["DownwardWebhookCallsRejected"]["expr"]


def test_thresholds_and_durations_are_values(helm: Helm) -> None:
    values: dict[str, Any] = {
        "webhook": {"timeoutSeconds": 10},
        "config": {"server": {"requestTimeoutSeconds": 8.0}},
        "terminationGracePeriodSeconds": 60,
        "tls": {"mode": "certManager", "certManager": {"renewBefore": "480h"}},
        "alerts": {
            "job": "dw-metrics",
            "labels": {"team": "platform"},
            "down": {"for": "2m", "severity": "warning"},
            "failOpen": {"window": "30m", "for": "1m"},
            "errors": {"ratio": 0.1, "window": "10m", "for": "20m"},
            "slow": {"timeoutFraction": 0.8},
            "certificateExpiresSoon": {"days": 30},
            "certificateNotRenewed": {"graceHours": 12},
        },
    }
    rules = alerts(rule_groups(_rules_on(helm, **values)))
    assert rules["DownwardWebhookDown"]["for"] == "2m"
    assert rules["DownwardWebhookDown"]["labels"] == {"severity": "warning", "team": "platform"}
    assert 'job="dw-metrics"' in rules["DownwardWebhookDown"]["expr"]
    assert "[30m]" in rules["DownwardWebhookFailOpen"]["expr"]
    assert "offset 30m" in rules["DownwardWebhookFailOpen"]["expr"]
    assert rules["DownwardWebhookFailOpen"]["for"] == "1m"
    assert rules["DownwardWebhookErrors"]["expr"].rstrip().endswith("> 0.1")
    assert "[10m]" in rules["DownwardWebhookErrors"]["expr"]
    assert rules["DownwardWebhookErrors"]["for"] == "20m"
    assert rules["DownwardWebhookSlow"]["expr"].rstrip().endswith("> 8")  # 0.8 x 10 s
    assert rules["DownwardWebhookCertificateExpiresSoon"]["expr"].rstrip().endswith("< 30")
    # certManager renews at renewBefore (480 h); 12 h later it should have happened
    assert rules["DownwardWebhookCertificateNotRenewed"]["expr"].rstrip().endswith(f"< {468 * 3600}")


def test_a_bad_alert_value_is_refused_by_the_schema(helm: Helm) -> None:
    for values, needle in (
        ({"alerts": {"errors": {"ratio": 2}}}, "ratio"),
        ({"alerts": {"down": {"for": "five minutes"}}}, "for"),
        ({"alerts": {"slow": {"severity": "page"}}}, "severity"),
        ({"alerts": {"unknown": {}}}, "unknown"),
        ({"alerts": {"job": 'a"b'}}, "job"),
    ):
        result = helm.template_raw(values=values)
        assert result.returncode != 0, values
        assert needle in result.stderr, result.stderr


def test_prometheus_rule_is_off_by_default_and_follows_its_values(helm: Helm, renders: dict[str, Render]) -> None:
    assert not renders["default"].all("PrometheusRule")
    rule = _rules_on(helm, prometheusRule={"enabled": True, "labels": {"release": "prom"}, "namespace": "monitoring"})
    obj = rule.one("PrometheusRule")
    assert obj["metadata"]["namespace"] == "monitoring"
    assert obj["metadata"]["labels"]["release"] == "prom"
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert renders["default"].all("ConfigMap") == [renders["default"].one("ConfigMap")]  # no dashboard either


# --- the dashboard ----------------------------------------------------------------------------------------------


def test_dashboard_is_importable(helm: Helm) -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "timeout"} <= set(variables)
    assert board["uid"] == "downward-webhook"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for needed in ("outcome", "injections", "p99", "timeout", "fail-open", "rejections", "certificate", "replicas"):
        assert needed in titles, needed


@pytest.mark.parametrize("timeout", [5, 8])
def test_dashboard_config_map_carries_the_file_with_the_releases_timeout(helm: Helm, timeout: int) -> None:
    render = helm.template(
        values={
            "dashboard": {"enabled": True, "namespace": "grafana", "annotations": {"grafana_folder": "K8s"}},
            "webhook": {"timeoutSeconds": timeout},
        }
    )
    (config_map,) = [c for c in render.all("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "grafana"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "K8s"}
    shipped = json.loads(config_map["data"]["downward-webhook.json"])
    variable = next(v for v in shipped["templating"]["list"] if v["name"] == "timeout")
    value = str(timeout)
    assert (variable["query"], variable["current"]["value"], variable["options"][0]["value"]) == (value,) * 3
    # Everything else is the file, as imported by hand (where the variable starts at the default, 5).
    board = dashboard()
    default = next(v for v in board["templating"]["list"] if v["name"] == "timeout")
    assert default["query"] == "5"
    default.update(query=value, current={"text": value, "value": value})
    default["options"] = [{"selected": True, "text": value, "value": value}]
    assert shipped == board


def test_every_dashboard_query_parses(prom_tools: Path, tmp_path: Path) -> None:
    queries = dashboard_queries(JOB)
    assert len(queries) >= 12
    result = _check_rules(prom_tools, tmp_path, recording_rules(queries)).check()
    assert f"SUCCESS: {len(queries)} rules found" in result.output, result.output


def test_a_broken_query_fails_the_parse(prom_tools: Path, tmp_path: Path) -> None:
    result = _check_rules(
        prom_tools, tmp_path, {"groups": [{"name": "x", "rules": [{"record": "x", "expr": "sum(("}]}]}
    )
    assert result.returncode != 0


@pytest.fixture(scope="module")
def webhook_metric_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The sample names a real TLS webhook exports after one injection."""
    server = WebhookServer(tmp_path_factory.mktemp("metrics-server")).start()
    try:
        with httpx.Client(verify=server.tls_context()) as client:
            answer = client.post(
                server.url + "/mutate", content=opted_in_review("u1"), headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 200
            text = client.get(server.url + "/metrics").text
    finally:
        server.stop()
    return exposed_names(text)


def _names_in(expr: str) -> set[str]:
    return set(SELECTOR.findall(expr))


def test_dashboard_and_rules_name_only_metrics_that_exist(
    webhook_metric_names: set[str], renders_with_rules: Render
) -> None:
    known = webhook_metric_names | APISERVER_METRICS | PROMETHEUS_METRICS
    exprs = [(f"dashboard {q.panel} {q.ref}", q.expr) for q in dashboard_queries(JOB)]
    exprs += [(f"alert {name}", rule["expr"]) for name, rule in alerts(rule_groups(renders_with_rules)).items()]
    used: set[str] = set()
    for where, expr in exprs:
        names = _names_in(expr)
        assert names or expr.startswith("vector("), f"{where}: no metric selector found in {expr}"
        assert names <= known, f"{where} reads metrics that do not exist: {names - known}"
        used |= names
    webhook_used = {n for n in used if n.startswith("downward_webhook_")}
    assert {
        "downward_webhook_requests_total",
        "downward_webhook_injections_total",
        "downward_webhook_request_duration_seconds_bucket",
        "downward_webhook_answers_total",
        "downward_webhook_certificate_expiry_timestamp_seconds",
    } <= webhook_used
    assert used >= APISERVER_METRICS  # every apiserver metric the e2e test checks is really used


def test_the_name_check_can_fail(webhook_metric_names: set[str]) -> None:
    assert "downward_webhook_requests_total" in webhook_metric_names
    assert _names_in('rate(downward_webhook_request_total{job="x"}[5m])') - webhook_metric_names == {
        "downward_webhook_request_total"
    }


def test_the_dashboards_job_default_is_the_default_release(helm: Helm) -> None:
    """`helm install downward-webhook ...` (the README) names the Service, and so the job, downward-webhook."""
    job = next(v for v in dashboard()["templating"]["list"] if v["name"] == "job")
    render = helm.template(release="downward-webhook", namespace=NAMESPACE)
    assert job["current"]["value"] == render.one("Service")["metadata"]["name"]


def test_the_docs_scrape_job_is_the_one_the_node_test_uses() -> None:
    """docs/operations.md's job for a Prometheus without the operator is webhook_scrape_job(), which
    tests/e2e/test_node_monitoring.py runs against the real webhook pods (adding only a kubeconfig)."""
    from tests.e2e.cluster.prometheus import webhook_scrape_job

    blocks = re.findall(r"```yaml\n(.*?)```", OPERATIONS.read_text(encoding="utf-8"), re.DOTALL)
    configs = [yaml.safe_load(block) for block in blocks if "scrape_configs:" in block]
    assert len(configs) == 1, "expected one prometheus.yml example in docs/operations.md"
    (job,) = configs[0]["scrape_configs"]
    assert job == webhook_scrape_job("/etc/prometheus/downward-webhook-ca.crt")
    assert configs[0]["rule_files"] == [f"/etc/prometheus/rules/{PLAIN_RULES.name}"]


def test_exposed_names_are_the_names_on_the_wire() -> None:
    text = '# TYPE a_count counter\na_count{name="x"} 1\nb_total 2\nc_bucket{le="+Inf"} 3\n'
    assert exposed_names(text) == {"a_count", "b_total", "c_bucket"}
