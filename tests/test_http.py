"""The webhook as it runs: a real `serve` process over TLS, spoken to by httpx."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from tests.server_process import WebhookServer

P = "downward.dev/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    workdir = tmp_path_factory.mktemp("http")
    config = workdir / "config.yaml"
    config.write_text("server:\n  maxBodyBytes: 1048576\n  shutdownDelaySeconds: 0\n", encoding="utf-8")
    srv = WebhookServer(workdir, config=config).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: WebhookServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, verify=server.tls_context(), timeout=10) as c:
        yield c


def review(
    obj: Any, *, uid: str = "u-1", operation: str = "CREATE", kind: str = "Pod", group: str = ""
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": kind.lower() + "s"},
            "operation": operation,
            "namespace": "team-a",
            "object": obj,
            "dryRun": False,
        },
    }


def pod(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as the apiserver sends it to webhooks: ServiceAccount admission has added the token volume."""
    metadata: dict[str, Any] = {"generateName": "web-", "namespace": "team-a"}
    if annotations is not None:
        metadata["annotations"] = annotations
    token_mount = {
        "name": "kube-api-access-x1y2z",
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "readOnly": True,
    }
    token_volume = {
        "name": "kube-api-access-x1y2z",
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [{"name": "app", "image": "x", "volumeMounts": [token_mount]}],
            "volumes": [token_volume],
            "serviceAccountName": "default",
        },
    }


def test_injects_and_answers_a_complete_review(client: httpx.Client) -> None:
    answer = client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "true"}), uid="abc-123")))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    # Sized, not chunked: one write, and the apiserver reads no chunk framing.
    assert "transfer-encoding" not in answer.headers
    assert answer.headers["content-length"] == str(len(answer.content))
    body = answer.json()
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    response = body["response"]
    assert response["uid"] == "abc-123"
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    assert isinstance(ops, list)
    assert ops
    assert {op["path"] for op in ops} == {
        "/spec/containers/0/env",
        "/spec/containers/0/volumeMounts/-",
        "/spec/volumes/-",
        "/metadata/annotations/downward.dev~1status",
    }
    assert response["auditAnnotations"] == {"injected": "env,volume", "containers": "app"}


def test_not_opted_in_gets_no_patch(client: httpx.Client) -> None:
    response = client.post("/mutate", content=orjson.dumps(review(pod()))).json()["response"]
    assert response == {"uid": "u-1", "allowed": True}


def test_namespace_path_injects_without_annotation(client: httpx.Client) -> None:
    response = client.post("/mutate-namespace", content=orjson.dumps(review(pod()))).json()["response"]
    assert response["allowed"] is True
    ops = json.loads(base64.b64decode(response["patch"]))
    # No annotations map on the pod: the whole map is added, never a key under a missing parent.
    assert {"op": "add", "path": "/metadata/annotations", "value": ops[-1]["value"]} in ops
    opted_out = client.post("/mutate-namespace", content=orjson.dumps(review(pod({P + "inject": "false"}))))
    assert opted_out.json()["response"] == {"uid": "u-1", "allowed": True}


def test_denial_is_a_400_review_with_the_message(client: httpx.Client) -> None:
    answer = client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "maybe"}))))
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert (
        response["status"]["message"]
        == 'annotation downward.dev/inject: "maybe" is not accepted; use "true" or "false"'
    )
    assert "patch" not in response


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "CONNECT"])
def test_only_create_is_mutated(client: httpx.Client, operation: str) -> None:
    response = client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "true"}), operation=operation)))
    assert response.json()["response"] == {"uid": "u-1", "allowed": True}


def test_workload_with_misplaced_annotation_warns(client: httpx.Client) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {P + "inject": "true"}},
        "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "app", "image": "x"}]}}},
    }
    response = client.post("/mutate", content=orjson.dumps(review(deployment, kind="Deployment", group="apps")))
    body = response.json()["response"]
    assert body["allowed"] is True
    assert "patch" not in body
    assert body["warnings"] == [
        "downward.dev/inject on the Deployment is ignored: move it to spec.template.metadata.annotations"
    ]
    assert all(len(w) < 120 and w.isprintable() for w in body["warnings"])


