"""`downward-webhook check` offline: the verdicts (pure functions of plain API objects), the arguments, the JSON
document's shape and the exit statuses that need no cluster. tests/e2e/test_check.py produces each verdict for real.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webhook.check.command import add_arguments, validate
from webhook.check.health import ConfigurationHealth
from webhook.check.kubeconfig import merge
from webhook.check.manifests import dry_run_verdict, respec, would_be_pods
from webhook.check.output import PodLine, Report, as_json, as_text
from webhook.check.verdicts import (
    API_VERSION,
    UsageError,
    Verdict,
    entries_of,
    limited_verdict,
    pod_verdict,
    prefix_of,
    selector_failure,
)
from webhook.check.victims import Owner, group_victims, restart_command, top_owner

P = "downward.dev/"
EXCLUDED = ["kube-system", "kube-node-lease", "kube-public", "downward-system", "legacy"]
STATUS = json.dumps(
    {"containers": ["app"], "env": ["POD_NAME", "POD_NAMESPACE"], "mountPath": "/etc/downward", "ambassador": None}
)


def configuration(
    name: str = "downward-webhook",
    created: str = "2026-01-01T00:00:00Z",
    policy: str = "Ignore",
    namespace_wide: bool = True,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The chart's configuration as installed (the same selectors the chart renders)."""
    names = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": EXCLUDED}
    service = {"service": {"name": "downward-webhook", "namespace": "downward-system", "path": "/mutate", "port": 443}}
    annotation_selector: dict[str, Any] = {"matchExpressions": [names, *(extra or [])]}
    if namespace_wide:
        annotation_selector["matchExpressions"].append(
            {"key": P + "inject", "operator": "NotIn", "values": ["enabled"]}
        )
    webhooks = [
        {
            "name": "pods.downward.dev",
            "failurePolicy": policy,
            "namespaceSelector": annotation_selector,
            "clientConfig": service,
        },
        {"name": "workloads.downward.dev", "failurePolicy": "Ignore", "clientConfig": service},
    ]
    if namespace_wide:
        webhooks.append(
            {
                "name": "namespace.pods.downward.dev",
                "failurePolicy": policy,
                "namespaceSelector": {
                    "matchLabels": {P + "inject": "enabled"},
                    "matchExpressions": [names, *(extra or [])],
                },
                "clientConfig": service,
            }
        )
    return {"metadata": {"name": name, "creationTimestamp": created}, "webhooks": webhooks}


