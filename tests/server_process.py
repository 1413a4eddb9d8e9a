"""Start a real `downward-webhook serve` process for tests, over TLS, and stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from webhook.certs import make_certificates, write_certificates


def opted_in_review(uid: str) -> bytes:
    """The smallest AdmissionReview the server injects: a one-container Pod CREATE with downward.dev/inject."""
    return orjson.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "namespace": "ns",
                "object": {
                    "metadata": {"generateName": "p-", "annotations": {"downward.dev/inject": "true"}},
                    "spec": {"containers": [{"name": "app", "image": "x"}]},
                },
            },
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WebhookServer:
    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    config: Path | None = None
    extra_args: Sequence[str] = ()
    client_cert: tuple[Path, Path] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca(self) -> Path:
        return self.workdir / "tls" / "ca.crt"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        return context

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self, timeout: float = 20.0) -> WebhookServer:
        tls = self.workdir / "tls"
        if not (tls / "tls.crt").exists():
            write_certificates(make_certificates([self.host, "localhost"]), tls)
        args = [
            sys.executable, "-m", "webhook", "serve",
            "--host", self.host, "--port", str(self.port),
            "--tls-cert", str(tls / "tls.crt"), "--tls-key", str(tls / "tls.key"),
        ]  # fmt: skip
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += list(self.extra_args)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()  # never leave a server behind when start-up fails, whatever the reason
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/readyz", verify=self.tls_context(), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready in {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first JSON log line matching `predicate`; admission lines are written in batches (0.1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((entry for entry in self.log_entries() if predicate(entry)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line within {timeout} s:\n{self.logs()[-2000:]}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