MALFORMED = [
    ("empty body", b"", 400, "empty body"),
    ("not json", b"{", 400, "not valid JSON"),
    ("invalid utf-8", b'{"a": "\xff"}', 400, "not valid JSON"),
    ("json array", b"[]", 400, "not a JSON object"),
    ("json string", b'"AdmissionReview"', 400, "not a JSON object"),
    ("wrong kind", b'{"apiVersion":"v1","kind":"Pod"}', 400, "not an AdmissionReview"),
    (
        "v1beta1",
        b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}',
        400,
        "admission.k8s.io/v1",
    ),
    ("no request", b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', 400, "no request"),
    (
        "request null",
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}',
        400,
        "no request",
    ),
    (
        "no uid",
        orjson.dumps({**review(pod()), "request": {"kind": {"kind": "Pod"}, "operation": "CREATE"}}),
        400,
        "request.uid",
    ),
    ("empty uid", orjson.dumps(review(pod(), uid="")), 400, "request.uid"),
    (
        "uid number",
        orjson.dumps({**review(pod()), "request": {**review(pod())["request"], "uid": 7}}),
        400,
        "request.uid",
    ),
    (
        "kind string",
        orjson.dumps({**review(pod()), "request": {**review(pod())["request"], "kind": "Pod"}}),
        400,
        "request.kind",
    ),
    ("bad operation", orjson.dumps(review(pod(), operation="PATCH")), 400, "request.operation"),
    (
        "object missing",
        orjson.dumps({**review(pod()), "request": {**review(pod())["request"], "object": None}}),
        400,
        "object is missing",
    ),
    (
        "containers string",
        orjson.dumps(review({"metadata": {"annotations": {P + "inject": "true"}}, "spec": {"containers": "app"}})),
        400,
        "spec.containers must be a list",
    ),
    (
        "no containers",
        orjson.dumps(review({"metadata": {}, "spec": {"containers": []}})),
        400,
        "spec.containers is empty",
    ),
    (
        "annotation not string",
        orjson.dumps(review({"metadata": {"annotations": {"a": 1}}, "spec": {"containers": [{"name": "a"}]}})),
        400,
        "must be a string",
    ),
    (
        "env entry not object",
        orjson.dumps(review({"metadata": {}, "spec": {"containers": [{"name": "a", "env": [1]}]}})),
        400,
        "env[0] must be an object",
    ),
    ("deep nesting", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "not valid JSON"),
]


@pytest.mark.parametrize(("body", "status", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_input_gets_a_4xx_with_a_reason(
    client: httpx.Client, server: WebhookServer, body: bytes, status: int, reason: str
) -> None:
    answer = client.post("/mutate", content=body)
    assert answer.status_code == status
    assert answer.headers["content-length"] == str(len(answer.content))
    assert reason in answer.json()["reason"]
    assert server.alive()


def test_body_over_the_limit_is_413(client: httpx.Client, server: WebhookServer) -> None:
    big = orjson.dumps(review(pod({P + "inject": "true", "filler": "x" * 2_000_000})))
    answer = client.post("/mutate", content=big)
    assert answer.status_code == 413
    assert "1048576" in answer.json()["reason"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(40):
            yield b" " * 65536

    streamed = client.post("/mutate", content=chunks())
    assert streamed.status_code == 413
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/mutate", 405), ("PUT", "/mutate-namespace", 405), ("POST", "/healthz", 405), ("POST", "/nope", 404)],
)
def test_wrong_method_or_path(client: httpx.Client, method: str, path: str, status: int) -> None:
    assert client.request(method, path).status_code == status


def test_health_endpoints(client: httpx.Client) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        answer = client.get(path)
        assert (answer.status_code, answer.text) == (200, "ok")


def test_metrics_count_requests_and_injections(client: httpx.Client) -> None:
    def sample(text: str, prefix: str) -> float:
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = client.get("/metrics").text
    client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "true", P + "ambassador": "true"}))))
    client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "nope"}))))
    after = client.get("/metrics").text
    injected = 'downward_webhook_requests_total{operation="CREATE",outcome="injected",path="/mutate"}'
    denied = 'downward_webhook_requests_total{operation="CREATE",outcome="denied",path="/mutate"}'
    assert sample(after, injected) == sample(before, injected) + 1
    assert sample(after, denied) == sample(before, denied) + 1
    for kind in ("env", "volume", "ambassador"):
        line = f'downward_webhook_injections_total{{kind="{kind}"}}'
        assert sample(after, line) == sample(before, line) + 1
    # Buckets match the apiserver's webhook latency histogram.
    assert 'downward_webhook_request_duration_seconds_bucket{le="0.005",path="/mutate"}' in after
    assert 'downward_webhook_request_duration_seconds_bucket{le="25.0",path="/mutate"}' in after