def pod(
    annotations: dict[str, str] | None = None,
    created: str = "2026-02-01T00:00:00Z",
    namespace: str = "shop",
    owners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": namespace,
            "creationTimestamp": created,
            "annotations": annotations or {},
            "ownerReferences": owners or [],
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


def ns(name: str = "shop", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


ENTRIES = entries_of([configuration()])
OPT_IN = {P + "inject": "true"}


@pytest.mark.parametrize(
    ("annotations", "namespace", "code", "message"),
    [
        (
            {P + "status": STATUS},
            ns(),
            "injected",
            "injected: env POD_NAME,POD_NAMESPACE into app, volume /etc/downward",
        ),
        (
            {P + "status": "{bad"},
            ns(),
            "status-unreadable",
            "status annotation unreadable: annotation downward.dev/status",
        ),
        ({"kubernetes.io/config.mirror": "x", **OPT_IN}, ns(), "mirror-pod", "not injected: a static pod's mirror"),
        (
            {P + "inject": "false"},
            ns(**{P + "inject": "enabled"}),
            "opted-out",
            "opted out: the pod has downward.dev/inject=false",
        ),
        ({P + "inject": " False "}, ns(), "opted-out", "opted out"),
        (
            {},
            ns(),
            "not-opted-in",
            "not sent to the webhook: namespace shop has no label downward.dev/inject=enabled and the pod has no downward.dev/inject annotation",
        ),
        ({"other/inject": "true"}, ns(), "not-opted-in", "not sent to the webhook"),
        (
            OPT_IN,
            ns(),
            "no-webhook-answered",
            "opted in but not injected: created at 2026-02-01T00:00:00Z while no webhook answered (failurePolicy Ignore)",
        ),
        ({P + "inject": "TRUE"}, ns(), "no-webhook-answered", "while no webhook answered"),
        ({P + "otel": "true"}, ns(), "no-webhook-answered", "while no webhook answered"),
        ({}, ns(**{P + "inject": "enabled"}), "no-webhook-answered", "while no webhook answered"),
        (
            OPT_IN,
            ns("kube-system"),
            "excluded-namespace",
            "not sent to the webhook: namespace kube-system is excluded (a system namespace) by downward-webhook",
        ),
        (OPT_IN, ns("downward-system"), "excluded-namespace", "is excluded (the webhook's own namespace)"),
        (
            OPT_IN,
            ns("legacy"),
            "excluded-namespace",
            "is excluded (listed in the chart value webhook.excludeNamespaces)",
        ),
        ({}, ns("kube-public", **{P + "inject": "enabled"}), "excluded-namespace", "namespace kube-public is excluded"),
    ],
)
def test_pod_verdicts(annotations: dict[str, str], namespace: dict[str, Any], code: str, message: str) -> None:
    verdict = pod_verdict(pod(annotations, namespace=namespace["metadata"]["name"]), namespace, ENTRIES)
    assert verdict.code == code
    assert message in verdict.message, verdict.message
    assert verdict.injected == (code == "injected")


def test_created_before_the_configuration() -> None:
    verdict = pod_verdict(pod(OPT_IN, created="2025-12-31T23:59:59Z"), ns(), ENTRIES)
    assert verdict.code == "created-before-configuration"
    assert verdict.message == (
        "opted in but not injected: created at 2025-12-31T23:59:59Z, before the webhook configuration "
        "downward-webhook existed (2026-01-01T00:00:00Z); restart it"
    )
    assert verdict.victim


def test_fail_policy_and_no_status_points_at_the_logs() -> None:
    verdict = pod_verdict(pod(OPT_IN), ns(), entries_of([configuration(policy="Fail")]))
    assert verdict.code == "admitted-unchanged"
    assert "see the webhook's logs" in verdict.message
    assert verdict.victim


def test_no_configuration_installed() -> None:
    verdict = pod_verdict(pod(OPT_IN), ns(), [])
    assert (verdict.code, verdict.victim, verdict.opted_in) == ("no-configuration", True, True)
    assert verdict.message == "opted in but not injected: no downward-webhook MutatingWebhookConfiguration is installed"


def test_labelled_namespace_without_the_namespace_entry() -> None:
    entries = entries_of([configuration(namespace_wide=False)])
    verdict = pod_verdict(pod(), ns(**{P + "inject": "enabled"}), entries)
    assert verdict.code == "no-namespace-entry"
    assert "webhook.namespaceWide.enabled" in verdict.message
    # With the annotation too, the annotation entry is the one that counts.
    assert pod_verdict(pod(OPT_IN), ns(**{P + "inject": "enabled"}), entries).code == "no-webhook-answered"


def test_not_selected_by_the_operators_selector() -> None:
    extra = [{"key": "team", "operator": "In", "values": ["payments"]}]
    verdict = pod_verdict(pod(OPT_IN), ns(), entries_of([configuration(extra=extra)]))
    assert verdict.code == "not-selected"
    assert verdict.message == (
        "not sent to the webhook: namespace shop is not selected by the namespaceSelector of "
        "downward-webhook/pods.downward.dev (needs team In [payments])"
    )
    assert not verdict.victim
    assert (
        pod_verdict(pod(OPT_IN), ns(team="payments"), entries_of([configuration(extra=extra)])).code
        == "no-webhook-answered"
    )


def test_annotation_on_the_deployment_not_its_template() -> None:
    replica_set = {  # the Deployment controller copies the Deployment's annotations onto its ReplicaSets
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8",
            "annotations": OPT_IN,
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {"template": {"metadata": {}}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": OPT_IN},
        "spec": {"template": {"metadata": {}}},
    }
    verdict = pod_verdict(pod(), ns(), ENTRIES, [replica_set, deployment])
    assert verdict.code == "annotation-on-workload"
    assert verdict.message == (
        "not injected: downward.dev/inject is on the Deployment web, not its pod template: "
        "move it to spec.template.metadata.annotations"
    )


def test_annotation_on_the_cronjob() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "annotations": OPT_IN},
        "spec": {"jobTemplate": {"spec": {"template": {}}}},
    }
    verdict = pod_verdict(
        pod(), ns(), ENTRIES, [{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "n-1"}}, cronjob]
    )
    assert "move it to spec.jobTemplate.spec.template.metadata.annotations" in verdict.message


