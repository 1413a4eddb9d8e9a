"""End to end, with other parts of a real cluster around the webhook: a second mutating webhook, a webhook
that is down, and the ambassador's own command line run against the apiserver."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chart_helpers import Helm
from tests.e2e.cluster import Binaries, ControlPlane
from tests.e2e.cluster.releases import Release
from tests.e2e.kube import Kube, eventually, service_account_kubeconfig
from tests.e2e.registration import ISOLATED, MWC_PATH, RunningWebhook, registered, start_server
from tests.e2e.test_injection import P, assert_injected, pods, seed_pod
from tests.server_process import free_port
from webhook.core.build.ambassador import ambassador_container
from webhook.core.config import Config

ADDED = "added-later"


class _Adder(http.server.BaseHTTPRequestHandler):
    """Another team's webhook: appends a container (once) to every pod it sees."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        names = [c["name"] for c in request["object"]["spec"]["containers"]]
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if ADDED not in names:
            patch = [{"op": "add", "path": "/spec/containers/-", "value": {"name": ADDED, "image": "busybox"}}]
            response |= {"patchType": "JSONPatch", "patch": base64.b64encode(json.dumps(patch).encode()).decode()}
        self.server.calls += 1  # type: ignore[attr-defined]
        body = json.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def adder(control_plane: ControlPlane, tmp_path: Path) -> Iterator[tuple[str, http.server.ThreadingHTTPServer]]:
    issued = control_plane.issue_cert("adder", directory=tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Adder)
    server.calls = 0  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/", server
    server.shutdown()
    server.server_close()


def test_reinvocation_injects_a_container_added_by_a_later_webhook(
    kube: Kube,
    webhook: RunningWebhook,
    control_plane: ControlPlane,
    make_namespace: Callable[..., str],
    adder: tuple[str, http.server.ThreadingHTTPServer],
) -> None:
    url, server = adder
    label = f"adder-{uuid.uuid4().hex[:6]}"
    namespace = make_namespace(**{"e2e.downward.dev/adder": label})
    # Configurations are called in name order: ours ("downward-e2e-...") first, then this one.
    configuration: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": f"zz-adder-{label}"},
        "webhooks": [
            {
                "name": "adder.example.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "clientConfig": {"url": url, "caBundle": control_plane.ca_bundle_b64},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "namespaceSelector": {"matchLabels": {"e2e.downward.dev/adder": label}},
            }
        ],
    }
    assert configuration["metadata"]["name"] > webhook.name
    kube.must(kube.create(MWC_PATH, configuration))
    try:

        def added() -> dict[str, Any] | None:
            answer = kube.create(pods(namespace), seed_pod("probe", {P + "inject": "true"}), dry_run=True)
            names = [c["name"] for c in answer.body["spec"]["containers"]] if answer.status == 201 else []
            return answer.body if ADDED in names else None

        eventually(added, what="the adder webhook to be active")
        stored = kube.must(
            kube.create(pods(namespace), seed_pod("chain", {P + "inject": "true", P + "ambassador": "true"}))
        )
    finally:
        kube.call("DELETE", f"{MWC_PATH}/{configuration['metadata']['name']}")
    containers = stored["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", ADDED]
    assert_injected(stored, container="main")
    assert_injected(stored, container=ADDED)  # injected on reinvocation
    assert json.loads(stored["metadata"]["annotations"][P + "status"])["containers"] == ["main", ADDED]
    # Nothing duplicated by the second pass.
    assert [i["name"] for i in stored["spec"]["initContainers"]] == ["downward-ambassador"]
    volume_names = [v["name"] for v in stored["spec"]["volumes"]]
    assert len(volume_names) == len(set(volume_names))
    for container in containers:
        env_names = [e["name"] for e in container["env"]]
        assert len(env_names) == len(set(env_names))
    assert server.calls >= 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(("policy", "admitted"), [("Ignore", True), ("Fail", False)])
