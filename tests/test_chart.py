"""The Helm chart: the real helm (lint --strict, template), every rendered object validated by
kubernetes-validate strict, and assertions on the properties that keep a cluster safe.

The renders are the session's (tests/conftest.py); tests/test_chart_snapshots.py holds each one whole."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import tomllib
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import webhook
from tests import kube_rules
from tests.chart_helpers import (
    CHART_DIR,
    CI_DIR,
    CI_FILES,
    NAMESPACE,
    REPO_ROOT,
    VALUE_IDS,
    VALUE_SETS,
    Helm,
    Render,
    namespace_labels,
    selector_matches,
)
from tests.e2e.cluster.releases import pinned
from webhook.cli import _parser as cli_parser
from webhook.config import ConfigFile, OperatorConfig, config_from_mapping
from webhook.core.config import AmbassadorConfig, Config
from webhook.core.errors import Denied
from webhook.core.workloads import WORKLOAD_KINDS
from webhook.offline import inject_documents
from webhook.serving.settings import ServerConfig

SCHEMA_VERSIONS = ("1.29.0", "1.37.0")  # the chart's kubeVersion floor and the newest schema we have
CRD_KINDS = {
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
CLUSTER_SCOPED = {"MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"}
SYSTEM_NAMESPACES = {"kube-system", "kube-node-lease", "kube-public"}
WEBHOOK_NAMES = ["pods.downward.dev", "workloads.downward.dev", "namespace.pods.downward.dev"]
DEFAULT_IMAGE = "ghcr.io/downward-dev/downward-webhook"
UID = 65532


# --- fixtures -------------------------------------------------------------------------------------------------


def _ci(name: str) -> Path:
    return CI_DIR / f"{name}.yaml"


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    return loaded


def _chart() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    return loaded


def _container(render: Render) -> dict[str, Any]:
    containers = render.one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["webhook"]
    container: dict[str, Any] = containers[0]
    return container


def _config_map(render: Render) -> dict[str, Any]:
    """The server's configuration ConfigMap (the dashboard's, when rendered, is the other one)."""
    (config_map,) = [c for c in render.all("ConfigMap") if "config.yaml" in c.get("data", {})]
    return config_map


def _webhooks(render: Render) -> dict[str, dict[str, Any]]:
    return {hook["name"]: hook for hook in render.one("MutatingWebhookConfiguration")["webhooks"]}


def _excluded_names(hook: dict[str, Any]) -> set[str]:
    for expression in hook["namespaceSelector"].get("matchExpressions", []):
        if expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "NotIn":
            return set(expression["values"])
    return set()


def _pem(data: dict[str, str], key: str) -> bytes:
    return base64.b64decode(data[key])


# --- lint and schema validation of every render ---------------------------------------------------------------


def test_ci_values_cover_every_tls_mode() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    modes = set(schema["properties"]["tls"]["properties"]["mode"]["enum"])
    covered = {yaml.safe_load(path.read_text(encoding="utf-8")).get("tls", {}).get("mode") for path in CI_FILES}
    assert modes <= covered, f"no ci/ values file for tls.mode {modes - covered}"
    assert {"certmanager-values", "chart-values", "secret-values", "full-values"} <= {p.stem for p in CI_FILES}


@pytest.mark.parametrize("files", VALUE_SETS, ids=VALUE_IDS)
def test_helm_lint_strict(helm: Helm, files: tuple[Path, ...]) -> None:
    result = helm.lint(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("name", VALUE_IDS)
def test_every_rendered_object_is_valid(renders: dict[str, Render], name: str) -> None:
    render = renders[name]
    assert render.objects
    for obj in render:
        kind, api_version, metadata = obj["kind"], obj["apiVersion"], obj["metadata"]
        where = f"{name}: {kind}/{metadata['name']}"
        if (api_version, kind) in CRD_KINDS:
            assert obj.get("spec"), where  # no schema offline; the fields are asserted by the tests below
        else:
            for version in SCHEMA_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    pytest.fail(f"{where} is invalid for Kubernetes {version}: {error.message} at {list(error.path)}")
        # The webhook needs no API permissions; only the optional checkJob reads (test_check_job_*).
        assert kind not in RBAC_KINDS or metadata["name"].endswith("-check"), f"{where}: RBAC for the webhook"
        assert len(metadata["name"]) <= 63, where
        if kind in CLUSTER_SCOPED:
            assert "namespace" not in metadata, where
        else:
            assert metadata["namespace"] == NAMESPACE, where
        labels = metadata["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert labels.get(key), f"{where} lacks label {key}"
        assert labels["helm.sh/chart"] == f"downward-webhook-{_chart()['version']}"


@pytest.mark.parametrize("name", VALUE_IDS)
def test_config_map_is_accepted_by_the_server(renders: dict[str, Render], name: str) -> None:
    config_map = _config_map(renders[name])
    config = config_from_mapping(yaml.safe_load(config_map["data"]["config.yaml"]))
    assert isinstance(config, OperatorConfig)
    if name == "default":
        # values.yaml spells out the server's defaults: a changed default must change both.
        assert config == OperatorConfig()


def test_full_values_config_reaches_the_server(renders: dict[str, Render]) -> None:
    config = config_from_mapping(yaml.safe_load(_config_map(renders["full-values"])["data"]["config.yaml"]))
    assert config.core.prefix == "inject.example.com/"
    assert config.core.ambassador.mode == "container"
    assert config.server.max_body_bytes == 1048576


# --- Deployment, PDB, Service ---------------------------------------------------------------------------------


def test_deployment_defaults(renders: dict[str, Render]) -> None:
    render = renders["default"]
    deployment = render.one("Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = _container(render)
    values = _values()

    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert container["image"] == f"{DEFAULT_IMAGE}:{_chart()['appVersion']}"
    assert container["command"] == ["downward-webhook"]
    assert container["args"] == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8443",
        "--tls-cert",
        "/tls/tls.crt",
        "--tls-key",
        "/tls/tls.key",
        "--config",
        "/config/config.yaml",
        "--log-level",
        "info",
    ]
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]

    # PodSecurity "restricted", read-only root filesystem, no API token.
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == UID
    assert pod_security["runAsGroup"] == UID
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert not security.get("privileged")
    assert pod["automountServiceAccountToken"] is False
    assert render.one("ServiceAccount")["automountServiceAccountToken"] is False

    # Probes on the server's own endpoints, over HTTPS on the named port.
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "https", "scheme": "HTTPS"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}

    # Graceful termination: one drain, the server's own after SIGTERM (no preStop sleep), inside the grace period.
    assert "lifecycle" not in container
    drain = values["config"]["server"]["shutdownDelaySeconds"]
    assert pod["terminationGracePeriodSeconds"] >= drain + values["webhook"]["timeoutSeconds"]

    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]

    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert set(mounts) == {"/tls", "/config", "/tmp"}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    tls_volume = volumes[mounts["/tls"]["name"]]["secret"]
    assert [item["key"] for item in tls_volume["items"]] == ["tls.crt", "tls.key"]  # never the CA key
    assert volumes[mounts["/config"]["name"]]["configMap"]["name"] == _config_map(render)["metadata"]["name"]

    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]

    annotations = spec["template"]["metadata"]["annotations"]
    for key in ("checksum/config", "checksum/tls"):
        assert re.fullmatch(r"[0-9a-f]{64}", annotations[key]), key


def test_pdb_and_service_select_the_webhook_pods(renders: dict[str, Render]) -> None:
    render = renders["default"]
    pod_labels = render.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = render.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = render.one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]

    full = renders["full-values"].one("PodDisruptionBudget")["spec"]
    assert full["minAvailable"] == 2
    assert "maxUnavailable" not in full
    assert not renders["legacy-values"].all("PodDisruptionBudget")


def test_checksum_annotations_follow_config_and_tls(helm: Helm, renders: dict[str, Render]) -> None:
    def checksums(render: Render) -> dict[str, str]:
        annotations: dict[str, str] = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
        return {key: value for key, value in annotations.items() if key.startswith("checksum/")}

    secret_mode = (_ci("secret-values"),)
    base = checksums(renders["secret-values"])
    assert checksums(helm.template(secret_mode)) == base  # deterministic
    changed_config = checksums(helm.template(secret_mode, {"config": {"defaults": {"volume": False}}}))
    assert changed_config["checksum/config"] != base["checksum/config"]
    assert changed_config["checksum/tls"] == base["checksum/tls"]
    changed_tls = checksums(helm.template(secret_mode, {"tls": {"caBundle": "Q0hBTkdFRA=="}}))
    assert changed_tls["checksum/tls"] != base["checksum/tls"]
    assert changed_tls["checksum/config"] == base["checksum/config"]

    # chart mode: the checksum is the serving certificate's, so a certificate issued on upgrade rolls the pods.
    render = renders["default"]
    certificate = _pem(render.one("Secret")["data"], "tls.crt")
    assert checksums(render)["checksum/tls"] == hashlib.sha256(certificate).hexdigest()


# --- the MutatingWebhookConfiguration -------------------------------------------------------------------------


def test_webhook_entries_defaults(renders: dict[str, Render]) -> None:
    render = renders["default"]
    hooks = _webhooks(render)
    assert list(hooks) == WEBHOOK_NAMES
    service = render.one("Service")
    for name, hook in hooks.items():
        assert hook["admissionReviewVersions"] == ["v1"], name
        assert hook["sideEffects"] == "None", name
        assert hook["matchPolicy"] == "Equivalent", name
        assert hook["timeoutSeconds"] == 5, name
        assert hook["failurePolicy"] == "Ignore", name
        target = hook["clientConfig"]["service"]
        assert target["name"] == service["metadata"]["name"], name
        assert target["namespace"] == NAMESPACE, name
        assert target["port"] == service["spec"]["ports"][0]["port"], name
        assert _excluded_names(hook) >= SYSTEM_NAMESPACES | {NAMESPACE}, name
        assert "objectSelector" not in hook, name  # labels only: cannot see the annotation opt-in

    pods, workloads, namespaced = (hooks[name] for name in WEBHOOK_NAMES)
    pod_rule = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["pods"],
        "scope": "Namespaced",
    }
    assert pods["rules"] == [pod_rule]
    assert namespaced["rules"] == [pod_rule]
    assert pods["clientConfig"]["service"]["path"] == "/mutate"
    assert namespaced["clientConfig"]["service"]["path"] == "/mutate-namespace"
    assert workloads["clientConfig"]["service"]["path"] == "/mutate"
    assert pods["reinvocationPolicy"] == "IfNeeded"
    assert namespaced["reinvocationPolicy"] == "IfNeeded"
    assert workloads["reinvocationPolicy"] == "Never"

    # The workload entry covers exactly the kinds the server warns about.
    routed = {
        (group, resource)
        for rule in workloads["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert routed == {(group, kind.lower() + "s") for group, kind in WORKLOAD_KINDS}
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in workloads["rules"])

    # matchConditions: only our pods reach the annotation entry; opted-out pods skip the namespace entry.
    conditions = {
        hook["name"]: {c["name"]: c["expression"] for c in hook["matchConditions"]} for hook in hooks.values()
    }
    assert "startsWith('downward.dev/')" in conditions["pods.downward.dev"]["has-downward-annotation"]
    assert "kubernetes.io/config.mirror" in conditions["pods.downward.dev"]["not-a-mirror-pod"]
    workload_condition = conditions["workloads.downward.dev"]["has-inject-annotation"]
    for path in ("object.metadata", "object.spec.template.metadata", "object.spec.jobTemplate.spec.template.metadata"):
        assert f"'downward.dev/inject' in {path}.annotations" in workload_condition, path
        assert f"has({path}.annotations)" in workload_condition, path
    assert "!= 'false'" in conditions["namespace.pods.downward.dev"]["not-opted-out"]

    assert namespaced["namespaceSelector"]["matchLabels"] == {"downward.dev/inject": "enabled"}
    assert {
        "key": "downward.dev/inject",
        "operator": "NotIn",
        "values": ["enabled"],
    } in pods["namespaceSelector"]["matchExpressions"]


@pytest.mark.parametrize("name", ["default", "full-values"])
def test_each_pod_reaches_at_most_one_pod_entry(renders: dict[str, Render], name: str) -> None:
    render = renders[name]
    hooks = _webhooks(render)
    pod_entries = [hook for hook in hooks.values() if hook["rules"][0]["resources"] == ["pods"]]
    prefix = config_from_mapping(yaml.safe_load(_config_map(render)["data"]["config.yaml"])).core.prefix
    label = f"{prefix}inject"
    scope = (
        _values()["webhook"]["namespaceSelector"]["matchLabels"] if name == "default" else {"environment": "staging"}
    )
    extra = {"downward-rollout": "wave-1"} if name == "full-values" else {}

    def matching(labels: dict[str, str]) -> list[str]:
        return [hook["name"] for hook in pod_entries if selector_matches(hook["namespaceSelector"], labels)]

    for system in [*SYSTEM_NAMESPACES, NAMESPACE]:
        assert matching(namespace_labels(system, **{label: "enabled"}, **scope, **extra)) == [], system
    assert matching(namespace_labels("shop", **scope, **extra)) == ["pods.downward.dev"]
    assert matching(namespace_labels("shop", **{label: "disabled"}, **scope, **extra)) == ["pods.downward.dev"]
    assert matching(namespace_labels("shop", **{label: "enabled"}, **scope, **extra)) == ["namespace.pods.downward.dev"]
    if name == "full-values":
        assert matching(namespace_labels("shop", **{label: "enabled"}, **extra)) == []  # outside the rollout scope
        assert matching(namespace_labels("payments", **scope, **extra)) == []  # webhook.excludeNamespaces


def test_full_values_follow_the_prefix_and_failure_policy(renders: dict[str, Render]) -> None:
    hooks = _webhooks(renders["full-values"])
    text = json.dumps(hooks)
    assert "downward.dev/" not in text.replace(".downward.dev", "")  # webhook names keep their own domain
    assert "startsWith('inject.example.com/')" in json.dumps(hooks["pods.downward.dev"]["matchConditions"])
    assert "'inject.example.com/inject' in object.spec.jobTemplate.spec.template.metadata.annotations" in text
    assert hooks["namespace.pods.downward.dev"]["namespaceSelector"]["matchLabels"] == {
        "inject.example.com/inject": "enabled",
        "environment": "staging",
    }
    assert hooks["pods.downward.dev"]["failurePolicy"] == "Fail"
    assert hooks["namespace.pods.downward.dev"]["failurePolicy"] == "Fail"
    assert hooks["workloads.downward.dev"]["failurePolicy"] == "Ignore"  # warnings never block a deploy
    assert {hook["timeoutSeconds"] for hook in hooks.values()} == {3}
    assert all(_excluded_names(hook) >= {"monitoring", "payments"} for hook in hooks.values())


def test_legacy_values_render_no_match_conditions(renders: dict[str, Render]) -> None:
    hooks = _webhooks(renders["legacy-values"])
    assert list(hooks) == ["pods.downward.dev"]
    (hook,) = hooks.values()
    assert "matchConditions" not in hook
    assert [e["key"] for e in hook["namespaceSelector"]["matchExpressions"]] == ["kubernetes.io/metadata.name"]


# --- TLS, three ways ------------------------------------------------------------------------------------------


def test_chart_mode_generates_a_consistent_ca_and_certificate(renders: dict[str, Render]) -> None:
    render = renders["default"]
    secret = render.one("Secret")
    assert secret["type"] == "kubernetes.io/tls"
    data = secret["data"]
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    for name, hook in _webhooks(render).items():
        assert hook["clientConfig"]["caBundle"] == data["ca.crt"], f"{name}: caBundle is not the Secret's CA"

    ca = x509.load_pem_x509_certificate(_pem(data, "ca.crt"))
    leaf = x509.load_pem_x509_certificate(_pem(data, "tls.crt"))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(ca)
    for cert_key, pem_key in (("ca.crt", "ca.key"), ("tls.crt", "tls.key")):
        key = serialization.load_pem_private_key(_pem(data, pem_key), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        public = x509.load_pem_x509_certificate(_pem(data, cert_key)).public_key()
        assert key.public_key() == public, f"{pem_key} does not match {cert_key}"

    service = render.one("Service")["metadata"]["name"]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns_names = sans.get_values_for_type(x509.DNSName)
    assert f"{service}.{NAMESPACE}.svc" in dns_names  # the name the apiserver dials
    annotations = secret["metadata"]["annotations"]
    assert annotations["downward.dev/tls-dns-names"] == ",".join(dns_names)
    not_after = datetime.fromtimestamp(int(annotations["downward.dev/tls-not-after"]), tz=UTC)
    assert abs((not_after - leaf.not_valid_after_utc).total_seconds()) < 120
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == _values()["tls"]["chart"]["certValidityDays"]

    tls_volume = next(v for v in render.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"]["secretName"] == secret["metadata"]["name"]


def test_cert_manager_mode_injects_the_ca_from_its_certificate(renders: dict[str, Render]) -> None:
    render = renders["certmanager-values"]
    assert not render.all("Secret")
    mwc = render.one("MutatingWebhookConfiguration")
    namespace, certificate_name = mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    assert namespace == NAMESPACE
    for name, hook in _webhooks(render).items():
        assert "caBundle" not in hook["clientConfig"], f"{name}: cainjector owns the caBundle"

    serving = render.one("Certificate", certificate_name)["spec"]
    tls_volume = next(v for v in render.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert serving["secretName"] == tls_volume["secret"]["secretName"]
    service = render.one("Service")["metadata"]["name"]
    assert f"{service}.{NAMESPACE}.svc" in serving["dnsNames"]
    assert serving["usages"] == ["digital signature", "server auth"]
    assert serving["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}

    # Without an issuerRef the chart brings its own chain: self-signed Issuer -> CA Certificate -> CA Issuer.
    issuers = {issuer["metadata"]["name"]: issuer["spec"] for issuer in render.all("Issuer")}
    ca_issuer = issuers[serving["issuerRef"]["name"]]
    ca_certificate = render.one("Certificate", ca_issuer["ca"]["secretName"])["spec"]
    assert ca_certificate["isCA"] is True
    assert issuers[ca_certificate["issuerRef"]["name"]] == {"selfSigned": {}}

    with_issuer = renders["certmanager-issuer-values"]
    assert not with_issuer.all("Issuer")
    (only,) = with_issuer.all("Certificate")
    assert only["spec"]["issuerRef"] == {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_secret_mode_uses_the_given_secret_and_ca(renders: dict[str, Render]) -> None:
    render = renders["secret-values"]
    given = yaml.safe_load(_ci("secret-values").read_text(encoding="utf-8"))["tls"]
    assert not render.all("Secret")
    assert not render.all("Certificate")
    assert not render.all("Issuer")
    for name, hook in _webhooks(render).items():
        assert hook["clientConfig"]["caBundle"] == given["caBundle"], name
    tls_volume = next(v for v in render.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"]["secretName"] == given["secretName"]


# --- optional features ------------------------------------------------------------------------------------------


def test_full_values_enable_every_optional_feature(renders: dict[str, Render]) -> None:
    render = renders["full-values"]
    full = yaml.safe_load(_ci("full-values").read_text(encoding="utf-8"))
    for obj in render:
        assert obj["metadata"]["labels"]["team"] == "platform", obj["kind"]
        assert obj["metadata"]["annotations"]["owner"] == "platform@example.com", obj["kind"]

    pod = render.one("Deployment")["spec"]["template"]
    args = _container(render)["args"]
    assert "--workers" not in args  # one process per pod: replicas scale it
    assert pod["metadata"]["labels"]["tier"] == "control"
    assert pod["metadata"]["annotations"]["example.com/pod"] == "yes"
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["serviceAccountName"] == render.one("ServiceAccount", "downward-sa")["metadata"]["name"]
    assert _container(render)["image"] == f"{full['image']['repository']}@{full['image']['digest']}"
    assert len(pod["spec"]["topologySpreadConstraints"]) == 2

    service = render.one("Service")
    monitor = render.one("ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == "https"
    assert endpoint["scheme"] == "https"
    assert endpoint["path"] == "/metrics"
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": render.one("Secret")["metadata"]["name"], "key": "ca.crt"}
    assert endpoint["tlsConfig"]["serverName"] == f"{service['metadata']['name']}.{NAMESPACE}.svc"

    rule = render.one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]} >= {"DownwardWebhookDown"}
    (dashboard,) = [c for c in render.all("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["downward-webhook.json"])["uid"] == "downward-webhook"

    policy = render.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "https", "protocol": "TCP"}]
    assert rule["from"] == full["networkPolicy"]["from"]


def _probe(container: dict[str, Any], name: str) -> dict[str, Any]:
    probe: dict[str, Any] = container[name]
    return {key: value for key, value in probe.items() if key in ("httpGet", "tcpSocket", "exec", "grpc")}


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_client_ca_is_mounted_and_passed_to_the_server(helm: Helm, kind: str) -> None:
    render = helm.template(
        values={"tls": {"clientCA": {"enabled": True, "kind": kind, "name": "apiserver-client-ca", "key": "ca.pem"}}}
    )
    container = _container(render)
    args = container["args"]
    position = args.index("--client-ca")
    ca_file = Path(args[position + 1])
    # The server parses the rendered command line, and reads the file the volume puts there.
    parsed = cli_parser().parse_args(args)
    assert parsed.client_ca == ca_file
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(ca_file.parent)]
    assert mount["readOnly"] is True
    volume = next(
        v for v in render.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    source = volume["secret"] if kind == "Secret" else volume["configMap"]
    assert source.get("secretName", source.get("name")) == "apiserver-client-ca"
    assert source["items"] == [{"key": "ca.pem", "path": ca_file.name}]
    assert set(volume) == {"name", "secret" if kind == "Secret" else "configMap"}
    # The kubelet's HTTPS probes carry no client certificate: with mutual TLS they would never pass.
    for probe in ("livenessProbe", "readinessProbe"):
        assert _probe(container, probe) == {"tcpSocket": {"port": "https"}}, probe
    for obj in render:  # still valid Kubernetes objects
        if (obj["apiVersion"], obj["kind"]) not in CRD_KINDS:
            kubernetes_validate.validate(obj, SCHEMA_VERSIONS[-1], strict=True)


def test_client_ca_is_off_by_default(renders: dict[str, Render]) -> None:
    assert _values()["tls"]["clientCA"]["enabled"] is False
    for name in ("default", "full-values", "secret-values", "certmanager-values"):
        container = _container(renders[name])
        assert "--client-ca" not in container["args"], name
        assert not any(m["mountPath"] == "/client-ca" for m in container["volumeMounts"]), name
        assert _probe(container, "readinessProbe") == {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
        }, name
    assert "--client-ca" in _container(renders["client-ca-values"])["args"]


def test_client_ca_with_a_service_monitor_needs_a_client_certificate(helm: Helm) -> None:
    client_ca = {"enabled": True, "name": "apiserver-client-ca"}
    refused = helm.template_raw(values={"tls": {"clientCA": client_ca}, "serviceMonitor": {"enabled": True}})
    assert refused.returncode != 0
    assert "serviceMonitor.tlsConfig must be set when tls.clientCA.enabled" in refused.stderr, refused.stderr
    tls_config = {
        "ca": {"secret": {"name": "dw-downward-webhook-tls", "key": "ca.crt"}},
        "cert": {"secret": {"name": "prometheus-client", "key": "tls.crt"}},
        "keySecret": {"name": "prometheus-client", "key": "tls.key"},
    }
    render = helm.template(
        values={"tls": {"clientCA": client_ca}, "serviceMonitor": {"enabled": True, "tlsConfig": tls_config}}
    )
    (endpoint,) = render.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["tlsConfig"] == tls_config


def _ambassador_pod(name: str, namespace: str, ambassador: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"downward.dev/inject": "true", "downward.dev/ambassador": ambassador},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


def _containers_of(pod: dict[str, Any]) -> list[str]:
    spec = pod["spec"]
    return [c["name"] for c in (*spec.get("initContainers", []), *spec["containers"])]


def test_operator_can_disable_the_ambassador_everywhere_or_per_namespace(helm: Helm) -> None:
    """config.ambassador.allowed / disabledNamespaces go from values, through the ConfigMap, to the server's
    decision: the rendered configuration refuses an ambassador request with the operator's reason."""

    def server_config(ambassador: dict[str, Any]) -> Config:
        render = helm.template(values={"config": {"ambassador": ambassador}})
        raw = yaml.safe_load(_config_map(render)["data"]["config.yaml"])
        assert {key: raw["ambassador"][key] for key in ambassador} == ambassador
        return config_from_mapping(raw).core

    default = server_config({})
    assert default.ambassador.allowed is True
    assert default.ambassador.disabled_namespaces == frozenset()
    injected = inject_documents([_ambassador_pod("p", "team-a")], default).documents[0]
    assert "downward-ambassador" in _containers_of(injected)

    nowhere = server_config({"allowed": False})
    with pytest.raises(Denied, match="the cluster operator disabled the ambassador"):
        inject_documents([_ambassador_pod("p", "team-a")], nowhere)
    # Injection without the ambassador still works; and an explicit "false" is never refused.
    plain = inject_documents([_ambassador_pod("p", "team-a", ambassador="false")], nowhere).documents[0]
    assert _containers_of(plain) == ["app"]
    assert plain["metadata"]["annotations"]["downward.dev/status"]

    per_namespace = server_config({"disabledNamespaces": ["team-a", "payments"]})
    assert per_namespace.ambassador.allowed is True
    assert per_namespace.ambassador.disabled_namespaces == frozenset({"team-a", "payments"})
    with pytest.raises(Denied, match="disabled the ambassador in namespace team-a"):
        inject_documents([_ambassador_pod("p", "team-a")], per_namespace)
    elsewhere = inject_documents([_ambassador_pod("p", "team-b")], per_namespace).documents[0]
    assert "downward-ambassador" in _containers_of(elsewhere)