def test_the_prefix_comes_from_the_installed_namespace_entry() -> None:
    config = configuration()
    config["webhooks"][2]["namespaceSelector"]["matchLabels"] = {"acme.io/inject": "enabled"}
    assert prefix_of(entries_of([config])) == "acme.io/"
    assert prefix_of([]) == P
    verdict = pod_verdict(pod({"acme.io/inject": "false"}), ns(), entries_of([config]))
    assert verdict.message == "opted out: the pod has acme.io/inject=false"


def test_entries_of_ignores_other_webhooks_and_sorts_by_age() -> None:
    other = {"metadata": {"name": "istio"}, "webhooks": [{"name": "sidecar-injector.istio.io"}]}
    entries = entries_of(
        [configuration("b", "2026-03-01T00:00:00Z"), other, configuration("a", "2026-01-01T00:00:00Z")]
    )
    assert [(e.configuration, e.name) for e in entries] == [
        ("a", "pods.downward.dev"),
        ("a", "namespace.pods.downward.dev"),
        ("b", "pods.downward.dev"),
        ("b", "namespace.pods.downward.dev"),
    ]


@pytest.mark.parametrize(
    ("selector", "labels", "failure"),
    [
        (None, {}, None),
        ({}, {"a": "1"}, None),
        ({"matchLabels": {"a": "1"}}, {"a": "1"}, None),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, "a=1"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, None),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, "a In [1]"),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, None),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, "a NotIn [1]"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, None),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, "a Exists"),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, "a DoesNotExist"),
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": "x"}, "a Bogus"),
    ],
)
def test_label_selectors(selector: Any, labels: dict[str, str], failure: str | None) -> None:
    assert selector_failure(selector, labels) == failure


@pytest.mark.parametrize(
    ("owner", "pods", "command"),
    [
        (Owner("Deployment", "web"), ["web-1"], "kubectl rollout restart deployment/web -n shop"),
        (Owner("StatefulSet", "db"), ["db-0"], "kubectl rollout restart statefulset/db -n shop"),
        (Owner("DaemonSet", "agent"), ["agent-x"], "kubectl rollout restart daemonset/agent -n shop"),
        (
            Owner("CronJob", "nightly"),
            ["n-1"],
            "kubectl create job --from=cronjob/nightly nightly-rerun -n shop  # or wait for the next run",
        ),
        (Owner("ReplicaSet", "rs"), ["a", "b"], "kubectl delete pod a b -n shop  # the ReplicaSet rs recreates them"),
        (None, ["bare"], "kubectl get pod bare -n shop -o yaml | kubectl replace --force -f -"),
    ],
)
def test_restart_commands(owner: Owner | None, pods: list[str], command: str) -> None:
    assert restart_command("shop", owner, pods) == command


def test_victims_are_grouped_by_their_top_owner() -> None:
    rs_ref = [{"kind": "ReplicaSet", "name": "web-5d8", "controller": True}]
    replica_set = {
        "metadata": {"name": "web-5d8", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}
    }
    verdict = Verdict("no-webhook-answered", "opted in but not injected", opted_in=True)
    first, second, bare = pod(OPT_IN, owners=rs_ref), pod(OPT_IN, owners=rs_ref), pod(OPT_IN)
    second["metadata"]["name"], bare["metadata"]["name"] = "web-2", "bare"
    owner = top_owner(first, [replica_set])
    assert owner == Owner("Deployment", "web")
    assert top_owner(bare, []) is None
    assert top_owner(first, []) == Owner("ReplicaSet", "web-5d8")  # the ReplicaSet could not be read
    groups = group_victims([(first, owner, verdict), (second, owner, verdict), (bare, None, verdict)])
    assert [(g.owner, g.pods, g.restart) for g in groups] == [
        (None, ["bare"], "kubectl get pod bare -n shop -o yaml | kubectl replace --force -f -"),
        (Owner("Deployment", "web"), ["web-1", "web-2"], "kubectl rollout restart deployment/web -n shop"),
    ]


