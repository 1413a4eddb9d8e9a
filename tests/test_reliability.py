"""Operational failure modes, each against a real serve process: rotation, shutdown, slow clients, mTLS."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_process import WebhookServer, opted_in_review
from webhook.certs import make_certificates, write_certificates
from webhook.serving.tls import not_after

REVIEW = opted_in_review("r-1")


def secret_mount(root: Path, generation: int, *, hosts: list[str] | None = None) -> Path:
    """Lay out a pair the way the kubelet mounts a Secret: files behind an atomically swapped ..data link."""
    certs = make_certificates(hosts or ["127.0.0.1", "localhost"])
    target = root / f"..gen_{generation}"
    write_certificates(certs, target)
    link = root / "..data"
    tmp = root / "..data_tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.name)
    tmp.replace(link)  # rename(2) over the old link: atomic
    for name in ("tls.crt", "tls.key", "ca.crt"):
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
    return root / "ca.crt"


def write_config(path: Path, **server: float) -> Path:
    lines = ["server:"] + [f"  {key}: {value}" for key, value in server.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def trust(*cas: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata="".join(ca.decode() for ca in cas))


def peer_certificate(server: WebhookServer) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((server.host, server.port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ssl.DER_cert_to_PEM_cert(der).encode()


def metric(server: WebhookServer, context: ssl.SSLContext, name: str) -> float:
    text = httpx.get(server.url + "/metrics", verify=context, timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[tuple[WebhookServer, Path]]:
    mount = tmp_path / "secret"
    mount.mkdir()
    secret_mount(mount, 0)
    config = write_config(tmp_path / "config.yaml", certReloadSeconds=0.1, shutdownDelaySeconds=0)
    server = WebhookServer(tmp_path, config=config)
    tls = tmp_path / "tls"
    tls.mkdir()
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tls / name).symlink_to(mount / name)
    server.start()
    yield server, mount
    server.stop()


def test_rotation_under_load_fails_no_request(rotating: tuple[WebhookServer, Path]) -> None:
    server, mount = rotating
    generations = list(range(1, 11))
    cas = [(mount / "ca.crt").read_bytes()]
    for generation in generations:  # ten new pairs, each with its own CA, staged but not yet live
        certs = make_certificates(["127.0.0.1", "localhost"])
        write_certificates(certs, mount / f"..gen_{generation}")
        cas.append(certs.ca_pem)
    context = trust(*cas)
    failures: list[str] = []
    counts = {"ok": 0}
    done = threading.Event()

    def load() -> None:
        # New connections each time, so every request does a handshake with whatever pair is live.
        while not done.is_set():
            try:
                answer = httpx.post(server.url + "/mutate", content=REVIEW, verify=context, timeout=5)
                if answer.status_code != 200 or answer.json()["response"]["uid"] != "r-1":
                    failures.append(f"status {answer.status_code}")
                else:
                    counts["ok"] += 1
            except httpx.HTTPError as error:
                failures.append(repr(error))

    workers = [threading.Thread(target=load) for _ in range(2)]
    for worker in workers:
        worker.start()
    served = []
    for generation in generations:
        link = mount / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(f"..gen_{generation}")
        link.replace(mount / "..data")
        expected = (mount / f"..gen_{generation}" / "tls.crt").read_bytes()
        deadline = time.monotonic() + 5
        while peer_certificate(server) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        served.append(peer_certificate(server) == expected)
        time.sleep(0.2)
    done.set()
    for worker in workers:
        worker.join()
    assert all(served), "every rotation went live without a restart"
    assert failures == []
    assert counts["ok"] > 20
    assert server.alive()
    assert server.logs().count("TLS certificate reloaded") == 10
    expiry = not_after((mount / "tls.crt").read_bytes())
    assert metric(server, context, "downward_webhook_certificate_expiry_timestamp_seconds") == pytest.approx(expiry)


@pytest.mark.parametrize("broken", ["mismatched key", "garbage"])
def test_a_broken_pair_is_rejected_and_the_old_one_keeps_serving(
    rotating: tuple[WebhookServer, Path], broken: str
) -> None:
    server, mount = rotating
    before = peer_certificate(server)
    context = trust((mount / "ca.crt").read_bytes())
    target = mount / "..gen_bad"
    if broken == "mismatched key":
        write_certificates(make_certificates(["127.0.0.1"]), target)
        (target / "tls.key").write_bytes(make_certificates(["127.0.0.1"]).key_pem)
    else:
        target.mkdir()
        (target / "tls.crt").write_text("garbage", encoding="utf-8")
        (target / "tls.key").write_text("garbage", encoding="utf-8")
        (target / "ca.crt").write_text("garbage", encoding="utf-8")
    link = mount / "..data_tmp"
    link.symlink_to(target.name)
    link.replace(mount / "..data")
    deadline = time.monotonic() + 5
    while "new TLS certificate rejected" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "new TLS certificate rejected; still serving the previous one" in server.logs()
    assert peer_certificate(server) == before
    assert httpx.post(server.url + "/mutate", content=REVIEW, verify=context, timeout=5).status_code == 200
    assert server.alive()


def test_sigterm_fails_readiness_first_then_drains(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", shutdownDelaySeconds=1.5, requestTimeoutSeconds=10)
    server = WebhookServer(tmp_path, config=config).start()
    context = server.tls_context()
    assert server.process is not None
    with httpx.Client(base_url=server.url, verify=context, timeout=10) as client:
        # An in-flight request whose body is still arriving when SIGTERM lands.
        def slow_body() -> Iterator[bytes]:
            yield REVIEW[:100]
            time.sleep(4.0)  # still arriving after the listener has closed
            yield REVIEW[100:]

        result: dict[str, int] = {}
        inflight = threading.Thread(
            target=lambda: result.setdefault("status", client.post("/mutate", content=slow_body()).status_code)
        )
        inflight.start()
        time.sleep(0.3)
        os.killpg(server.process.pid, signal.SIGTERM)
        time.sleep(0.2)
        with httpx.Client(base_url=server.url, verify=context, timeout=5) as fresh:
            assert fresh.get("/readyz").status_code == 503  # readiness fails first...
            assert fresh.post("/mutate", content=REVIEW).status_code == 200  # ...while requests are still served
        time.sleep(2.6)  # well past the 1.5 s delay: the listener is closed
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/healthz", verify=context, timeout=2)
        inflight.join(timeout=15)
        assert result.get("status") == 200  # the in-flight request finished
    server.process.wait(timeout=30)
    assert "shutdown requested: readiness failing, still serving" in server.logs()
    # Both admissions are logged, the in-flight one too: the last batch of lines is written at shutdown.
    assert server.logs().count('"msg":"admission"') == 2, server.logs()


def test_while_draining_each_answer_closes_its_kept_alive_connection(tmp_path: Path) -> None:
    """Connections do not follow endpoint removal: the apiserver keeps using one to a terminating pod. While
    draining, every answer says `Connection: close` and the server closes that connection after it, so the
    client never sends on a connection the server is closing (a lost POST is a failed pod creation)."""
    config = write_config(tmp_path / "config.yaml", shutdownDelaySeconds=3)
    server = WebhookServer(tmp_path, config=config).start()
    assert server.process is not None
    context = server.tls_context()
    with context.wrap_socket(socket.create_connection((server.host, server.port)), server_hostname="localhost") as s:
        s.settimeout(5)
        reader = s.makefile("rb")

        def answer() -> tuple[int, dict[str, str]]:
            request = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            s.sendall(request + b"Content-Length: %d\r\n\r\n" % len(REVIEW) + REVIEW)
            status = int(reader.readline().split()[1])
            headers: dict[str, str] = {}
            while (line := reader.readline().strip()) != b"":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            reader.read(int(headers["content-length"]))
            return status, headers

        status, headers = answer()
        assert (status, headers.get("connection")) == (200, None)  # kept alive before the signal
        os.killpg(server.process.pid, signal.SIGTERM)
        time.sleep(0.3)
        status, headers = answer()  # the same connection, during the drain
        assert (status, headers.get("connection")) == (200, "close")
        assert reader.read(1) == b""  # and the server closed it right after the answer, long before the delay ends
    with httpx.Client(base_url=server.url, verify=context, timeout=5) as fresh:
        response = fresh.get("/readyz")
        assert (response.status_code, response.headers.get("connection")) == (503, "close")
    server.process.wait(timeout=30)


def test_slow_headers_are_cut_off(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", headerTimeoutSeconds=0.5, shutdownDelaySeconds=0)
    server = WebhookServer(tmp_path, config=config).start()
    try:
        context = server.tls_context()
        slow = [
            context.wrap_socket(socket.create_connection((server.host, server.port)), server_hostname="localhost")
            for _ in range(20)
        ]
        for sock in slow:
            sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\n")  # ...and never the rest
        time.sleep(1.0)
        for sock in slow:
            sock.settimeout(2)
            assert sock.recv(1) == b""  # closed by the server
            sock.close()
        assert httpx.post(server.url + "/mutate", content=REVIEW, verify=context, timeout=5).status_code == 200
    finally:
        server.stop()


def test_slow_body_gets_408(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", requestTimeoutSeconds=0.5, shutdownDelaySeconds=0)
    server = WebhookServer(tmp_path, config=config).start()
    try:

        def dribble() -> Iterator[bytes]:
            yield REVIEW[:10]
            time.sleep(1.5)
            yield REVIEW[10:]

        with httpx.Client(base_url=server.url, verify=server.tls_context(), timeout=10) as client:
            answer = client.post("/mutate", content=dribble())
            assert answer.status_code == 408
            assert "not received within 0.5s" in answer.json()["reason"]
            # The apiserver's own ?timeout= shortens the deadline further.
            assert client.post("/mutate?timeout=10s", content=REVIEW).status_code == 200
    finally:
        server.stop()


def test_client_certificates_can_be_required(tmp_path: Path) -> None:
    clients = make_certificates(["apiserver-client"], client_auth=True)
    client_dir = tmp_path / "clients"
    write_certificates(clients, client_dir)
    config = write_config(tmp_path / "config.yaml", shutdownDelaySeconds=0)
    server = WebhookServer(
        tmp_path,
        config=config,
        extra_args=["--client-ca", str(client_dir / "ca.crt")],
        client_cert=(client_dir / "tls.crt", client_dir / "tls.key"),
    ).start()
    try:
        anonymous = ssl.create_default_context(cafile=str(server.ca))
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):
            httpx.get(server.url + "/healthz", verify=anonymous, timeout=5)
        authenticated = server.tls_context()
        assert httpx.get(server.url + "/healthz", verify=authenticated, timeout=5).status_code == 200
    finally:
        server.stop()


def test_connection_cap_answers_503_beyond_the_limit(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", maxConnections=3, shutdownDelaySeconds=0)
    server = WebhookServer(tmp_path, config=config).start()
    try:
        context = server.tls_context()
        held = [
            httpx.Client(
                base_url=server.url, verify=context, timeout=5, limits=httpx.Limits(max_keepalive_connections=1)
            )
            for _ in range(2)
        ]
        for client in held:
            assert client.get("/healthz").status_code == 200  # two kept-alive connections: with the next, 3 = the cap
        extra = httpx.post(server.url + "/mutate", content=REVIEW, verify=context, timeout=5)
        assert extra.status_code == 503
        for client in held:
            client.close()
        time.sleep(0.2)
        assert httpx.post(server.url + "/mutate", content=REVIEW, verify=context, timeout=5).status_code == 200
    finally:
        server.stop()


def test_rolling_restart_of_two_replicas_fails_no_request(tmp_path: Path) -> None:
    """Two replicas behind a stand-in for Service endpoints: only replicas whose /readyz answers 200 get
    new requests (the endpoints controller's view, refreshed every 100 ms). Each replica in turn gets
    SIGTERM and is replaced while load runs; not one request may fail."""
    (tmp_path / "tls").mkdir()
    write_certificates(make_certificates(["127.0.0.1", "localhost"]), tmp_path / "tls")
    config = write_config(tmp_path / "config.yaml", shutdownDelaySeconds=1.0)

    def replica(name: str) -> WebhookServer:
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        (workdir / "tls").mkdir(exist_ok=True)
        for file in ("tls.crt", "tls.key", "ca.crt"):
            (workdir / "tls" / file).write_bytes((tmp_path / "tls" / file).read_bytes())
        return WebhookServer(workdir, config=config).start()

    replicas = {"a": replica("a"), "b": replica("b")}
    context = replicas["a"].tls_context()
    endpoints: list[str] = [r.url for r in replicas.values()]
    lock = threading.Lock()
    done = threading.Event()
    failures: list[str] = []
    served = {"count": 0}

    def endpoints_controller() -> None:
        while not done.is_set():
            ready = []
            for r in list(replicas.values()):
                try:
                    if httpx.get(r.url + "/readyz", verify=context, timeout=0.5).status_code == 200:
                        ready.append(r.url)
                except httpx.HTTPError:
                    pass
            with lock:
                endpoints[:] = ready
            time.sleep(0.1)

    def load(seed: int) -> None:
        clients: dict[str, httpx.Client] = {}
        turn = seed
        while not done.is_set():
            with lock:
                choices = list(endpoints)
            if not choices:
                failures.append("no ready endpoint")
                time.sleep(0.05)
                continue
            url = choices[turn % len(choices)]
            turn += 1
            client = clients.setdefault(url, httpx.Client(base_url=url, verify=context, timeout=5))
            try:
                answer = client.post("/mutate", content=REVIEW)
                if answer.status_code != 200:
                    failures.append(f"{url}: {answer.status_code}")
                else:
                    served["count"] += 1
            except httpx.HTTPError as error:
                failures.append(f"{url}: {error!r}")
        for client in clients.values():
            client.close()

    threads = [threading.Thread(target=endpoints_controller)] + [
        threading.Thread(target=load, args=(i,)) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        for name in ("a", "b"):  # like a Deployment rollout with maxUnavailable 0: surge first, then retire
            old = replicas[name]
            replicas[name + "-new"] = replica(name + "-new")
            time.sleep(0.3)
            assert old.process is not None
            os.killpg(old.process.pid, signal.SIGTERM)
            old.process.wait(timeout=30)
            del replicas[name]
        time.sleep(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
        for r in replicas.values():
            r.stop()
    assert failures == []
    assert served["count"] > 50
