"""`helm install` of charts/downward-webhook into the real kube-apiserver, with the real helm (v4).

Nothing runs pods here (no kubelet, no scheduler): the Deployment's pods exist only as API objects, so no
`--wait`. What the apiserver itself decides is real: it validates every object the chart renders (the
matchConditions CEL is compiled and type-checked on create), the chart's `lookup` reads the live TLS Secret
on upgrade, and the installed MutatingWebhookConfiguration routes real pod and workload creations.

The routing test installs the configuration with failurePolicy Fail while no webhook pod can ever answer
(its Service has no endpoints), so every call the apiserver makes surfaces as "failed calling webhook
<entry name>" and every request it does not send is simply created. That shows, on the real apiserver, which
entry each kind of object reaches. Workload calls are fail-open by design (the workload entry is always
Ignore), so for them the apiserver's `apiserver_admission_webhook_fail_open_count{name=...}` counter is
the witness.

Each test uses its own release and namespaces and uninstalls in a finalizer; one MutatingWebhookConfiguration
of ours exists at a time, and never beyond the test that made it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.chart_helpers import CHART_DIR, CI_DIR, Helm
from tests.e2e.cluster import Binaries, ControlPlane
from tests.e2e.kube import eventually
from tests.server_process import WebhookServer
from webhook.certs import make_certificates, write_certificates

CHART_NAME = "downward-webhook"
CLUSTER_SCOPED = {"MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"}  # the latter: checkJob
WEBHOOK_NAMES = ["pods.downward.dev", "workloads.downward.dev", "namespace.pods.downward.dev"]
IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: there is no kubelet
# ci/ files that need no cert-manager CRDs; each one is installed for real.
CI_FILES = sorted(path for path in CI_DIR.glob("*.yaml") if "certmanager" not in path.stem)
# The Prometheus operator's CRDs are not in this cluster: its ServiceMonitor and PrometheusRule are rendered (and
# validated) by tests/test_chart.py and tests/test_monitoring.py; here they are switched off. (The dashboard's
# ConfigMap is a core object: it is installed.)
CI_OVERRIDES: dict[str, dict[str, Any]] = {
    "full-values": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}}
}
# The routing test's webhook fails fast: the apiserver gives each call 1 s, the server's own read deadline
# has to stay below that (the chart checks).
UNREACHABLE_FAIL: dict[str, dict[str, Any]] = {
    "webhook": {"failurePolicy": "Fail", "timeoutSeconds": 1},
    "config": {"server": {"requestTimeoutSeconds": 0.5}},
}


# --- helm and the API ------------------------------------------------------------------------------------------


@dataclass
class Release:
    helm: Helm
    name: str
    namespace: str
    uninstalled: bool = False
    extra_namespaces: list[str] = field(default_factory=list)

    @property
    def fullname(self) -> str:
        return f"{self.name}-{CHART_NAME}"

    def install(self, files: Sequence[Path] = (), values: Mapping[str, Any] | None = None) -> Release:
        # No --wait: the pods never become ready without a kubelet (helm 4's default is not to wait).
        self.helm.run(
            "install", self.name, str(CHART_DIR), "--namespace", self.namespace, "--create-namespace",
            *self.helm.value_args(files, values),
        ).check()  # fmt: skip
        return self

    def upgrade(
        self, files: Sequence[Path] = (), values: Mapping[str, Any] | None = None, extra: Sequence[str] = ()
    ) -> None:
        self.helm.run(
            "upgrade", self.name, str(CHART_DIR), "--namespace", self.namespace,
            *self.helm.value_args(files, values), *extra,
        ).check()  # fmt: skip

    def uninstall(self) -> None:
        self.helm.run("uninstall", self.name, "--namespace", self.namespace).check()
        self.uninstalled = True

    def manifest(self) -> list[dict[str, Any]]:
        out = self.helm.run("get", "manifest", self.name, "--namespace", self.namespace).check().stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def status(self) -> dict[str, Any]:
        out = self.helm.run("status", self.name, "--namespace", self.namespace, "--output", "json").check().stdout
        loaded: dict[str, Any] = json.loads(out)
        return loaded


@pytest.fixture(scope="module")
def helm_cli(kube_binaries: Binaries, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The real helm against the test control plane (its KUBECONFIG), with a private helm home."""
    return Helm(kube_binaries.helm, tmp_path_factory.mktemp("helm-home"), control_plane.env())


