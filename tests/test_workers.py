"""`serve --workers N`: one socket, N worker processes, metrics summed across them, clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_process import WebhookServer, opted_in_review

INJECTED = ("downward_webhook_requests_total", {"path": "/mutate", "operation": "CREATE", "outcome": "injected"})
LATENCY_COUNT = ("downward_webhook_request_duration_seconds_count", {"path": "/mutate"})
EXPIRY: tuple[str, dict[str, str]] = ("downward_webhook_certificate_expiry_timestamp_seconds", {})
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def write_config(path: Path, **server: float) -> Path:
    path.write_text("server:\n" + "".join(f"  {key}: {value}\n" for key, value in server.items()), encoding="utf-8")
    return path


def metrics(server: WebhookServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(server.url + "/metrics", verify=server.tls_context(), timeout=5).text
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            samples[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return samples


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], key: tuple[str, dict[str, str]]) -> float:
    return samples.get((key[0], frozenset(key[1].items())), 0.0)


def worker_pids(server: WebhookServer) -> list[int]:
    return [int(str(e["pid"])) for e in server.log_entries() if e.get("msg") == "worker started"]


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def exists(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def metrics_dir_of(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next(e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR="))
    return Path(value.split(b"=", 1)[1].decode())


def wait_until(condition: object, timeout: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def start(tmp_path: Path, **server: float) -> WebhookServer:
    config = write_config(tmp_path / "config.yaml", **{"shutdownDelaySeconds": 0, **server})
    srv = WebhookServer(tmp_path, config=config, extra_args=["--workers", "2"]).start()
    # /readyz answered by one worker; wait for both to serve. "worker started" is logged before a worker's
    # server runs: a SIGTERM right after it could reach a worker that has no handler installed yet.
    assert wait_until(lambda: len(worker_pids(srv)) == 2 and serving(srv) == 2, 20), srv.logs()
    return srv


def serving(server: WebhookServer) -> int:
    """Workers whose server has started (uvicorn logs this once its lifespan startup is over)."""
    return sum(e.get("msg") == "Application startup complete." for e in server.log_entries())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebhookServer]:
    srv = start(tmp_path)
    yield srv
    srv.stop()


def send(server: WebhookServer, connections: int, per_connection: int, tag: str) -> list[str]:
    """`per_connection` requests on each of `connections` keep-alive connections, concurrently."""
    problems: list[str] = []

    def one_connection(number: int) -> None:
        with httpx.Client(base_url=server.url, verify=server.tls_context(), timeout=10) as client:
            for i in range(per_connection):
                uid = f"{tag}-{number}-{i}"
                try:
                    answer = client.post("/mutate", content=opted_in_review(uid))
                    body = answer.json()["response"]
                    if answer.status_code != 200 or body["uid"] != uid or body["patchType"] != "JSONPatch":
                        problems.append(f"{uid}: {answer.status_code} {body}")
                except (httpx.HTTPError, KeyError, ValueError) as error:
                    problems.append(f"{uid}: {error!r}")

    threads = [threading.Thread(target=one_connection, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return problems


def served_admissions(server: WebhookServer, count: int, timeout: float = 10.0) -> set[object]:
    """The pids that logged the `count` admissions sent so far (each worker writes its lines in batches)."""

    def admissions() -> list[dict[str, Any]]:
        return [e for e in server.log_entries() if e.get("msg") == "admission"]

    wait_until(lambda: len(admissions()) >= count, timeout)
    lines = admissions()
    assert len(lines) == count
    return {e["pid"] for e in lines}


def test_requests_are_answered_by_both_workers_and_counted_once_each(server: WebhookServer) -> None:
    pids = set(worker_pids(server))
    assert len(pids) == 2
    assert server.process is not None
    assert pids == set(children(server.process.pid)) & pids  # the workers are the serve process's children

    assert send(server, connections=8, per_connection=25, tag="a") == []
    sent = 200
    served_by = served_admissions(server, sent)
    # Which worker accepts a connection is the kernel's choice: open more connections until both have served.
    rounds = 0
    while served_by != pids and rounds < 20:
        assert send(server, connections=4, per_connection=1, tag=f"b{rounds}") == []
        sent, rounds = sent + 4, rounds + 1
        served_by = served_admissions(server, sent)
    assert served_by == pids, "both workers answered admission requests"

    # Whichever worker answers /metrics, the counts are the sum over both.
    for _ in range(4):
        samples = metrics(server)
        assert sample(samples, INJECTED) == sent
        assert sample(samples, LATENCY_COUNT) == sent
        assert sample(samples, ("downward_webhook_injections_total", {"kind": "env"})) == sent
        assert sample(samples, EXPIRY) > time.time()  # one value (the earliest of the live workers), no pid label
        assert not any(name == EXPIRY[0] and labels for name, labels in samples)


def test_a_killed_worker_is_replaced_and_its_counts_are_kept(server: WebhookServer) -> None:
    assert send(server, connections=4, per_connection=10, tag="before") == []
    victim = worker_pids(server)[0]
    time.sleep(1.0)  # replacements are no sooner than 1 s after a worker's start
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(worker_pids(server)) == 3, 20), server.logs()
    assert "worker exited unexpectedly" in server.logs()
    assert not exists(victim)
    assert send(server, connections=4, per_connection=10, tag="after") == []
    samples = metrics(server)
    assert sample(samples, INJECTED) == 80  # the dead worker's requests still count
    assert sample(samples, EXPIRY) > time.time()
    assert server.alive()


def test_sigterm_to_the_parent_drains_every_worker_and_leaves_no_process(tmp_path: Path) -> None:
    server = start(tmp_path, shutdownDelaySeconds=1.5)
    try:
        assert server.process is not None
        parent = server.process.pid
        spawned = children(parent)  # the workers, and multiprocessing's resource tracker
        assert set(worker_pids(server)) <= set(spawned)
        metrics_dir = metrics_dir_of(worker_pids(server)[0])
        assert metrics_dir.is_dir()

        os.kill(parent, signal.SIGTERM)  # the parent alone, as the kubelet does to PID 1
        time.sleep(0.3)
        context = server.tls_context()
        # Every worker fails readiness and still serves during the delay (new connections: both get some).
        for _ in range(6):
            with httpx.Client(base_url=server.url, verify=context, timeout=5) as fresh:
                assert fresh.get("/readyz").status_code == 503
                assert fresh.post("/mutate", content=opted_in_review("late")).status_code == 200

        assert server.process.wait(timeout=30) == 0
        assert wait_until(lambda: not any(exists(pid) for pid in spawned), 10), "no orphan process"
        assert not metrics_dir.exists()
        logs = server.logs()
        assert logs.count("shutdown requested: readiness failing, still serving") == 2
        assert "all workers stopped" in logs
        assert "worker exited unexpectedly" not in logs
    finally:
        server.stop()


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        assert server.process is not None
        spawned = children(server.process.pid)
        metrics_dir = metrics_dir_of(worker_pids(server)[0])
        server.process.kill()  # SIGKILL: no chance to forward anything
        server.process.wait(timeout=10)
        assert wait_until(lambda: not any(exists(pid) for pid in spawned), 10), "no orphan process"
    finally:
        server.stop()
    # Nobody was left to remove the metrics directory: a fresh one is made on every start.
    for path in metrics_dir.glob("*"):
        path.unlink()
    metrics_dir.rmdir()


def test_a_bad_certificate_fails_once_in_the_parent(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_text("not a certificate", encoding="utf-8")
    server = WebhookServer(tmp_path, extra_args=["--workers", "2", "--tls-cert", str(tmp_path / "bad.crt")])
    with pytest.raises(RuntimeError, match="exited with 2"):
        server.start()
    assert "cannot load the TLS certificate/key" in server.logs()
    assert "starting workers" not in server.logs()


def test_workers_must_be_a_positive_number(tmp_path: Path) -> None:
    server = WebhookServer(tmp_path, extra_args=["--workers", "0"])
    with pytest.raises(RuntimeError, match="exited with 2"):
        server.start()
    assert "not a positive integer" in server.logs()
