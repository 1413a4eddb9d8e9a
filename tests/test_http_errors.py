"""The HTTP error table of webhook/serving/app.py, row by row, in process (the ASGI app, no socket, no TLS).

tests/test_http.py speaks to a real `serve` process; here each row of the table is one case, including the
one a real server cannot be made to show on demand: a bug of ours answers "allowed, not injected" (fail open).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import orjson
import pytest

from tests.server_process import opted_in_review
from webhook.core.config import Config
from webhook.serving import memo
from webhook.serving.app import AppState, create_app
from webhook.serving.settings import ServerConfig

LIMIT = 64 * 1024  # the smallest server.maxBodyBytes the configuration accepts


def _review(**request: Any) -> bytes:
    base = {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE"}
    return orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": base | request})


async def _with_app(test: Callable[[Any], Awaitable[None]]) -> None:
    """Run `test(app)` inside the app's lifespan (its background tasks: the body-read watchdog)."""
    app = create_app(Config(), ServerConfig(max_body_bytes=LIMIT), state=AppState())
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await events.get()

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await events.put({"type": "lifespan.startup"})
    await started.wait()
    try:
        await test(app)
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan


def _post(body: bytes, *, method: str = "POST", path: str = "/mutate") -> httpx.Response:
    async def call(app: Any) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
            responses.append(await client.request(method, path, content=body))

    responses: list[httpx.Response] = []
    asyncio.run(_with_app(call))
    return responses[0]


# (row of the table, request body, method, path, expected status, a fragment of the body)
TABLE = [
    ("not JSON", b"{nope", "POST", "/mutate", 400, b"body is not valid JSON"),
    ("not an AdmissionReview v1", b'{"kind": "Pod"}', "POST", "/mutate", 400, b"not an AdmissionReview"),
    ("no request.uid", _review(uid=""), "POST", "/mutate", 400, b"request.uid is missing"),
    ("object is not a Pod's shape", _review(object={"spec": {"containers": "x"}}), "POST", "/mutate", 400,
     b"spec.containers must be a list"),
    ("body larger than server.maxBodyBytes", b"x" * (LIMIT + 1), "POST", "/mutate", 413, b"maxBodyBytes"),
    ("wrong method", b"", "GET", "/mutate", 405, b"Method Not Allowed"),
    ("unknown path", b"", "POST", "/mutate-everything", 404, b"Not Found"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "method", "path", "status", "fragment"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])  # fmt: skip
def test_each_error_row_answers_its_status(body: bytes, method: str, path: str, status: int, fragment: bytes) -> None:
    response = _post(body, method=method, path=path)
    assert response.status_code == status
    assert fragment in response.content


def test_a_body_not_received_in_time_gets_408() -> None:
    """The apiserver's ?timeout=1s leaves 0.8 s to read the body; a client that sends none is answered 408."""
    sent: list[dict[str, Any]] = []

    async def call(app: Any) -> None:
        async def never() -> dict[str, Any]:
            await asyncio.Event().wait()  # the body never comes
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {"type": "http", "method": "POST", "path": "/mutate", "query_string": b"timeout=1s", "headers": []}
        await asyncio.wait_for(app(scope, never, send), timeout=5)

    asyncio.run(_with_app(call))
    assert sent[0]["status"] == 408
    assert b"not received within 0.8s" in sent[1]["body"]


def test_a_denial_is_200_with_allowed_false_and_code_400() -> None:
    response = _post(_review(object={"metadata": {"annotations": {"downward.dev/inject": "maybe"}},
                                     "spec": {"containers": [{"name": "app"}]}}))  # fmt: skip
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 400
    assert "downward.dev/inject" in answer["status"]["message"]


def test_a_bug_of_ours_fails_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception: 200, allowed, nothing injected, a warning naming the uid (never a 500)."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(memo, "review_pod", broken)
    response = _post(opted_in_review("u-bug"))
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["uid"] == "u-bug"
    assert answer["allowed"] is True
    assert "patch" not in answer
    assert answer["warnings"] == ["downward-webhook internal error, nothing injected (uid u-bug)"]


def test_the_happy_row_for_comparison() -> None:
    response = _post(opted_in_review("u-ok"))
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["allowed"] is True
    assert base64.b64decode(answer["patch"])