# --- values, schema, cross-field checks, NOTES ----------------------------------------------------------------


BAD_VALUES = [
    ({"replicaCount": "two"}, ["/replicaCount", "want integer"]),
    ({"workers": 2}, ["'workers' not allowed"]),  # removed: scale with replicaCount
    ({"replicas": 2}, ["'replicas' not allowed"]),
    ({"webhook": {"failurePolicy": "Sometimes"}}, ["/webhook/failurePolicy", "'Ignore', 'Fail'"]),
    ({"webhook": {"timeoutSeconds": 60}}, ["/webhook/timeoutSeconds", "maximum"]),
    ({"webhook": {"matchConditions": "yes"}}, ["/webhook/matchConditions", "want boolean"]),
    ({"tls": {"mode": "vault"}}, ["/tls/mode", "'chart', 'certManager', 'secret'"]),
    ({"tls": {"mode": "secret"}}, ["/tls/secretName", "/tls/caBundle"]),
    ({"config": {"bogus": 1}}, ["/config", "'bogus' not allowed"]),
    # Any env var name: the default set may name the operator's catalog entries (the server checks the names).
    ({"config": {"defaults": {"env": ["1BOGUS"]}}}, ["/config/defaults/env/0", "1BOGUS"]),
    ({"config": {"catalog": [{"name": "A", "value": "x", "fieldPath": "metadata.name"}]}}, ["/config/catalog/0"]),
    ({"config": {"catalog": [{"name": "A", "resource": "limits.cpu"}]}}, ["/config/catalog/0"]),
    ({"config": {"otel": {"namespaces": "shop"}}}, ["/config/otel/namespaces"]),
    ({"config": {"annotationPrefix": "Downward"}}, ["/config/annotationPrefix", "does not match pattern"]),
    ({"config": {"ambassador": {"mode": "sidecar"}}}, ["/config/ambassador/mode", "'native', 'container'"]),
    ({"podDisruptionBudget": {"maxUnavailable": "half"}}, ["/podDisruptionBudget/maxUnavailable"]),
    ({"config": {"ambassador": {"allowed": "no"}}}, ["/config/ambassador/allowed", "want boolean"]),
    (
        {"config": {"ambassador": {"disabledNamespaces": "team-a"}}},
        ["/config/ambassador/disabledNamespaces", "want array"],
    ),
    (
        {"config": {"ambassador": {"disabledNamespaces": ["Team_A"]}}},
        ["/config/ambassador/disabledNamespaces/0", "does not match pattern"],
    ),
    (
        {"config": {"ambassador": {"disabledNamespaces": ["a", "a"]}}},
        ["/config/ambassador/disabledNamespaces", "are equal"],
    ),
    ({"tls": {"clientCA": {"enabled": True}}}, ["/tls/clientCA/name", "minLength"]),
    (
        {"tls": {"clientCA": {"enabled": True, "name": "ca", "kind": "Vault"}}},
        ["/tls/clientCA/kind", "'ConfigMap', 'Secret'"],
    ),
    (
        {"tls": {"clientCA": {"enabled": True, "name": "ca", "key": "a/b"}}},
        ["/tls/clientCA/key", "does not match pattern"],
    ),
    ({"tls": {"clientCA": {"enabled": "yes"}}}, ["/tls/clientCA/enabled", "want boolean"]),
    ({"tls": {"clientCA": {"caFile": "/etc/ca.crt"}}}, ["/tls/clientCA", "'caFile' not allowed"]),
]


