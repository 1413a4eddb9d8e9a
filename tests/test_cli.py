"""The command line: certs, inject (offline, identical to the server), serve's refusals."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import sys
import time
from pathlib import Path

import jsonpatch
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.kube_rules import pod_create
from webhook.cli import main
from webhook.core.config import Config
from webhook.core.review import review

P = "downward.dev/"


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_certs_cover_hosts_and_service_names(tmp_path: Path) -> None:
    assert main(["certs", "--out", str(tmp_path), "--host", "127.0.0.1", "--service", "dw", "--namespace", "ops"]) == 0
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    cert = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["dw", "dw.ops", "dw.ops.svc", "dw.ops.svc.cluster.local"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600


def test_certs_needs_a_name(tmp_path: Path) -> None:
    assert main(["certs", "--out", str(tmp_path)]) == 2
    assert main(["certs", "--out", str(tmp_path), "--service", "dw"]) == 2


MANIFESTS = f"""
apiVersion: v1
kind: Pod
metadata:
  name: downward
  annotations:
    {P}inject: "true"
spec:
  containers:
  - name: main
    image: busybox
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    {P}inject: "true"
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: app
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            {P}inject: "true"
            {P}env: POD_NAME
        spec:
          restartPolicy: Never
          containers:
          - name: job
            image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{{port: 80}}]
"""


def test_inject_matches_the_server_exactly() -> None:
    result = run("inject", "-f", "-", stdin=MANIFESTS)
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    originals = list(yaml.safe_load_all(MANIFESTS))
    assert len(docs) == 4

    # The pod: byte for byte what applying the server's patch gives.
    verdict = review(pod_create(originals[0], "default"), Config(), inject_by_default=False)
    assert verdict.ops
    assert docs[0] == jsonpatch.apply_patch(originals[0], list(verdict.ops))

    # The Deployment's template is not opted in: untouched, and the user is told why.
    assert docs[1] == originals[1]
    assert "document 2 (Deployment web): downward.dev/inject on the Deployment is ignored" in result.stderr

    # The CronJob's template is injected with the one env var asked for.
    job = docs[2]["spec"]["jobTemplate"]["spec"]["template"]
    assert [e["name"] for e in job["spec"]["containers"][0]["env"]] == ["POD_NAME"]
    assert job["spec"]["volumes"][0]["name"] == "downward-job"
    assert docs[3] == originals[3]


def test_inject_denial_names_the_document(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(MANIFESTS.replace(f"{P}env: POD_NAME", f"{P}env: POD_NAM"), encoding="utf-8")
    result = run("inject", "-f", str(manifest))
    assert result.returncode == 1
    assert result.stdout == ""
    assert 'document 3 (CronJob nightly): annotation downward.dev/env: unknown env var "POD_NAM"' in result.stderr


def test_inject_walks_lists() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": list(yaml.safe_load_all(MANIFESTS))[:1]}
    result = run("inject", "-f", "-", stdin=yaml.safe_dump(listing))
    assert result.returncode == 0, result.stderr
    (doc,) = yaml.safe_load_all(result.stdout)
    assert doc["items"][0]["spec"]["volumes"][0]["name"] == "downward-main"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inject", "-f", "/nonexistent.yaml"], "error: cannot read /nonexistent.yaml"),
        (["inject", "-f", "-", "--config", "/nonexistent.yaml"], "cannot read configuration file"),
    ],
)
def test_inject_input_errors(args: list[str], message: str) -> None:
    result = run(*args, stdin="")
    assert result.returncode == 2
    assert message in result.stderr


def test_inject_a_file_that_is_not_utf8_text(tmp_path: Path) -> None:
    binary = tmp_path / "image.yaml"
    binary.write_bytes(b"a: \xff\xfe")
    result = run("inject", "-f", str(binary))
    assert result.returncode == 2
    assert result.stderr == f"error: cannot read {binary}: not UTF-8 text (byte 3: invalid start byte)\n"


def test_inject_bad_yaml() -> None:
    result = run("inject", "-f", "-", stdin="a: [")
    assert result.returncode == 2
    assert "is not valid YAML" in result.stderr


def test_serve_refuses_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ambassador:\n  port: 80\n", encoding="utf-8")
    result = run("serve", "--config", str(config), "--port", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "ambassador.port: Input should be greater than or equal to 1024" in result.stderr


def test_serve_refuses_half_tls_flags(tmp_path: Path) -> None:
    result = run("serve", "--tls-cert", str(tmp_path / "x"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr


def test_serve_refuses_a_broken_key(tmp_path: Path) -> None:
    main(["certs", "--out", str(tmp_path), "--host", "localhost"])
    (tmp_path / "tls.key").write_text("garbage", encoding="utf-8")
    result = run("serve", "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"), cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot load the TLS certificate/key" in result.stderr


def test_serve_without_tls_flags_makes_and_reuses_dev_certificates(tmp_path: Path) -> None:
    import httpx

    from tests.server_process import free_port

    def start_once() -> tuple[bytes, str]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "webhook", "serve", "--port", str(port)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            ca = tmp_path / "certs" / "ca.crt"
            for _ in range(200):
                try:
                    context = ssl.create_default_context(cafile=str(ca))
                    if httpx.get(f"https://localhost:{port}/healthz", verify=context, timeout=1).status_code == 200:
                        break
                except (httpx.HTTPError, OSError, ssl.SSLError):
                    time.sleep(0.05)
            else:
                pytest.fail("dev server never answered")
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
        return ca.read_bytes(), stderr

    first_ca, stderr = start_once()
    assert f"trust the CA at {tmp_path / 'certs' / 'ca.crt'}" in stderr
    assert (tmp_path / "certs" / "tls.key").stat().st_mode & 0o777 == 0o600
    second_ca, _ = start_once()
    assert first_ca == second_ca  # reused, not regenerated on every start