def test_metrics_tell_memoized_answers_from_fresh_ones(client: httpx.Client) -> None:
    def sample(text: str, source: str) -> float:
        prefix = f'downward_webhook_answers_total{{source="{source}"}} '
        return next((float(line.split(" ")[1]) for line in text.splitlines() if line.startswith(prefix)), 0.0)

    shaped = pod({P + "inject": "true"})
    shaped["spec"]["containers"][0]["name"] = "shape-seen-once"  # a pod of a shape no other test sends
    before = client.get("/metrics").text
    first = client.post("/mutate", content=orjson.dumps(review(shaped, uid="first")))
    second = client.post("/mutate", content=orjson.dumps(review(shaped, uid="second")))
    after = client.get("/metrics").text
    assert (sample(after, "fresh") - sample(before, "fresh"), sample(after, "memo") - sample(before, "memo")) == (1, 1)
    # The memoized answer is the fresh one, but for its uid.
    assert second.json()["response"] == {**first.json()["response"], "uid": "second"}


def test_json_logs_carry_uid_namespace_name_outcome_duration(client: httpx.Client, server: WebhookServer) -> None:
    client.post("/mutate", content=orjson.dumps(review(pod({P + "inject": "true"}), uid="log-me-42")))
    entry = server.wait_for_log(lambda e: e.get("uid") == "log-me-42")
    assert list(entry)[:4] == ["ts", "level", "logger", "msg"]  # the order of every other line
    # UTC with milliseconds, and the time of the request (within the test's run)
    stamp = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert entry["level"] == "info"
    assert entry["msg"] == "admission"
    assert entry["namespace"] == "team-a"
    assert entry["generateName"] == "web-"
    assert entry["outcome"] == "injected"
    assert isinstance(entry["durationMs"], float)


def test_plain_http_is_refused(server: WebhookServer) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{server.host}:{server.port}/healthz", timeout=5)


def _handshake(server: WebhookServer, context: ssl.SSLContext) -> str | None:
    with (
        socket.create_connection((server.host, server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version()


def test_tls_1_2_and_1_3_are_served(server: WebhookServer) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = server.tls_context()
        context.minimum_version = context.maximum_version = version
        assert _handshake(server, context) == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")


def test_tls_below_1_2_is_refused(server: WebhookServer) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(server.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        _handshake(server, context)


def test_weak_tls_1_2_ciphers_are_refused(server: WebhookServer) -> None:
    context = server.tls_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")  # CBC with SHA-1: not in our list
    with pytest.raises(ssl.SSLError):
        _handshake(server, context)


def test_server_survived_everything(client: httpx.Client, server: WebhookServer) -> None:
    assert server.alive()
    assert client.get("/readyz").status_code == 200
    assert " 500 " not in server.logs()
    assert '"level":"error"' not in server.logs()