@pytest.mark.parametrize(("values", "expected"), BAD_VALUES, ids=[json.dumps(v) for v, _ in BAD_VALUES])
def test_schema_rejects_bad_values_readably(helm: Helm, values: dict[str, Any], expected: list[str]) -> None:
    result = helm.template_raw(values=values)
    assert result.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"terminationGracePeriodSeconds": 9}, "terminationGracePeriodSeconds (9) must be at least"),
        ({"config": {"server": {"requestTimeoutSeconds": 6}}}, "must be below webhook.timeoutSeconds (5)"),
    ],
)
def test_cross_field_checks_fail_with_a_message(helm: Helm, values: dict[str, Any], expected: str) -> None:
    result = helm.template_raw(values=values)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr


def test_kube_version_floor(helm: Helm) -> None:
    assert helm.template_raw(extra=["--kube-version", "1.29.0"]).returncode == 0
    too_old = helm.template_raw(extra=["--kube-version", "1.28.9"])
    assert too_old.returncode != 0
    assert ">=1.29.0-0" in too_old.stderr, too_old.stderr


def test_on_the_oldest_release_the_defaults_stay_native_sidecar_and_match_conditions(helm: Helm) -> None:
    """Both are beta and on by default in 1.29 (SidecarContainers, AdmissionWebhookMatchConditions), and the e2e
    suite runs the defaults on a 1.29 apiserver, so the chart does not change them by .Capabilities.KubeVersion."""
    render = helm.template(extra=["--kube-version", "1.29.0"])
    config = config_from_mapping(yaml.safe_load(_config_map(render)["data"]["config.yaml"]))
    assert config.core.ambassador.mode == "native"
    assert all(hook["matchConditions"] for hook in render.one("MutatingWebhookConfiguration")["webhooks"])