def test_would_be_pods_of_every_workload_kind() -> None:
    template = {
        "metadata": {"annotations": OPT_IN, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "app", "image": "i"}]},
    }
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "other", "annotations": OPT_IN},
            "spec": template["spec"],
        },
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": template}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"template": template}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": {"template": template}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {"template": template}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template}},
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "empty"}, "spec": {}},
        "just a string",
    ]
    result = would_be_pods(documents, "shop")
    assert [(w.label, w.namespace, w.skipped) for w in result] == [
        ("Pod other/p", "other", ""),
        ("Deployment shop/d", "shop", ""),
        ("StatefulSet shop/s", "shop", ""),
        ("DaemonSet shop/ds", "shop", ""),
        ("ReplicaSet shop/rs", "shop", ""),
        ("Job shop/j", "shop", ""),
        ("CronJob shop/c", "shop", ""),
        ("ConfigMap shop/cm", "shop", "skipped: a ConfigMap makes no pods"),
        ("Deployment shop/empty", "shop", "skipped: no pod template"),
        ("(document)", "shop", "not a Kubernetes object"),
    ]
    deployment_pod = result[1].pod
    assert deployment_pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "d-", "labels": {"app": "x"}, "annotations": OPT_IN},
        "spec": template["spec"],
    }
    assert result[0].pod is not None
    assert result[0].pod["metadata"]["generateName"] == "p-"


def test_a_list_document_is_flattened() -> None:
    items = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {}}]
    assert [w.label for w in would_be_pods([{"kind": "List", "items": items}], "ns")] == ["Pod ns/a"]


def test_respec_drops_what_the_cluster_added() -> None:
    live = pod({**OPT_IN, P + "status": STATUS})
    live["spec"]["nodeName"] = "node-1"
    live["spec"]["volumes"] = [{"name": "kube-api-access-x1"}, {"name": "data"}]
    live["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "kube-api-access-x1", "mountPath": "/t"},
        {"name": "data", "mountPath": "/d"},
    ]
    what, again = respec(live)
    assert what == "its spec"
    assert again["metadata"] == {"generateName": "web-1-", "annotations": {**OPT_IN, P + "status": STATUS}}
    assert "nodeName" not in again["spec"]
    assert again["spec"]["volumes"] == [{"name": "data"}]
    assert again["spec"]["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/d"}]


def test_respec_prefers_the_controllers_pod_template() -> None:
    template = {"metadata": {"annotations": OPT_IN}, "spec": {"containers": [{"name": "app", "image": "new"}]}}
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8"},
        "spec": {"template": template},
    }
    what, again = respec(pod({**OPT_IN, P + "status": STATUS}), [replica_set])
    assert what == "the pod template of its ReplicaSet web-5d8"
    assert again == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-1-", "annotations": OPT_IN},
        "spec": template["spec"],
    }


