"""`downward-webhook check` against the real control plane: every verdict produced for real, as a subprocess with a
real kubeconfig (the admin's, a user without rights, the checkJob's ServiceAccount token).

The shared `webhook` fixture (failurePolicy Fail, every namespace without e2e.downward.dev/isolated) injects;
the outage tests register their own configuration, failurePolicy Ignore, for one isolated namespace, and stop
its server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart_helpers import CHART_DIR, Helm
from tests.e2e.cluster import Binaries, ControlPlane
from tests.e2e.kube import Kube, eventually, service_account_kubeconfig, write_kubeconfig
from tests.e2e.registration import ISOLATED, MWC_PATH, RunningWebhook, registered, start_server
from webhook.core.catalog import SEED_ENV

P = "downward.dev/"
SEED = ",".join(SEED_ENV)


def check(control_plane: ControlPlane, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`downward-webhook check ARGS` as a subprocess; KUBECONFIG is the admin's unless --kubeconfig says."""
    env = control_plane.env({"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"})
    return subprocess.run(
        [sys.executable, "-m", "webhook", "check", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pod(name: str, annotations: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"containers": [{"name": "app", "image": "busybox", **container}]},
    }


def deployment(name: str, own: dict[str, str], template: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": own},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": template},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            },
        },
    }


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def wait_for_pods(kube: Kube, namespace: str, count: int) -> list[dict[str, Any]]:
    def listed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = kube.get(pods_path(namespace))["items"]
        return items if len(items) >= count else None

    found: list[dict[str, Any]] = eventually(listed, timeout=60, what=f"{count} pods in {namespace}")
    return found


def _next_second(obj: dict[str, Any]) -> None:
    """Timestamps have a one-second resolution: wait until what comes next is created in a later second."""
    created = datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    eventually(lambda: datetime.now(UTC) >= created + timedelta(seconds=1), timeout=5, what="the next second")


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


# --- verdicts of existing pods -----------------------------------------------------------------------------------