@pytest.fixture
def new_release(helm_cli: Helm, control_plane: ControlPlane) -> Iterator[Callable[[str], Release]]:
    """Makes releases with unique names, each in its own namespace; all uninstalled and deleted afterwards."""
    made: list[Release] = []

    def make(prefix: str) -> Release:
        suffix = uuid.uuid4().hex[:6]
        release = Release(helm_cli, f"{prefix}-{suffix}", f"{prefix}-{suffix}-system")
        made.append(release)
        return release

    yield make
    for release in made:
        if not release.uninstalled:
            helm_cli.run("uninstall", release.name, "--namespace", release.namespace)  # best effort
        for namespace in (release.namespace, *release.extra_namespaces):
            control_plane.request("DELETE", f"/api/v1/namespaces/{namespace}")


def _get(control_plane: ControlPlane, path: str) -> dict[str, Any]:
    status, body = control_plane.request("GET", path)
    assert status == 200, f"GET {path}: {status} {body}"
    assert isinstance(body, dict)
    return body


def _gone(control_plane: ControlPlane, path: str) -> bool:
    status, _ = control_plane.request("GET", path)
    return status == 404


def _path(obj: Mapping[str, Any], namespace: str) -> str:
    """The REST path of a rendered object (kinds of this chart only)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    plural = kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"
    scope = "" if kind in CLUSTER_SCOPED else f"/namespaces/{namespace}"
    return f"{base}{scope}/{plural}/{obj['metadata']['name']}"


def _mwc_path(release: Release) -> str:
    return f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{release.fullname}"


def _secret(control_plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return _get(control_plane, f"/api/v1/namespaces/{namespace}/secrets/{name}")


def _ca_bundles(control_plane: ControlPlane, release: Release, path: str | None = None) -> dict[str, str]:
    hooks = _get(control_plane, path or _mwc_path(release))["webhooks"]
    return {hook["name"]: hook["clientConfig"].get("caBundle", "") for hook in hooks}


def _deployment(control_plane: ControlPlane, release: Release) -> dict[str, Any]:
    return _get(control_plane, f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.fullname}")


def _pem(data: Mapping[str, str], key: str) -> bytes:
    return base64.b64decode(data[key])


def _eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    return eventually(check, timeout=timeout, what=what)


def _create_namespace(control_plane: ControlPlane, name: str, labels: Mapping[str, str] | None = None) -> None:
    status, body = control_plane.request(
        "POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": dict(labels or {})}}
    )
    assert status == 201, body
    control_plane.wait_for_default_serviceaccount(name, timeout=60)


# --- every values file that needs no cert-manager installs -----------------------------------------------------


@pytest.mark.parametrize("values_file", [None, *CI_FILES], ids=["default", *[p.stem for p in CI_FILES]])
def test_install_is_accepted_by_the_apiserver(
    control_plane: ControlPlane, new_release: Callable[[str], Release], values_file: Path | None
) -> None:
    """Every rendered object is created (the apiserver validates each, compiling the matchConditions CEL),
    stored as rendered (no field dropped, e.g. matchConditions by a disabled feature gate), and removed again
    by `helm uninstall`."""
    files = [values_file] if values_file else []
    release = new_release("inst").install(files, CI_OVERRIDES.get(values_file.stem if values_file else ""))
    assert release.status()["info"]["status"] == "deployed"

    rendered = release.manifest()
    kinds = {obj["kind"] for obj in rendered}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "MutatingWebhookConfiguration"} <= kinds
    if values_file is not None and values_file.stem == "full-values":  # checkJob on: its CronJob and RBAC too
        assert {"CronJob", "ClusterRole", "ClusterRoleBinding"} <= kinds
    for obj in rendered:
        stored = _get(control_plane, _path(obj, release.namespace))
        assert stored["metadata"]["labels"]["app.kubernetes.io/instance"] == release.name

    (mwc,) = [obj for obj in rendered if obj["kind"] == "MutatingWebhookConfiguration"]
    stored_hooks = {hook["name"]: hook for hook in _get(control_plane, _path(mwc, release.namespace))["webhooks"]}
    assert list(stored_hooks) == [hook["name"] for hook in mwc["webhooks"]]
    for hook in mwc["webhooks"]:
        stored = stored_hooks[hook["name"]]
        assert stored.get("matchConditions") == hook.get("matchConditions"), hook["name"]
        assert stored["namespaceSelector"] == hook["namespaceSelector"], hook["name"]
        assert stored["failurePolicy"] == hook["failurePolicy"], hook["name"]
        assert stored["clientConfig"] == hook["clientConfig"], hook["name"]

    # chart TLS mode: the caBundle of every entry is the CA in the Secret the chart wrote.
    secrets = [obj for obj in rendered if obj["kind"] == "Secret"]
    if secrets:
        (secret,) = secrets
        ca = _secret(control_plane, release.namespace, secret["metadata"]["name"])["data"]["ca.crt"]
        assert set(_ca_bundles(control_plane, release, _path(mwc, release.namespace)).values()) == {ca}

    release.uninstall()
    for obj in rendered:
        assert _gone(control_plane, _path(obj, release.namespace)), f"{obj['kind']} left behind by uninstall"


def test_apiserver_compiles_the_match_conditions(helm_cli: Helm, control_plane: ControlPlane) -> None:
    """The acceptance above means something: the same configuration with one expression that does not
    compile, or does not type-check, is refused on create."""
    rendered = helm_cli.run("template", "cel", str(CHART_DIR), "--namespace", "cel-system").check().stdout
    (mwc,) = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "MutatingWebhookConfiguration"]
    mwc["metadata"] = {"name": f"cel-check-{uuid.uuid4().hex[:6]}"}
    path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?dryRun=All"

    status, body = control_plane.request("POST", path, mwc)
    assert status == 201, body

    for broken, complaint in [
        ("object.metadata.annotations.exists(k, k.startsWith('downward.dev/')", "Syntax error"),
        ("objct.metadata.annotations.exists(k, k.startsWith('downward.dev/'))", "undeclared reference to 'objct'"),
        ("size(object.metadata.annotations)", "must evaluate to bool"),
    ]:
        bad = json.loads(json.dumps(mwc))
        bad["webhooks"][0]["matchConditions"][-1]["expression"] = broken
        status, body = control_plane.request("POST", path, bad)
        assert status == 422, body
        assert complaint in body["message"], body["message"]


# --- chart TLS mode: one CA for the release's lifetime ---------------------------------------------------------


def _leaf(data: Mapping[str, str]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_pem(data, "tls.crt"))


def test_chart_mode_keeps_its_ca_across_upgrades_and_renews_from_it(
    control_plane: ControlPlane, new_release: Callable[[str], Release]
) -> None:
    release = new_release("tls").install()
    secret_path = f"/api/v1/namespaces/{release.namespace}/secrets/{release.fullname}-tls"

    installed = _get(control_plane, secret_path)
    data = installed["data"]
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    bundles = _ca_bundles(control_plane, release)
    assert list(bundles) == WEBHOOK_NAMES
    assert set(bundles.values()) == {data["ca.crt"]}, "caBundle is not the Secret's CA"
    ca = x509.load_pem_x509_certificate(_pem(data, "ca.crt"))
    leaf = _leaf(data)
    leaf.verify_directly_issued_by(ca)
    dns_names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    service = f"{release.fullname}.{release.namespace}.svc"
    assert service in dns_names.get_values_for_type(x509.DNSName)  # the name the apiserver dials
    _get(control_plane, f"/api/v1/namespaces/{release.namespace}/services/{release.fullname}")
    deployment = _deployment(control_plane, release)
    checksum = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]
    assert checksum == hashlib.sha256(_pem(data, "tls.crt")).hexdigest()

    # A plain upgrade: the chart looks the Secret up and reuses all of it; nothing rolls.
    release.upgrade()
    assert release.status()["version"] == 2
    assert _get(control_plane, secret_path)["data"] == data
    assert _ca_bundles(control_plane, release) == bundles
    upgraded = _deployment(control_plane, release)
    assert upgraded["spec"]["template"]["metadata"]["annotations"]["checksum/tls"] == checksum
    assert upgraded["metadata"]["generation"] == deployment["metadata"]["generation"], "pods would roll"

    # An upgrade inside the renewal window (renewBeforeDays above the certificate's validity): a new serving
    # certificate and key from the same CA; the caBundle stays, the pods roll to the new certificate.
    release.upgrade(values={"tls": {"chart": {"renewBeforeDays": 400}}})
    renewed = _get(control_plane, secret_path)
    new_data = renewed["data"]
    assert new_data["ca.crt"] == data["ca.crt"]
    assert new_data["ca.key"] == data["ca.key"]
    assert new_data["tls.crt"] != data["tls.crt"]
    assert new_data["tls.key"] != data["tls.key"]
    new_leaf = _leaf(new_data)
    new_leaf.verify_directly_issued_by(ca)
    assert new_leaf.serial_number != leaf.serial_number
    assert new_leaf.not_valid_after_utc >= leaf.not_valid_after_utc
    not_after = int(renewed["metadata"]["annotations"]["downward.dev/tls-not-after"])
    assert abs(not_after - new_leaf.not_valid_after_utc.timestamp()) < 120
    assert _ca_bundles(control_plane, release) == bundles
    rolled = _deployment(control_plane, release)
    assert rolled["spec"]["template"]["metadata"]["annotations"]["checksum/tls"] == (
        hashlib.sha256(_pem(new_data, "tls.crt")).hexdigest()
    )
    assert rolled["metadata"]["generation"] > upgraded["metadata"]["generation"]

    # Back to the default window: the renewed certificate is kept (the not-after annotation was updated).
    # --reset-values: without values on the command line, helm would reuse the previous release's.
    release.upgrade(extra=["--reset-values"])
    assert _get(control_plane, secret_path)["data"] == new_data
    assert release.status()["version"] == 4


def test_uninstall_removes_the_webhook_configuration_and_secret(
    control_plane: ControlPlane, new_release: Callable[[str], Release]
) -> None:
    release = new_release("rm").install()
    paths = [
        _mwc_path(release),
        f"/api/v1/namespaces/{release.namespace}/secrets/{release.fullname}-tls",
        f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{release.fullname}",
        f"/api/v1/namespaces/{release.namespace}/services/{release.fullname}",
        f"/api/v1/namespaces/{release.namespace}/configmaps/{release.fullname}",
    ]
    for path in paths:
        _get(control_plane, path)
    release.uninstall()
    for path in paths:
        assert _gone(control_plane, path), path
    helm_records = _get(control_plane, f"/api/v1/namespaces/{release.namespace}/secrets?labelSelector=owner%3Dhelm")
    assert helm_records["items"] == []


# --- secret TLS mode: the operator's own Secret and CA ---------------------------------------------------------


def test_secret_mode_uses_an_existing_secret_and_leaves_it_alone(
    control_plane: ControlPlane, new_release: Callable[[str], Release], tmp_path: Path
) -> None:
    release = new_release("sec")
    secret_name = "corp-webhook-tls"
    service = f"{release.fullname}.{release.namespace}.svc"
    issued = control_plane.issue_cert(service, dns_names=[service], ip_addresses=[], directory=tmp_path)
    _create_namespace(control_plane, release.namespace)
    status, body = control_plane.request(
        "POST",
        f"/api/v1/namespaces/{release.namespace}/secrets",
        {
            "metadata": {"name": secret_name},
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": base64.b64encode(issued.cert_pem).decode(),
                "tls.key": base64.b64encode(issued.key_pem).decode(),
            },
        },
    )
    assert status == 201, body
    secret_path = f"/api/v1/namespaces/{release.namespace}/secrets/{secret_name}"
    before = _get(control_plane, secret_path)
    values = {"tls": {"mode": "secret", "secretName": secret_name, "caBundle": control_plane.ca_bundle_b64}}

    release.install(values=values)
    assert set(_ca_bundles(control_plane, release).values()) == {control_plane.ca_bundle_b64}
    assert list(_ca_bundles(control_plane, release)) == WEBHOOK_NAMES
    assert not [obj for obj in release.manifest() if obj["kind"] == "Secret"], "secret mode renders no Secret"
    volumes = _deployment(control_plane, release)["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "tls")["secret"]["secretName"] == secret_name

    release.upgrade(values=values)
    assert _get(control_plane, secret_path)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert set(_ca_bundles(control_plane, release).values()) == {control_plane.ca_bundle_b64}

    release.uninstall()
    assert _gone(control_plane, _mwc_path(release))
    assert _get(control_plane, secret_path)["data"] == before["data"], "uninstall must not touch the operator's Secret"


# --- what the installed configuration sends to the webhook ----------------------------------------------------


def _fail_open_count(control_plane: ControlPlane, webhook: str) -> float:
    status, text = control_plane.request("GET", "/metrics")
    assert status == 200
    pattern = re.compile(
        r'^apiserver_admission_webhook_fail_open_count\{name="' + re.escape(webhook) + r'",type="admit"\} (\S+)$',
        re.MULTILINE,
    )
    match = pattern.search(str(text))
    return float(match.group(1)) if match else 0.0


def _pod(name: str, annotations: Mapping[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"containers": [{"name": "app", "image": IMAGE}], **spec},
    }


def _template(annotations: Mapping[str, str], label: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": label}, "annotations": dict(annotations)},
        "spec": {"containers": [{"name": "app", "image": IMAGE}], "restartPolicy": "Always"},
    }


def _deployment_body(name: str, own: Mapping[str, str], template: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": dict(own)},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": _template(template, name)},
    }


def _cronjob_body(name: str, template: Mapping[str, str]) -> dict[str, Any]:
    pod_template = _template(template, name)
    pod_template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": pod_template}}},
    }


def _job_body(name: str, template: Mapping[str, str]) -> dict[str, Any]:
    pod_template = _template(template, name)
    pod_template["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": pod_template}}


def _dial_loopback_instead_of_the_service(control_plane: ControlPlane, release: str) -> None:
    """Point every entry at a closed port on 127.0.0.1 (calls fail at once, as if no pod answered).

    With the chart's Service reference the apiserver would dial the Service's ClusterIP, an address outside
    this machine's loopback that tests must never send traffic to. Selectors and matchConditions, which
    decide whether a call is made at all, stay exactly as installed.
    """
    mwc_path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    status, listing = control_plane.request("GET", f"{mwc_path}?labelSelector=app.kubernetes.io%2Finstance%3D{release}")
    assert status == 200, listing
    assert listing["items"], listing
    with socket.socket() as sock:  # a port that nothing listens on: bound, then released
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    for configuration in listing["items"]:
        for entry in configuration["webhooks"]:
            path = entry["clientConfig"]["service"]["path"]
            entry["clientConfig"] = {
                "url": f"https://127.0.0.1:{closed_port}{path}",
                "caBundle": entry["clientConfig"]["caBundle"],
            }
        name = configuration["metadata"]["name"]
        status, answer = control_plane.request("PUT", f"{mwc_path}/{name}", configuration)
        assert status == 200, answer


def test_installed_configuration_routes_each_pod_to_the_right_entry(
    control_plane: ControlPlane, new_release: Callable[[str], Release]
) -> None:
    """Installed with failurePolicy Fail and no webhook pod to answer: a pod the apiserver sends to an entry
    is refused with "failed calling webhook <entry>"; a pod it does not send is created."""
    suffix = uuid.uuid4().hex[:6]
    plain, labelled, excluded = f"route-{suffix}", f"route-ns-{suffix}", f"route-excluded-{suffix}"
    release = new_release("route")
    release.extra_namespaces += [plain, labelled, excluded]
    enabled = {"downward.dev/inject": "enabled"}
    _create_namespace(control_plane, plain)
    _create_namespace(control_plane, labelled, enabled)
    _create_namespace(control_plane, excluded, enabled)
    release.install(
        values={**UNREACHABLE_FAIL, "webhook": {**UNREACHABLE_FAIL["webhook"], "excludeNamespaces": [excluded]}}
    )
    _dial_loopback_instead_of_the_service(control_plane, release.name)
    control_plane.wait_for_default_serviceaccount(release.namespace, timeout=60)
    created_elsewhere: list[str] = []

    def create(namespace: str, body: Mapping[str, Any], *, dry_run: bool = False) -> tuple[int, str]:
        kind = body["kind"]
        base = "/api/v1" if body["apiVersion"] == "v1" else f"/apis/{body['apiVersion']}"
        path = f"{base}/namespaces/{namespace}/{kind.lower()}s" + ("?dryRun=All" if dry_run else "")
        status, answer = control_plane.request("POST", path, body)
        message = str(answer.get("message", "")) if isinstance(answer, dict) else str(answer)
        bound = kind == "Pod" and "nodeName" in body["spec"]  # no kubelet would ever confirm its deletion
        if status == 201 and not dry_run and (bound or namespace in ("kube-system", "kube-public")):
            created_elsewhere.append(f"{base}/namespaces/{namespace}/pods/{body['metadata']['name']}")
        return status, message

    # The apiserver picks up a new configuration asynchronously: wait until it calls the webhook.
    probe = _pod("probe", {"downward.dev/inject": "true"})
    _eventually(
        lambda: "failed calling webhook" in create(plain, probe, dry_run=True)[1], "the configuration to take effect"
    )

    opt_in = {"downward.dev/inject": "true"}
    mirror = {**opt_in, "kubernetes.io/config.mirror": "mirror-hash"}
    # (namespace, pod, the entry that must be called or None when the pod must be created)
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        (plain, _pod("opt-in", opt_in), "pods.downward.dev"),
        (plain, _pod("other-key-only", {"downward.dev/env": "all"}), "pods.downward.dev"),
        (plain, _pod("explicit-opt-out", {"downward.dev/inject": "false"}), "pods.downward.dev"),
        (plain, _pod("no-annotations"), None),
        (plain, _pod("other-prefix", {"example.com/inject": "true", "downward.dev.example.com/x": "1"}), None),
        (plain, {**_pod("label-not-annotation"), "metadata": {"name": "label", "labels": opt_in}}, None),
        (plain, _pod("mirror", mirror, nodeName="node-1", automountServiceAccountToken=False), None),
        (labelled, _pod("ns-no-annotations"), "namespace.pods.downward.dev"),
        (labelled, _pod("ns-opt-in", opt_in), "namespace.pods.downward.dev"),
        (labelled, _pod("ns-other-spelling", {"downward.dev/inject": "False"}), "namespace.pods.downward.dev"),
        (labelled, _pod("ns-opt-out", {"downward.dev/inject": "false"}), None),
        (labelled, _pod("ns-mirror", mirror, nodeName="node-1", automountServiceAccountToken=False), None),
        (excluded, _pod("excluded-ns", opt_in), None),
        ("kube-system", _pod(f"system-{suffix}", opt_in), None),
        ("kube-public", _pod(f"public-{suffix}", opt_in), None),
        (release.namespace, _pod("own-namespace", opt_in), None),
    ]
    try:
        for namespace, body, entry in cases:
            status, message = create(namespace, body)
            if entry is None:
                assert status == 201, f"{namespace}/{body['metadata']['name']} reached the webhook: {message}"
            else:
                assert status == 500, f"{namespace}/{body['metadata']['name']} was not sent to {entry}: {status}"
                assert f'failed calling webhook "{entry}"' in message, message
                others = [name for name in WEBHOOK_NAMES if name != entry]
                assert not any(f'"{name}"' in message for name in others), message

        # Workloads: the warning entry is always Ignore, so they are created; the apiserver's fail-open counter
        # says whether it called. Dry runs: no controller acts on them, nothing else moves the counter.
        workload_cases: list[tuple[str, dict[str, Any], bool]] = [
            ("template annotated", _deployment_body("tmpl", {}, opt_in), True),
            ("workload annotated", _deployment_body("own", opt_in, {}), True),
            ("no annotation", _deployment_body("none", {}, {}), False),
            ("other key on template", _deployment_body("env", {}, {"downward.dev/env": "all"}), False),
            ("cronjob template annotated", _cronjob_body("cron", opt_in), True),
            ("job without annotation", _job_body("job", {}), False),
        ]
        for what, body, called in workload_cases:
            before = _fail_open_count(control_plane, "workloads.downward.dev")
            status, message = create(plain, body, dry_run=True)
            assert status == 201, f"{what}: {message}"
            after = _fail_open_count(control_plane, "workloads.downward.dev")
            assert (after == before + 1) if called else (after == before), f"{what}: fail-open {before} -> {after}"

        # For real, through the controllers: the annotated template's pods (created by the ReplicaSet
        # controller) are sent to the pod entry and refused; a Deployment annotated on itself only gets its pods.
        assert create(plain, _deployment_body("web", {}, opt_in))[0] == 201
        assert create(plain, _deployment_body("misplaced", opt_in, {}))[0] == 201

        def replica_failure() -> str:
            sets = _get(control_plane, f"/apis/apps/v1/namespaces/{plain}/replicasets?labelSelector=app%3Dweb")
            for replica_set in sets["items"]:
                for condition in replica_set.get("status", {}).get("conditions", []):
                    if condition["type"] == "ReplicaFailure":
                        return str(condition["message"])
            return ""

        failure = _eventually(replica_failure, "the ReplicaSet of the annotated template to fail creating pods")
        assert 'failed calling webhook "pods.downward.dev"' in failure
        _eventually(
            lambda: _get(control_plane, f"/api/v1/namespaces/{plain}/pods?labelSelector=app%3Dmisplaced")["items"],
            "the pod of the Deployment annotated on itself",
        )
    finally:
        for path in created_elsewhere:
            control_plane.request("DELETE", f"{path}?gracePeriodSeconds=0")
        release.uninstall()

    # Gone from the admission chain too: the same pod is created again once the apiserver drops the entry.
    _eventually(lambda: create(plain, probe, dry_run=True)[0] == 201, "the configuration to be dropped")


# --- tls.clientCA: the apiserver must be told which client certificate to present -------------------------------


def _admission_config(directory: Path, users: Mapping[str, tuple[Path, Path]]) -> Path:
    """The kube-apiserver side of mutual TLS with a webhook, as docs/security.md shows it: an
    AdmissionConfiguration whose MutatingAdmissionWebhook kubeconfig has one user per webhook host."""
    kubeconfig = directory / "webhook-admission-kubeconfig.yaml"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "users": [
                    {"name": host, "user": {"client-certificate": str(cert), "client-key": str(key)}}
                    for host, (cert, key) in users.items()
                ],
            }
        ),
        encoding="utf-8",
    )
    admission = directory / "admission-configuration.yaml"
    admission.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apiserver.config.k8s.io/v1",
                "kind": "AdmissionConfiguration",
                "plugins": [
                    {
                        "name": "MutatingAdmissionWebhook",
                        "configuration": {
                            "apiVersion": "apiserver.config.k8s.io/v1",
                            "kind": "WebhookAdmissionConfiguration",
                            "kubeConfigFile": str(kubeconfig),
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return admission


def test_client_ca_works_once_the_apiserver_presents_a_certificate(
    release_binaries: Binaries, helm_cli: Helm, tmp_path: Path
) -> None:
    """`serve --client-ca` (tls.clientCA) against a real kube-apiserver started with an AdmissionConfiguration:
    the apiserver presents its client certificate to the webhook host its kubeconfig names, and the pod is
    injected; to any other host it presents none, and the server refuses the call."""
    client = make_certificates(["kube-apiserver-webhook-client"], client_auth=True)
    write_certificates(client, tmp_path / "client")
    client_pair = (tmp_path / "client" / "tls.crt", tmp_path / "client" / "tls.key")
    server = WebhookServer(
        tmp_path / "server",
        extra_args=["--client-ca", str(tmp_path / "client" / "ca.crt")],
        client_cert=client_pair,
    )
    server.workdir.mkdir()
    known_host = f"127.0.0.1:{server.port}"
    admission = _admission_config(tmp_path, {known_host: client_pair})

    # The chart's own pod entry (tls.clientCA on), pointed at the server by URL: a Service needs a kubelet.
    rendered = helm_cli.run(
        "template", "mtls", str(CHART_DIR), "--namespace", "mtls-system",
        "--set", "tls.clientCA.enabled=true", "--set", "tls.clientCA.name=apiserver-client-ca",
        "--set", "webhook.failurePolicy=Fail",
    ).check().stdout  # fmt: skip
    (mwc,) = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "MutatingWebhookConfiguration"]
    (entry,) = [hook for hook in mwc["webhooks"] if hook["name"] == "pods.downward.dev"]

    server.start()
    try:
        with ControlPlane(
            release_binaries, extra_apiserver_args=[f"--admission-control-config-file={admission}"]
        ) as cp:
            _create_namespace(cp, "app")
            ca_bundle = base64.b64encode(server.ca.read_bytes()).decode()
            for host, injected in ((f"localhost:{server.port}", False), (known_host, True)):
                name = f"mtls-{host.split(':')[0].replace('.', '-')}"
                hook = {**entry, "clientConfig": {"url": f"https://{host}/mutate", "caBundle": ca_bundle}}
                body = {"metadata": {"name": name}, "webhooks": [hook]}
                status, answer = cp.request(
                    "POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", body
                )
                assert status == 201, answer
                pod = _pod(name, {"downward.dev/inject": "true"})

                def attempt(pod: dict[str, Any] = pod) -> tuple[int, Any] | None:
                    status, answer = cp.request("POST", "/api/v1/namespaces/app/pods?dryRun=All", pod)
                    if status == 201 and "downward.dev/status" not in answer["metadata"].get("annotations", {}):
                        return None  # the new configuration has not reached the admission chain yet
                    return status, answer

                status, answer = _eventually(attempt, f"the webhook at {host} to be called")
                if injected:
                    assert status == 201, answer
                    recorded = json.loads(answer["metadata"]["annotations"]["downward.dev/status"])
                    assert recorded["containers"] == ["app"]
                    assert any(env["name"] == "POD_NAME" for env in answer["spec"]["containers"][0]["env"])
                else:
                    assert status == 500, answer
                    assert 'failed calling webhook "pods.downward.dev"' in answer["message"], answer
                cp.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}")
    finally:
        server.stop()
    assert server.logs().count('"outcome":"injected"') == 1, server.logs()