def test_the_promised_releases_are_the_pinned_and_schema_checked_ones() -> None:
    """The chart's floor is the oldest release the e2e suite runs on (tools/kube/1.29), and the strict schemas
    of the chart's renders and of the golden files are those of the oldest and the newest pin."""
    minors = sorted((r.minor for r in pinned()), key=lambda minor: tuple(map(int, minor.split("."))))
    oldest, newest = minors[0], minors[-1]
    assert _chart()["kubeVersion"] == f">={oldest}.0-0"
    assert (oldest, newest) == kube_rules.SCHEMA_VERSIONS
    assert (f"{oldest}.0", f"{newest}.0") == SCHEMA_VERSIONS


def _walk_schema(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _walk_schema(child, f"{path}.{key}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), dict):
            yield from _walk_schema(node[keyword], f"{path}[]")


def test_schema_is_strict_and_documented() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    for path, node in _walk_schema(schema, "$"):
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        if path.count(".") >= 1 and not path.endswith("[]"):
            assert node.get("description"), f"{path} has no description"


def test_schema_mirrors_the_server_config() -> None:
    config = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))["properties"]["config"]
    properties = config["properties"]
    # No enum: the default set may name the operator's catalog entries, which the server checks at start.
    assert "enum" not in properties["defaults"]["properties"]["env"]["items"]
    ambassador = properties["ambassador"]["properties"]
    hints = typing.get_type_hints(AmbassadorConfig)
    assert ambassador["mode"]["enum"] == list(typing.get_args(hints["mode"]))

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    server_keys = {camel(f.name) for f in dataclasses.fields(ServerConfig)}
    assert set(properties["server"]["properties"]) == server_keys
    assert set(_values()["config"]["server"]) == server_keys