@pytest.mark.parametrize(
    ("status", "body", "outcome", "message", "failed"),
    [
        (
            201,
            pod({**OPT_IN, P + "status": STATUS}),
            "injected",
            "would be injected: env POD_NAME,POD_NAMESPACE into app, volume /etc/downward",
            False,
        ),
        (
            201,
            pod(OPT_IN),
            "not-injected",
            "would NOT be injected although it opted in: the webhook did not answer",
            True,
        ),
        (
            201,
            pod(),
            "not-injected",
            "would not be injected: not sent to the webhook: namespace shop has no label",
            False,
        ),
        (
            400,
            {"kind": "Status", "message": 'admission webhook "pods.downward.dev" denied the request: bad'},
            "denied",
            'denied: admission webhook "pods.downward.dev" denied the request: bad',
            True,
        ),
        (
            403,
            {"kind": "Status", "message": 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'},
            "denied",
            "denied: pods",
            True,
        ),
    ],
)
def test_dry_run_verdicts(status: int, body: Any, outcome: str, message: str, failed: bool) -> None:
    result = dry_run_verdict("Pod shop/x", status, body, ["w1"], namespace=ns(), entries=ENTRIES)
    assert (result.outcome, result.failed, result.warnings) == (outcome, failed, ("w1",))
    assert result.message.startswith(message), result.message


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("web", "-A"), "a POD name and -A do not go together"),
        (("web", "-f", "x.yaml"), "a POD name and -f do not go together"),
        (("-A", "-f", "x.yaml"), "-f and -A do not go together"),
        (("--dry-run",), "--dry-run needs a POD name"),
    ],
)
def test_arguments_that_do_not_go_together(argv: tuple[str, ...], problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        validate(args(*argv))


@pytest.mark.parametrize(
    "argv", [(), ("web",), ("web", "-n", "shop", "--dry-run"), ("-A", "-o", "json"), ("-f", "-", "-n", "x")]
)
def test_arguments_that_go_together(argv: tuple[str, ...]) -> None:
    validate(args(*argv))


def health_of(verified: bool | None = True, ready: int = 1) -> ConfigurationHealth:
    return ConfigurationHealth(
        "downward-webhook",
        "2026-01-01T00:00:00Z",
        [("pods.downward.dev", "Ignore")],
        "service downward-system/downward-webhook:443",
        verified,
        "the caBundle verifies",
        [("downward-system/downward-webhook", ready, 2)],
    )


def test_json_document_shape() -> None:
    verdict = Verdict("no-webhook-answered", "opted in but not injected: x", opted_in=True)
    victims = group_victims([(pod(OPT_IN), Owner("Deployment", "web"), verdict)])
    report = Report("all-namespaces", [health_of()], [PodLine("shop", "web-1", verdict)], victims)
    document = json.loads(as_json(report))
    assert document == {
        "apiVersion": API_VERSION,
        "kind": "CheckReport",
        "mode": "all-namespaces",
        "webhook": {
            "installed": True,
            "configurations": [
                {
                    "name": "downward-webhook",
                    "created": "2026-01-01T00:00:00Z",
                    "entries": [{"name": "pods.downward.dev", "failurePolicy": "Ignore"}],
                    "target": "service downward-system/downward-webhook:443",
                    "tls": {"verified": True, "detail": "the caBundle verifies"},
                    "deployments": [{"name": "downward-system/downward-webhook", "ready": 1, "desired": 2}],
                    "note": "",
                }
            ],
        },
        "pods": [
            {
                "namespace": "shop",
                "name": "web-1",
                "verdict": "no-webhook-answered",
                "injected": False,
                "optedIn": True,
                "message": "opted in but not injected: x",
            }
        ],
        "victims": [
            {
                "namespace": "shop",
                "owner": {"kind": "Deployment", "name": "web"},
                "pods": ["web-1"],
                "reason": "opted in but not injected: x",
                "restart": "kubectl rollout restart deployment/web -n shop",
            }
        ],
        "dryRuns": [],
        "problems": [],
        "unreadable": "",
        "exitCode": 1,
    }
    assert API_VERSION == "downward.dev/check/v1"


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (Report("all-namespaces", [health_of()], victims=[]), 0),
        (Report("pod", [health_of()], [PodLine("s", "p", Verdict("injected", "injected: x", injected=True))]), 0),
        (Report("pod", [health_of()], [PodLine("s", "p", Verdict("not-opted-in", "not sent"))]), 1),
        (Report("all-namespaces", [health_of(verified=False)], victims=[]), 1),
        (Report("all-namespaces", [health_of(verified=None)], victims=[]), 0),  # not reachable from here: unknown
        (Report("all-namespaces", [health_of(ready=0)], victims=[]), 1),
        (Report("all-namespaces", [], victims=[]), 0),
    ],
)
def test_exit_codes(report: Report, code: int) -> None:
    assert report.exit_code == code