def test_failure_policy_when_the_webhook_is_down(
    kube: Kube,
    helm: Helm,
    control_plane: ControlPlane,
    make_namespace: Callable[..., str],
    tmp_path: Path,
    policy: str,
    admitted: bool,
) -> None:
    # A letter first: a hex string such as "123e4567" is a number to helm's YAML and the schema refuses it.
    label = f"l{uuid.uuid4().hex[:8]}"
    namespace = make_namespace(**{ISOLATED: label})
    server = start_server(control_plane, tmp_path)
    values = {"webhook": {"failurePolicy": policy, "namespaceSelector": {"matchLabels": {ISOLATED: label}}}}
    try:
        with registered(kube, helm, server, values, ca_pem=control_plane.ca_pem, probe_namespace=namespace):
            server.stop()  # the webhook goes down; its configuration stays
            answer = kube.create(pods(namespace), seed_pod("while-down", {P + "inject": "true"}))
    finally:
        server.stop()
    if admitted:
        stored = kube.must(answer)
        assert P + "status" not in stored["metadata"]["annotations"]  # admitted, uninjected
        assert "env" not in stored["spec"]["containers"][0]
    else:
        assert answer.status == 500
        assert 'failed calling webhook "pods.downward.dev"' in answer.message
        assert kube.call("GET", f"{pods(namespace)}/while-down").status == 404


def test_the_ambassador_command_line_really_proxies_as_the_service_account(
    kube: Kube, kube_binaries: Binaries, control_plane: ControlPlane, release: Release, namespace: str, tmp_path: Path
) -> None:
    """Run the exact command and startup probe the webhook injects (no kubelet here to run the container).

    In a pod, kubectl finds the token through its in-cluster config; here a kubeconfig with a token of the same
    ServiceAccount stands in for it, added as the only extra flag. The kubectl is the newest pin's, as in the
    default ambassador image, whatever the apiserver's release: on 1.29 that is the skew a user of the default
    image has too (a plain proxy, so it does not matter).
    """
    port = free_port()
    container = ambassador_container(Config(), "kube-api-access-x")
    command = [arg.replace("--port=8001", f"--port={port}") for arg in container["command"]]
    probe = [arg.replace(":8001", f":{port}") for arg in container["startupProbe"]["exec"]["command"]]
    assert command[0] == probe[0] == "/bin/kubectl"
    kubeconfig = tmp_path / "sa.kubeconfig"
    service_account_kubeconfig(kube, control_plane, namespace, kubeconfig)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    kubectl = str(kube_binaries.kubectl)
    log = tmp_path / "proxy.log"
    with log.open("wb") as out:
        proxy = subprocess.Popen([kubectl, *command[1:], f"--kubeconfig={kubeconfig}"], env=env, stdout=out, stderr=out)
    try:

        def probe_passes() -> bool:
            result = subprocess.run(
                [kubectl, *probe[1:]], env=env, capture_output=True, text=True, check=False, timeout=10
            )
            return result.returncode == 0 and release.version in result.stdout

        eventually(probe_passes, timeout=20, what="the startup probe command to pass")
        base = f"http://127.0.0.1:{port}"
        # Plain HTTP from the app, the pod's identity at the apiserver: the default ServiceAccount may not list pods.
        denied = httpx.get(f"{base}/api/v1/namespaces/{namespace}/pods", timeout=5, trust_env=False)
        assert denied.status_code == 403
        assert f"system:serviceaccount:{namespace}:default" in denied.json()["message"]
        assert httpx.get(f"{base}/version", timeout=5, trust_env=False).json()["gitVersion"] == release.version
        # Only on loopback: test_node_ambassador shows it refused on the pod IP from another pod.
        # Another Host header (DNS rebinding from a browser in the pod) is refused by --accept-hosts.
        assert (
            httpx.get(f"{base}/version", headers={"Host": "evil.example"}, timeout=5, trust_env=False).status_code
            == 403
        )
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
