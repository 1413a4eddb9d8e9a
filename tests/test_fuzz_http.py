"""Fuzzing the live server: generated and mutated AdmissionReviews, random bytes, wrong types.

Every answer must be a valid AdmissionReview (with the uid echoed) or a 4xx with a reason; never a 5xx,
never a dead server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server_process import WebhookServer

P = "downward.dev/"
FUZZ = settings(
    max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    config = workdir / "config.yaml"
    config.write_text("server:\n  shutdownDelaySeconds: 0\n", encoding="utf-8")
    srv = WebhookServer(workdir, config=config).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: WebhookServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, verify=server.tls_context(), timeout=30) as c:
        yield c


def check_answer(answer: httpx.Response, uid: Any = None) -> None:
    assert answer.status_code < 500, answer.text
    body = answer.json()
    if answer.status_code == 200:
        assert body["apiVersion"] == "admission.k8s.io/v1"
        assert body["kind"] == "AdmissionReview"
        response = body["response"]
        assert isinstance(response["allowed"], bool)
        if uid is not None:
            assert response["uid"] == uid
        if not response["allowed"]:
            assert response["status"]["message"]
        for warning in response.get("warnings", []):
            assert len(warning) < 120
            assert warning.isprintable()
    else:
        assert 400 <= answer.status_code < 500
        assert body["reason"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)

annotation_values = st.one_of(
    st.sampled_from(["true", "false", "TRUE", "maybe", "", "all", "none", "POD_NAME", "/etc/x", "rel", "a,b", "/"]),
    st.text(max_size=40),
)
annotation_keys = st.one_of(
    st.sampled_from(
        [P + k for k in ("inject", "env", "volume", "mount-path", "containers", "ambassador", "status", "injct")]
    ),
    st.text(max_size=20).map(lambda s: P + s),
    st.text(max_size=20),
)
containers = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["app", "side", "x" * 63, "App", ""]) | st.text(max_size=8)},
        optional={
            "env": st.lists(
                st.fixed_dictionaries({"name": st.text(max_size=10)}, optional={"value": st.text(max_size=5)})
                | json_values,
                max_size=4,
            )
            | json_values,
            "volumeMounts": st.lists(
                st.fixed_dictionaries(
                    {"name": st.text(max_size=5), "mountPath": st.sampled_from(["/etc/downward", "/x"]) | json_values}
                ),
                max_size=2,
            ),
            "ports": st.lists(
                st.fixed_dictionaries({"containerPort": st.integers(0, 70000) | json_values}), max_size=2
            ),
        },
    ),
    max_size=3,
)
pods = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "annotations": st.dictionaries(annotation_keys, annotation_values, max_size=5) | json_values,
                "name": st.text(max_size=10) | json_values,
            },
        )
        | json_values,
        "spec": st.fixed_dictionaries(
            {"containers": containers | json_values},
            optional={
                "initContainers": containers,
                "volumes": json_values,
                "hostNetwork": st.booleans(),
                "automountServiceAccountToken": json_values,
            },
        )
        | json_values,
    }
)
reviews = st.fixed_dictionaries(
    {
        "apiVersion": st.just("admission.k8s.io/v1") | json_values,
        "kind": st.just("AdmissionReview") | json_values,
        "request": st.fixed_dictionaries(
            {
                "uid": st.text(min_size=1, max_size=40) | json_values,
                "kind": st.sampled_from(
                    [
                        {"group": "", "version": "v1", "kind": "Pod"},
                        {"group": "apps", "version": "v1", "kind": "Deployment"},
                        {"group": "batch", "version": "v1", "kind": "CronJob"},
                    ]
                )
                | json_values,
                "operation": st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]) | json_values,
                "object": pods | json_values,
            },
            optional={
                "namespace": st.text(max_size=10) | json_values,
                "dryRun": json_values,
                "subResource": st.sampled_from(["", "status"]) | json_values,
            },
        )
        | json_values,
    }
)


@FUZZ
@given(review=reviews, path=st.sampled_from(["/mutate", "/mutate-namespace"]))
def test_generated_reviews(client: httpx.Client, review: dict[str, Any], path: str) -> None:
    answer = client.post(path, content=json.dumps(review).encode())  # json: big ints too
    request = review.get("request")
    uid = request.get("uid") if isinstance(request, dict) else None
    check_answer(answer, uid if answer.status_code == 200 else None)


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes(client: httpx.Client, body: bytes) -> None:
    check_answer(client.post("/mutate", content=body))


@FUZZ
@given(cut=st.integers(0, 400), junk=st.binary(max_size=8))
def test_truncated_and_spliced_reviews(client: httpx.Client, cut: int, junk: bytes) -> None:
    valid = orjson.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "object": {
                    "metadata": {"annotations": {P + "inject": "true"}},
                    "spec": {"containers": [{"name": "a"}]},
                },
            },
        }
    )
    check_answer(client.post("/mutate", content=valid[:cut] + junk + valid[cut:]))


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        orjson.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x" * 500_000}}
        ),
        orjson.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "u",
                    "kind": {"kind": "Pod"},
                    "operation": "CREATE",
                    "object": {
                        "metadata": {"annotations": {P + "inject": "true", P + "env": "A," * 200_000}},
                        "spec": {"containers": [{"name": "a"}]},
                    },
                },
            }
        ),
    ],
    ids=["deep arrays", "deep objects", "huge uid", "huge annotation"],
)
def test_pathological_bodies(client: httpx.Client, server: WebhookServer, body: bytes) -> None:
    check_answer(client.post("/mutate", content=body))
    assert server.alive()


def test_still_healthy_after_fuzzing(client: httpx.Client, server: WebhookServer) -> None:
    assert client.get("/readyz").status_code == 200
    assert server.alive()
    assert '"level":"error"' not in server.logs(), "an internal error was logged while fuzzing"