def test_text_report_of_all_namespaces() -> None:
    verdict = Verdict(
        "no-webhook-answered",
        "opted in but not injected: created at T while no webhook answered (failurePolicy Ignore)",
        opted_in=True,
    )
    victims = group_victims([(pod(OPT_IN), Owner("Deployment", "web"), verdict)])
    text = as_text(Report("all-namespaces", [health_of()], [PodLine("shop", "web-1", verdict)], victims))
    assert text.splitlines() == [
        "webhook: downward-webhook (created 2026-01-01T00:00:00Z): pods.downward.dev (failurePolicy Ignore)",
        "  service downward-system/downward-webhook:443: the caBundle verifies",
        "  deployment downward-system/downward-webhook: 1/2 ready",
        "1 opted-in pods not injected; restart them once the webhook answers:",
        "  Deployment shop/web: web-1",
        "    opted in but not injected: created at T while no webhook answered (failurePolicy Ignore)",
        "    kubectl rollout restart deployment/web -n shop",
        "downward-webhook check: 1 opted-in pods not injected",
    ]
    assert as_text(Report("all-namespaces", [], victims=[])).splitlines() == [
        "webhook: not installed (no MutatingWebhookConfiguration has the entry pods.downward.dev)",
        "downward-webhook check: 0 opted-in pods not injected",
    ]


