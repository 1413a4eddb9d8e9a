"""A thin admin client for the test apiserver that keeps what the tests look at: status, body, Warning headers."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.cluster import ControlPlane

# RFC 7234 warn-code 299, agent "-", quoted text: how the apiserver sends admission warnings.
_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    warnings: tuple[str, ...]

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


class Kube:
    def __init__(self, control_plane: ControlPlane) -> None:
        context = ssl.create_default_context(cafile=str(control_plane.ca_cert_path))
        context.load_cert_chain(str(control_plane.admin_cert_path), str(control_plane.admin_key_path))
        self._client = httpx.Client(base_url=control_plane.server_url, verify=context, timeout=30, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, params: Mapping[str, str] | None = None
    ) -> Answer:
        response = self._client.request(
            method,
            path,
            content=None if body is None else json.dumps(body).encode(),
            params=params,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        warnings = tuple(
            match.group(1).replace('\\"', '"').replace("\\\\", "\\")
            for header in response.headers.get_list("warning")
            for match in _WARNING.finditer(header)
        )
        try:
            decoded = response.json()
        except ValueError:
            decoded = response.text
        return Answer(response.status_code, decoded, warnings)

    def create(self, path: str, body: Mapping[str, Any], *, dry_run: bool = False) -> Answer:
        return self.call("POST", path, body, {"dryRun": "All"} if dry_run else None)

    def must(self, answer: Answer, status: int = 201) -> Any:
        assert answer.status == status, f"expected {status}, got {answer.status}: {answer.body}"
        return answer.body

    def get(self, path: str) -> Any:
        return self.must(self.call("GET", path), 200)


def write_kubeconfig(
    path: Path, control_plane: ControlPlane, user: Mapping[str, str], namespace: str = "default"
) -> Path:
    """A kubeconfig for the test apiserver with one user (a token, or embedded client certificate data)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": control_plane.server_url,
                    "certificate-authority-data": control_plane.ca_bundle_b64,
                },
            }
        ],
        "users": [{"name": "u", "user": dict(user)}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": namespace}}],
        "current-context": "c",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    path.chmod(0o600)
    return path


def service_account_kubeconfig(
    kube: Kube, control_plane: ControlPlane, namespace: str, path: Path, account: str = "default"
) -> str:
    """A kubeconfig holding a token of the ServiceAccount, as its pod would have; returns the token."""
    token = kube.must(
        kube.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
        )
    )["status"]["token"]
    write_kubeconfig(path, control_plane, {"token": token}, namespace)
    return str(token)


def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
    what: str = "",
    done: Callable[[Any], bool] = bool,
    retry_on: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll until `done(check())` (by default: a truthy value), an exception of `retry_on` counting as not yet;
    fail with `what` and the last value or exception otherwise. The one wait of the e2e suite (pods.py's
    node-side `eventually` is this, waiting for something other than None)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if done(last):
                return last
        except retry_on as exc:  # e.g. exec before the container runs
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check}: last {last!r}")
        time.sleep(interval)
