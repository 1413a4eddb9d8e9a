"""Processes for the benchmarks: the real `downward-webhook serve`, the floor, and wrk, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhook.certs import make_certificates, write_certificates

HOST = "127.0.0.1"  # the only address any benchmark sends traffic to
LUA = Path(__file__).with_name("wrk_post.lua")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk (Debian/Ubuntu)")
    return found


def taskset(cpus: str | None) -> list[str]:
    """Pin to `cpus` when given and taskset exists (it does on Debian: util-linux)."""
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def write_tls(directory: Path) -> tuple[Path, Path, Path]:
    if not (directory / "tls.crt").exists():
        write_certificates(make_certificates([HOST, "localhost"]), directory)
    return directory / "tls.crt", directory / "tls.key", directory / "ca.crt"


def process_tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def rss_kib(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, StopIteration, ValueError):
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            total += int(next(line for line in status if line.startswith("VmRSS:")).split()[1])
    return total


@dataclass
class Server:
    """A server process on HOST:port over TLS; `kind` is "webhook" or "floor"."""

    kind: str
    workdir: Path
    cpus: str | None = None  # taskset list, e.g. "0"
    log_level: str = "info"
    patch: str = "none"  # the floor's --patch
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}/mutate"

    def start(self) -> Server:
        cert, key, _ = write_tls(self.workdir / "tls")
        if self.kind == "webhook":
            config = self.workdir / "webhook.yaml"
            config.write_text("server:\n  shutdownDelaySeconds: 0\n", encoding="utf-8")
            args = [sys.executable, "-m", "webhook", "serve", "--host", HOST, "--port", str(self.port),
                    "--tls-cert", str(cert), "--tls-key", str(key), "--config", str(config),
                    "--log-level", self.log_level]  # fmt: skip
        else:
            args = [sys.executable, "-m", "bench.floor", "--host", HOST, "--port", str(self.port),
                    "--cert", str(cert), "--key", str(key),
                    "--patch", self.patch]  # fmt: skip
        log = (self.workdir / f"{self.kind}-{self.port}.log").open("ab")
        self.process = subprocess.Popen([*taskset(self.cpus), *args], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}; see {log.name}")
            try:
                if self.post(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":'
                             b'{"uid":"up","kind":{"group":"","version":"v1","kind":"Namespace"},'
                             b'"operation":"CREATE"}}')[0] == 200:  # fmt: skip
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.kind} did not answer in 30 s; see {log.name}")
            time.sleep(0.1)
        time.sleep(0.5)
        self.pids = process_tree(self.process.pid)
        return self

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        context = ssl.create_default_context(cafile=str(self.workdir / "tls" / "ca.crt"))
        connection = http.client.HTTPSConnection(HOST, self.port, context=context, timeout=10)
        try:
            connection.request("POST", "/mutate", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids)

    def rss_kib(self) -> int:
        return rss_kib(self.pids)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def run_wrk(
    url: str,
    bodies: Sequence[Path],
    *,
    seconds: float,
    connections: int = 16,
    cpus: str | None = None,
    delay_ms: float | None = None,
) -> dict[str, Any]:
    """One bounded wrk run (1 thread); the summary of its done() hook, plus the CPU time wrk used."""
    env = dict(os.environ)
    if delay_ms is not None:
        env["WRK_DELAY_MS"] = str(delay_ms)
    if len(bodies) > 1:
        env["WRK_ROTATE"] = "1"
    args = [*taskset(cpus), ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(LUA), url, "--", *map(str, bodies)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                                "timeouts"))  # fmt: skip
    result["wrk_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result