# What bounds a value: each keyword the server's file schema (webhook/config.py, pydantic) declares must be in
# the chart's schema with the same value, so helm refuses what the server would.
BOUNDS = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
# Bounds the server checks in Python validators (better messages), which pydantic's schema cannot show: the
# chart's schema states them as JSON Schema, and tests/test_config.py checks the server's side.
PYTHON_VALIDATED = {
    "config.annotationPrefix": {"maxLength"},
    "config.defaults.env[]": {"pattern"},
    "config.defaults.mountPath": {"maxLength"},
    # Only the chart checks these: the server takes any string as a namespace name (and matches none).
    "config.ambassador.disabledNamespaces[]": {"maxLength"},
    "config.otel.namespaces[]": {"maxLength"},
}


def _resolved(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {key: _resolved(value, defs) for key, value in node.items() if key != "$defs"}
    return node


def _nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")


def test_schema_bounds_the_config_as_the_server_does() -> None:
    """The chart's `config` schema against the one pydantic derives from the server's model, bounds included."""
    derived = ConfigFile.model_json_schema(by_alias=True)
    server = dict(_nodes(_resolved(derived, derived.get("$defs", {})), "config"))
    committed = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))["properties"]["config"]
    chart = dict(_nodes(committed, "config"))
    # Keys: the same, but under the resource maps, which the server reads as {name: quantity} dicts.
    maps = [path for path, node in server.items() if isinstance(node.get("additionalProperties"), dict)]
    assert set(server) == {path for path in chart if not any(path.startswith(f"{m}.") for m in maps)}
    for path, node in server.items():
        for keyword in BOUNDS:
            if keyword in node or keyword not in PYTHON_VALIDATED.get(path, set()):
                assert chart[path].get(keyword) == node.get(keyword), f"{path}: {keyword} differs from the server's"