def test_injected_pod_says_what_was_injected(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    kube.must(kube.create(pods_path(namespace), pod("web", {P + "inject": "true"})))
    result = check(control_plane, "web", "-n", namespace)
    assert result.returncode == 0, result.stderr
    assert f"pod {namespace}/web: injected: env {SEED} into app, volume /etc/downward" in lines(result)
    # The webhook section: the configuration, its failurePolicy, and its caBundle checked against the live server.
    assert f"webhook: {webhook.name} (created " in result.stdout
    assert "pods.downward.dev (failurePolicy Fail)" in result.stdout
    host_port = webhook.server.url.removeprefix("https://")
    assert (
        f"  {webhook.server.url}/mutate: the caBundle verifies the certificate served at {host_port}" in result.stdout
    )
    # Its spec dry-run again: what the webhook would do now; nothing stored.
    again = check(control_plane, "web", "-n", namespace, "--dry-run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Pod {namespace}/web (its spec, dry-run): would be injected: env {SEED} into app" in again.stdout
    assert [p["metadata"]["name"] for p in kube.get(pods_path(namespace))["items"]] == ["web"]


def test_namespace_without_label_and_pod_without_annotation(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    kube.must(kube.create(pods_path(namespace), pod("plain")))
    result = check(control_plane, "plain", "-n", namespace)
    assert result.returncode == 1
    assert lines(result)[-1] == (
        f"pod {namespace}/plain: not sent to the webhook: namespace {namespace} has no label "
        f"{P}inject=enabled and the pod has no {P}inject annotation"
    )


def test_excluded_namespace(control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook) -> None:
    name = f"excluded-{uuid.uuid4().hex[:6]}"
    control_plane.wait_for_default_serviceaccount("kube-public", timeout=60)
    kube.must(kube.create(pods_path("kube-public"), pod(name, {P + "inject": "true"})))
    try:
        result = check(control_plane, name, "-n", "kube-public")
    finally:
        kube.call("DELETE", f"{pods_path('kube-public')}/{name}")
    assert result.returncode == 1
    assert lines(result)[-1] == (
        f"pod kube-public/{name}: not sent to the webhook: namespace kube-public is excluded (a system namespace) "
        f"by {webhook.name}"
    )


def test_annotation_on_the_deployment_not_its_template(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    created = kube.call(
        "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("web", {P + "inject": "true"}, {})
    )
    assert created.status == 201, created.body
    (replica,) = wait_for_pods(kube, namespace, 1)
    name = replica["metadata"]["name"]
    result = check(control_plane, name, "-n", namespace)
    assert result.returncode == 1
    expected = (
        f"not injected: {P}inject is on the Deployment web, not its pod template: "
        "move it to spec.template.metadata.annotations"
    )
    assert lines(result)[-1] == f"pod {namespace}/{name}: {expected}"
    # The namespace's report says it too; not an outage victim, so the exit status stays 0.
    listing = check(control_plane, "-n", namespace)
    assert listing.returncode == 0, listing.stdout
    assert f"pod {namespace}/{name}: {expected}" in lines(listing)
    assert lines(listing)[-1] == "downward-webhook check: 0 opted-in pods not injected"


def test_missing_pod_is_a_usage_error(control_plane: ControlPlane, webhook: RunningWebhook, namespace: str) -> None:
    result = check(control_plane, "nope", "-n", namespace)
    assert result.returncode == 2
    assert result.stderr == f"error: pod nope not found in namespace {namespace}\n"


# --- the outage: webhook stopped under failurePolicy Ignore -----------------------------------------------------


@pytest.fixture
def outage(
    control_plane: ControlPlane, kube: Kube, helm: Helm, make_namespace: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[str, RunningWebhook]]:
    """An isolated namespace whose own webhook (failurePolicy Ignore) has stopped; one pod created before the
    configuration existed, then a bare pod and a Deployment's pod created while it was down."""
    label = f"l{uuid.uuid4().hex[:8]}"
    namespace = make_namespace(**{ISOLATED: label})
    early = kube.must(kube.create(pods_path(namespace), pod("early", {P + "inject": "true"})))
    _next_second(early)
    server = start_server(control_plane, tmp_path)
    values = {"webhook": {"failurePolicy": "Ignore", "namespaceSelector": {"matchLabels": {ISOLATED: label}}}}
    try:
        with registered(kube, helm, server, values, ca_pem=control_plane.ca_pem, probe_namespace=namespace) as running:
            server.stop()
            kube.must(kube.create(pods_path(namespace), pod("bare", {P + "inject": "true"})))
            body = deployment("web", {}, {P + "inject": "true"}, replicas=2)
            kube.must(kube.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body), 201)
            wait_for_pods(kube, namespace, 4)
            yield namespace, running
    finally:
        server.stop()


def test_pod_created_while_no_webhook_answered(
    control_plane: ControlPlane, webhook: RunningWebhook, outage: tuple[str, RunningWebhook]
) -> None:
    namespace, down = outage
    result = check(control_plane, "bare", "-n", namespace)
    assert result.returncode == 1
    (verdict,) = [line for line in lines(result) if line.startswith("pod ")]
    assert verdict.startswith(f"pod {namespace}/bare: opted in but not injected: created at ")
    assert verdict.endswith(" while no webhook answered (failurePolicy Ignore)")
    assert f"  {down.server.url}/mutate: not reachable from here (" in result.stdout
    early = check(control_plane, "early", "-n", namespace)
    assert early.returncode == 1
    assert f"before the webhook configuration {down.name} existed (" in early.stdout


def test_all_namespaces_lists_the_victims_by_owner_with_the_restart(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, outage: tuple[str, RunningWebhook]
) -> None:
    namespace, _ = outage
    kube.must(kube.create(pods_path(namespace), pod("plain")))  # never opted in: -A's JSON leaves it out
    result = check(control_plane, "-A")
    assert result.returncode == 1, result.stderr
    text = lines(result)
    deployment_line = next(line for line in text if line.startswith(f"  Deployment {namespace}/web: "))
    assert len(deployment_line.split(": ")[1].split(", ")) == 2  # both replicas, one group
    after = text[text.index(deployment_line) + 1 : text.index(deployment_line) + 3]
    assert after[0].endswith("while no webhook answered (failurePolicy Ignore)")
    assert after[1] == f"    kubectl rollout restart deployment/web -n {namespace}"
    assert f"    kubectl get pod bare -n {namespace} -o yaml | kubectl replace --force -f -" in text
    count = int(text[-1].removeprefix("downward-webhook check: ").split()[0])
    assert count >= 4  # early, bare and the two replicas (other tests may have left victims too)
    assert text[-1] == f"downward-webhook check: {count} opted-in pods not injected"
    # Its JSON lists the pods that opted in, not every pod of the cluster; -n lists them all.
    everything = json.loads(check(control_plane, "-A", "-o", "json").stdout)
    assert [p for p in everything["pods"] if not p["optedIn"]] == []
    assert {"bare", "early"} <= {p["name"] for p in everything["pods"] if p["namespace"] == namespace}
    assert "plain" in {
        p["name"] for p in json.loads(check(control_plane, "-n", namespace, "-o", "json").stdout)["pods"]
    }
    assert sum(len(v["pods"]) for v in everything["victims"]) == count
    # Scoped to the namespace: the same four, and nothing from elsewhere.
    scoped = check(control_plane, "-n", namespace, "-o", "json")
    assert scoped.returncode == 1
    document = json.loads(scoped.stdout)
    assert sorted((v["owner"] or {}).get("kind", "Pod") for v in document["victims"]) == ["Deployment", "Pod", "Pod"]
    assert sum(len(v["pods"]) for v in document["victims"]) == 4
    assert document["exitCode"] == 1


# --- manifests: the apiserver's dry-run ---------------------------------------------------------------------------


def test_manifest_that_would_be_injected_creates_nothing(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str
) -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 1 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {P + "inject": "true", P + "env": "POD_NAME"}},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "busybox"}]},
                    }
                }
            },
        },
    }
    manifest = yaml.safe_dump_all([deployment("web", {}, {P + "inject": "true"}), cronjob])
    result = check(control_plane, "-n", namespace, "-f", "-", stdin=manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Deployment {namespace}/web: would be injected: env {SEED} into app, volume /etc/downward" in lines(result)
    assert f"CronJob {namespace}/nightly: would be injected: env POD_NAME into job, volume /etc/downward" in lines(
        result
    )
    assert kube.get(pods_path(namespace))["items"] == []
    assert kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"] == []


def test_denial_seen_through_the_dry_run(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod("bad", {P + "inject": "true", P + "env": "NOT_A_FIELD"})), encoding="utf-8")
    result = check(control_plane, "-n", namespace, "-f", str(manifest))
    assert result.returncode == 1
    (line,) = [line for line in lines(result) if line.startswith(f"Pod {namespace}/bad: ")]
    assert line.startswith(f'Pod {namespace}/bad: denied: admission webhook "pods.downward.dev" denied the request: ')
    assert "NOT_A_FIELD" in line
    assert kube.get(pods_path(namespace))["items"] == []