def run(*argv: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", "check", *argv],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_no_kubeconfig_is_exit_2(tmp_path: Path) -> None:
    answer = run(env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert answer.returncode == 2
    assert answer.stderr.startswith(f"error: no kubeconfig: {tmp_path}/.kube/config not found and not running in a pod")


def test_unreachable_cluster_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n",
        encoding="utf-8",
    )
    answer = run("--kubeconfig", str(config))
    assert answer.returncode == 2
    assert answer.stderr.startswith("error: cannot reach the cluster at https://127.0.0.1:9: ")


@pytest.mark.parametrize(
    ("argv", "stderr"),
    [
        (("-n", "a", "-A"), "not allowed with argument"),
        (("-o", "yaml"), "invalid choice: 'yaml'"),
        (("web", "-A"), "error: a POD name and -A do not go together"),
        (("--kubeconfig", "/nonexistent/kubeconfig"), "error: no kubeconfig: /nonexistent/kubeconfig not found"),
        (("-f", "/nonexistent.yaml"), "error: cannot read /nonexistent.yaml: No such file or directory"),
        (("-f", "NOT_UTF8"), "error: cannot read NOT_UTF8: not UTF-8 text (byte 3: invalid start byte)"),
        (("--context", "nope", "--kubeconfig", "KUBECONFIG"), "error: kubeconfig: Context 'nope' not found"),
    ],
)
def test_usage_errors_are_exit_2(argv: tuple[str, ...], stderr: str, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n",
        encoding="utf-8",
    )
    binary = tmp_path / "image.yaml"
    binary.write_bytes(b"a: \xff\xfe")
    paths = {"KUBECONFIG": str(config), "NOT_UTF8": str(binary)}
    answer = run(*[paths.get(a, a) for a in argv])
    assert answer.returncode == 2
    assert stderr.replace("NOT_UTF8", str(binary)) in answer.stderr


# --- $KUBECONFIG with several files, merged like kubectl ------------------------------------------------------

A = ("/home/me/.kube/config", {
    "current-context": "dev",
    "clusters": [{"name": "dev", "cluster": {"server": "https://dev", "certificate-authority": "dev-ca.crt"}}],
    "users": [{"name": "me", "user": {"client-certificate": "me.crt", "client-key": "/abs/me.key"}}],
    "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "me"}}],
})  # fmt: skip
B = ("/etc/kube/prod.yaml", {
    "current-context": "prod",
    "clusters": [{"name": "dev", "cluster": {"server": "https://shadowed"}},
                 {"name": "prod", "cluster": {"server": "https://prod"}}],
    "users": [{"name": "ops", "user": {"tokenFile": "token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "ops", "namespace": "shop"}}],
})  # fmt: skip


@pytest.mark.parametrize(
    ("files", "current", "servers", "paths"),
    [
        # The first file naming an entry wins; current-context comes from the first file that sets one.
        ([A, B], "dev", {"dev": "https://dev", "prod": "https://prod"},
         ["/home/me/.kube/dev-ca.crt", "/home/me/.kube/me.crt", "/abs/me.key", "/etc/kube/token"]),
        ([B, A], "prod", {"dev": "https://shadowed", "prod": "https://prod"},
         ["/etc/kube/token", "/home/me/.kube/me.crt", "/abs/me.key"]),
        # A file with only a current-context picks among the entries of the next ones; empty files add nothing.
        ([("/x/ctx", {"current-context": "prod"}), ("/x/empty", None), B], "prod",
         {"dev": "https://shadowed", "prod": "https://prod"}, ["/etc/kube/token"]),
        ([("/x/empty", None)], None, {}, []),
    ],
)  # fmt: skip
def test_kubeconfig_files_merge_like_kubectl(
    files: list[tuple[str, Any]], current: str | None, servers: dict[str, str], paths: list[str]
) -> None:
    merged = merge(files)
    assert merged.get("current-context") == current
    assert {c["name"]: c["cluster"]["server"] for c in merged["clusters"]} == servers
    found = [
        value
        for section, body in (("clusters", "cluster"), ("users", "user"))
        for entry in merged[section]
        for key, value in entry[body].items()
        if key in ("certificate-authority", "client-certificate", "client-key", "tokenFile")
    ]
    assert sorted(found) == sorted(paths)


def test_kubeconfig_from_two_files_reaches_the_context_they_make_together(tmp_path: Path) -> None:
    """kubectl's split: the context and current-context in one file, the cluster and user in another. The
    cluster is a closed port, so the answer shows which server was chosen."""
    (tmp_path / "a").write_text("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n")
    (tmp_path / "b").write_text(
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\n",
        encoding="utf-8",
    )
    missing = tmp_path / "missing"  # kubectl skips a listed file that does not exist
    kubeconfig = os.pathsep.join(str(p) for p in (missing, tmp_path / "a", tmp_path / "b"))
    answer = run(env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "KUBECONFIG": kubeconfig})
    assert answer.returncode == 2
    assert answer.stderr.startswith("error: cannot reach the cluster at https://127.0.0.1:9: "), answer.stderr
    (tmp_path / "b").write_text("clusters: [not, a, mapping\n", encoding="utf-8")
    broken = run(env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "KUBECONFIG": kubeconfig})
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"error: kubeconfig {tmp_path / 'b'}: cannot be read: "), broken.stderr


# --- an app team's RBAC: the pod readable, the configuration or the namespace not ---------------------------------

REFUSED = "forbidden: needs 'list' on 'mutatingwebhookconfigurations' (cluster)"


@pytest.mark.parametrize(
    ("annotations", "code", "message"),
    [
        ({P + "status": STATUS}, "injected", "injected: env POD_NAME,POD_NAMESPACE into app, volume /etc/downward"),
        ({P + "inject": "false"}, "opted-out", f"opted out: the pod has {P}inject=false"),
        ({P + "inject": "true"}, "not-injected-unexplained",
         f"opted in ({P}inject) but not injected; why cannot be read with your permissions ({REFUSED}): "
         "a cluster operator's `downward-webhook check -A` says"),
        # Not opted in by annotation: the namespace-wide opt-in is in the unreadable part, so no "not sent" claim.
        ({}, "not-injected-unexplained",
         f"not injected; why cannot be read with your permissions ({REFUSED}): "
         "a cluster operator's `downward-webhook check -A` says"),
    ],
)  # fmt: skip
def test_limited_verdict_is_certain_of_injected_or_not_and_names_what_the_why_needs(
    annotations: dict[str, str], code: str, message: str
) -> None:
    verdict = limited_verdict(pod(annotations), REFUSED)
    assert (verdict.code, verdict.message) == (code, message)
    assert verdict.opted_in == (code == "injected" or annotations.get(P + "inject") == "true")


def test_a_partial_report_says_what_could_not_be_read() -> None:
    verdict = limited_verdict(pod({P + "inject": "true"}), REFUSED)
    report = Report("pod", [], [PodLine("shop", "web-1", verdict)], unreadable=REFUSED)
    assert as_text(report).splitlines()[0] == f"webhook: cannot be read with your permissions ({REFUSED})"
    document = json.loads(as_json(report))
    assert (document["webhook"]["installed"], document["unreadable"], document["exitCode"]) == (None, REFUSED, 1)
    assert json.loads(as_json(Report("pod", [])))["webhook"]["installed"] is False  # readable, and none there