# Blocks that are Kubernetes structures passed through verbatim: their own comment documents them.
PASS_THROUGH = {
    "resources",
    "checkJob.resources",
    "podSecurityContext",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
    "topologySpreadConstraints",
    "config.ambassador.resources",
}


def test_values_yaml_documents_every_key() -> None:
    lines = (CHART_DIR / "values.yaml").read_text(encoding="utf-8").splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        stack = [(i, k) for i, k in stack if i < indent]
        parents = ".".join(k for _, k in stack)
        stack.append((indent, key))
        if any(parents == block or parents.startswith(block + ".") for block in PASS_THROUGH):
            continue
        previous = next((lines[i].strip() for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        if not previous.startswith("#"):
            undocumented.append(f"{parents + '.' if parents else ''}{key} (line {number + 1})")
    assert not undocumented, "values.yaml keys without a comment: " + ", ".join(undocumented)


def test_notes_tell_how_to_opt_in_and_check(helm: Helm) -> None:
    result = helm.run("install", "dw", str(CHART_DIR), "--namespace", NAMESPACE, "--dry-run=client").check()
    notes = result.stdout.split("NOTES:", 1)[1]
    assert 'downward.dev/inject: "true"' in notes
    assert "kubectl label namespace <namespace> downward.dev/inject=enabled" in notes
    assert r"{.metadata.annotations.downward\.dev/status}" in notes


def test_chart_metadata_agrees_with_the_package() -> None:
    chart = _chart()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.29.0-0"
    assert chart["appVersion"] == pyproject["project"]["version"] == webhook.__version__
    assert _values()["image"]["repository"] == DEFAULT_IMAGE


# --- the optional checkJob: `downward-webhook check -A` on a schedule -------------------------------------------


def test_check_job_is_off_by_default(renders: dict[str, Render]) -> None:
    render = renders["default"]
    assert not [k for k in render.kinds() if k.split("/")[0] in {"CronJob", *RBAC_KINDS}]
    assert len(render.all("ServiceAccount")) == 1
    assert _values()["checkJob"]["enabled"] is False


def test_check_job_runs_check_all_namespaces_read_only(renders: dict[str, Render]) -> None:
    render = renders["full-values"]
    full = yaml.safe_load(_ci("full-values").read_text(encoding="utf-8"))
    cronjob = render.one("CronJob")
    assert cronjob["spec"]["schedule"] == full["checkJob"]["schedule"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a failed check is an answer, not a flake
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == full["checkJob"]["image"]
    assert container["command"] == ["downward-webhook"]
    assert container["args"] == ["check", "-A"]
    parsed = cli_parser().parse_args(container["args"])  # the CLI of this commit accepts them
    assert (parsed.command, parsed.all_namespaces) == ("check", True)
    # Its own account, bound to a read-only ClusterRole; the webhook's account has none.
    account = render.one("ServiceAccount", pod["serviceAccountName"])
    assert pod["serviceAccountName"] == f"{render.one('Deployment')['metadata']['name']}-check"
    assert pod["automountServiceAccountToken"] is True
    binding = render.one("ClusterRoleBinding")
    role = render.one("ClusterRole")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list"}
    readable = {
        (group, resource) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
    }
    assert readable == {
        ("", "pods"), ("", "namespaces"), ("", "services"),
        ("apps", "replicasets"), ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
        ("batch", "jobs"), ("batch", "cronjobs"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
        ("discovery.k8s.io", "endpointslices"),
    }  # fmt: skip
    assert not any("secrets" in rule["resources"] for rule in role["rules"])
    assert kube_rules.restricted_problems(container, pod, "check") == []
    assert pod["restartPolicy"] == "Never"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    # Never a webhook replica: the Service (the apiserver's way in) and the PDB do not select its pod.
    labels = job["template"]["metadata"]["labels"].items()
    assert not render.one("Service")["spec"]["selector"].items() <= labels
    assert not render.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels


def test_check_job_image_defaults_to_the_webhook_image(helm: Helm) -> None:
    render = helm.template(values={"checkJob": {"enabled": True}})
    (container,) = render.one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == _container(render)["image"]