def test_pod_security_seen_through_the_dry_run(
    control_plane: ControlPlane, webhook: RunningWebhook, make_namespace: Callable[..., str]
) -> None:
    namespace = make_namespace(
        **{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"}
    )
    privileged = pod("root", {P + "inject": "true"}, securityContext={"privileged": True})
    plain = pod("plain", {P + "inject": "true"})
    result = check(control_plane, "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all([privileged, plain]))
    assert result.returncode == 1
    text = lines(result)
    denied = next(line for line in text if line.startswith(f"Pod {namespace}/root: "))
    assert 'is forbidden: violates PodSecurity "baseline:latest": privileged' in denied
    admitted = text.index(f"Pod {namespace}/plain: would be injected: env {SEED} into app, volume /etc/downward")
    warnings = [line for line in text[admitted + 1 :] if line.startswith("  Warning: ")]
    assert any(w.startswith('  Warning: would violate PodSecurity "restricted:latest"') for w in warnings), text


# --- output, permissions, the chart's CronJob -----------------------------------------------------------------------


def test_json_document(control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str) -> None:
    kube.must(kube.create(pods_path(namespace), pod("web", {P + "inject": "true"})))
    result = check(control_plane, "web", "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {
        "apiVersion",
        "kind",
        "mode",
        "webhook",
        "pods",
        "victims",
        "dryRuns",
        "problems",
        "unreadable",
        "exitCode",
    }
    assert (document["apiVersion"], document["kind"], document["mode"]) == (
        "downward.dev/check/v1",
        "CheckReport",
        "pod",
    )
    ours = next(c for c in document["webhook"]["configurations"] if c["name"] == webhook.name)
    assert {"name": "pods.downward.dev", "failurePolicy": "Fail"} in ours["entries"]
    assert ours["tls"]["verified"] is True
    assert ours["target"] == webhook.server.url + "/mutate"
    (line,) = document["pods"]
    assert line == {
        "namespace": namespace,
        "name": "web",
        "verdict": "injected",
        "injected": True,
        "optedIn": True,
        "message": f"injected: env {SEED} into app, volume /etc/downward",
    }
    assert (document["victims"], document["dryRuns"], document["problems"], document["exitCode"]) == ([], [], [], 0)
    assert (document["webhook"]["installed"], document["unreadable"]) == (True, "")  # the admin reads it all


def test_forbidden_names_the_verb_and_resource(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, tmp_path: Path
) -> None:
    user = f"check-nobody-{uuid.uuid4().hex[:6]}"
    kubeconfig = _user_kubeconfig(control_plane, tmp_path, user)
    nothing = check(control_plane, "-A", "--kubeconfig", str(kubeconfig))
    assert nothing.returncode == 2
    assert nothing.stderr == "error: forbidden: needs 'list' on 'mutatingwebhookconfigurations' (cluster)\n"
    # Allowed the configurations and namespaces only: the next thing it needs is named.
    role = {
        "metadata": {"name": user},
        "rules": [
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["mutatingwebhookconfigurations"],
                "verbs": ["list"],
            },
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        ],
    }
    binding = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kube.must(kube.create(f"{rbac}/clusterroles", role))
    kube.must(kube.create(f"{rbac}/clusterrolebindings", binding))
    try:

        def pods_named() -> subprocess.CompletedProcess[str] | None:
            answer = check(control_plane, "-A", "--kubeconfig", str(kubeconfig))
            return answer if "'pods'" in answer.stderr else None  # RBAC reaches the authorizer's cache shortly

        some = eventually(pods_named, timeout=30, what="the next forbidden resource")
        assert some.returncode == 2
        assert some.stderr == "error: forbidden: needs 'list' on 'pods' (all namespaces)\n"
    finally:
        kube.call("DELETE", f"{rbac}/clusterrolebindings/{user}")
        kube.call("DELETE", f"{rbac}/clusterroles/{user}")


def test_an_app_team_without_cluster_rights_gets_its_pods_verdict(
    control_plane: ControlPlane, kube: Kube, webhook: RunningWebhook, namespace: str, tmp_path: Path
) -> None:
    """The usual app-team RBAC: pods in its own namespace, nothing cluster-wide. `check POD` still says whether
    the pod was injected, and names the permission the why needs, instead of stopping at the first refusal."""
    user = f"check-team-{uuid.uuid4().hex[:6]}"
    kubeconfig = _user_kubeconfig(control_plane, tmp_path, user, namespace)
    kube.must(kube.create(pods_path(namespace), pod("web", {P + "inject": "true"})))
    kube.must(kube.create(pods_path(namespace), pod("plain")))
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {
        "metadata": {"name": "team"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "metadata": {"name": "team"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    kube.must(kube.create(f"{rbac}/roles", role))
    kube.must(kube.create(f"{rbac}/rolebindings", binding))

    def as_team(name: str) -> subprocess.CompletedProcess[str] | None:
        answer = check(control_plane, name, "--kubeconfig", str(kubeconfig))
        return None if "needs 'get' on 'pods'" in answer.stderr else answer  # until RBAC reaches the authorizer

    refused = "forbidden: needs 'list' on 'mutatingwebhookconfigurations' (cluster)"
    injected = eventually(lambda: as_team("web"), timeout=30, what="the team's Role to apply")
    assert injected.returncode == 0, injected.stderr
    assert lines(injected) == [
        f"webhook: cannot be read with your permissions ({refused})",
        f"pod {namespace}/web: injected: env {SEED} into app, volume /etc/downward",
    ]
    plain = as_team("plain")
    assert plain is not None
    assert plain.returncode == 1, plain.stderr
    assert lines(plain)[-1] == (
        f"pod {namespace}/plain: not injected; why cannot be read with your permissions ({refused}): "
        "a cluster operator's `downward-webhook check -A` says"
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _user_kubeconfig(control_plane: ControlPlane, tmp_path: Path, user: str, namespace: str = "default") -> Path:
    """A kubeconfig for `user`, a client certificate the apiserver trusts and no rights until a test grants some."""
    issued = control_plane.issue_cert(
        user, dns_names=(), ip_addresses=(), server=False, client=True, directory=tmp_path
    )
    credentials = {"client-certificate-data": _b64(issued.cert_pem), "client-key-data": _b64(issued.key_pem)}
    return write_kubeconfig(tmp_path / f"{user}.kubeconfig", control_plane, credentials, namespace=namespace)


def test_the_check_jobs_command_as_its_service_account(
    control_plane: ControlPlane,
    kube: Kube,
    kube_binaries: Binaries,
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    """The chart's checkJob for real: its RBAC installed by helm, its container's arguments run with a token of
    its ServiceAccount. The victim is a pod that opted in before the chart was installed; it is created first so
    that the apiserver never calls the chart's Service (its ClusterIP is not on this machine: tests send no
    traffic there). The chart's webhook has no ready endpoint (no kubelet): the Job reports both, and fails."""
    namespace = make_namespace(**{ISOLATED: (label := f"l{uuid.uuid4().hex[:8]}")})
    early = kube.must(kube.create(pods_path(namespace), pod("victim", {P + "inject": "true"})))
    _next_second(early)
    (tmp_path / "helm").mkdir()
    helm = Helm(kube_binaries.helm, tmp_path / "helm", control_plane.env())
    release, release_ns = f"chk-{uuid.uuid4().hex[:6]}", f"chk-{uuid.uuid4().hex[:6]}-system"
    values = {
        "checkJob": {"enabled": True},
        "replicaCount": 1,
        "webhook": {
            "failurePolicy": "Ignore",
            "timeoutSeconds": 1,
            "namespaceSelector": {"matchLabels": {ISOLATED: label}},
        },
        "config": {"server": {"requestTimeoutSeconds": 0.5}},
    }
    helm.run(
        "install",
        release,
        str(CHART_DIR),
        "--namespace",
        release_ns,
        "--create-namespace",
        *helm.value_args((), values),
    ).check()
    try:
        manifest = [
            d for d in yaml.safe_load_all(helm.run("get", "manifest", release, "-n", release_ns).check().stdout) if d
        ]
        cronjob = next(d for d in manifest if d["kind"] == "CronJob")
        spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        kubeconfig = tmp_path / "check.kubeconfig"
        control_plane.wait_for_default_serviceaccount(release_ns, timeout=60)
        service_account_kubeconfig(kube, control_plane, release_ns, kubeconfig, spec["serviceAccountName"])
        assert container["command"] == ["downward-webhook"]
        result = check(control_plane, *container["args"][1:], "--kubeconfig", str(kubeconfig))
        assert container["args"][0] == "check"
        assert result.returncode == 1, result.stderr
        text = lines(result)
        victim = text.index(f"  {namespace}: victim")
        assert text[victim + 1].startswith("    opted in but not injected: created at ")
        assert f", before the webhook configuration {release}-downward-webhook existed (" in text[victim + 1]
        assert f"    kubectl get pod victim -n {namespace} -o yaml | kubectl replace --force -f -" in text
        fullname = f"{release}-downward-webhook"
        no_endpoint = "not checked: no ready endpoint behind the Service (the apiserver cannot call it either)"
        assert f"  service {release_ns}/{fullname}:443: {no_endpoint}" in text, result.stdout
        assert f"  deployment {release_ns}/{fullname}: 0/1 ready" in text
        assert text[-1].startswith("downward-webhook check: ")
        assert text[-1].endswith(" opted-in pods not injected")
    finally:
        helm.run("uninstall", release, "--namespace", release_ns)
        kube.call("DELETE", f"/api/v1/namespaces/{release_ns}")
        assert kube.call("GET", f"{MWC_PATH}/{release}-downward-webhook").status == 404
