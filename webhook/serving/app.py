"""The HTTP layer: bytes in, AdmissionReview bytes out. The only module that knows HTTP.

The two admission paths are served as plain ASGI, ahead of FastAPI: they are called for every pod in the
cluster, and FastAPI's routing, request and response objects cost more than the whole injection (see
docs/benchmarks.md). FastAPI serves the rest: health, readiness, metrics, and the lifespan.

How failures map to HTTP (the apiserver treats any non-200 or non-AdmissionReview answer as a call
failure and lets failurePolicy decide, so we answer 200 whenever we know the request's uid):

    body is not JSON / not an AdmissionReview v1 / no request.uid   400 {"reason": ...}
    object is not a Pod's shape                                     400 {"reason": ...}
    body larger than server.maxBodyBytes                            413 {"reason": ...}
    body not received within the request deadline                   408 {"reason": ...}
    wrong method / unknown path                                     405 / 404
    a bad annotation or a conflict                                  200, allowed: false, status.code 400
    a bug in this webhook                                           200, allowed: true, a warning (fail open)
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI
from fastapi.responses import Response

from ..core.answer import AdmissionRequest, Answer
from ..core.config import Config
from ..core.errors import BadReview
from .admission import encode_answer, parse_review
from .deadlines import Deadlines
from .logs import LOGGER_NAME, AdmissionLog
from .memo import MemoizedReview, Summary
from .metrics import Metrics
from .settings import ServerConfig

MUTATE_PATH = "/mutate"
MUTATE_NAMESPACE_PATH = "/mutate-namespace"
# path -> inject_by_default: annotation opt-in, or namespace-wide opt-in where a missing annotation injects.
ADMISSION_PATHS = {MUTATE_PATH: False, MUTATE_NAMESPACE_PATH: True}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    """The body passed server.maxBodyBytes; raised before it is all read."""


@dataclass
class AppState:
    """Mutable server state shared with the process that runs the app."""

    ready: bool = True  # false once shutdown began: /readyz fails so endpoints drop us first
    # Coroutines run on the event loop for the app's lifetime (the certificate reloader).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


@lru_cache(maxsize=64)  # the apiserver sends the same ?timeout= on every call of a webhook
def _deadline(query: bytes, configured: float) -> float:
    """Seconds allowed to read the body: ours, and never more than most of the apiserver's ?timeout=Ns."""
    if not query:
        return configured
    sent = parse_qs(query.decode("latin-1")).get("timeout", [""])[0]
    if sent.endswith("s") and sent[:-1].replace(".", "", 1).isdigit():
        return min(configured, max(0.5, float(sent[:-1]) * 0.8))
    return configured


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise TimeoutError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = _JSON_HEADERS) -> None:
    # With a Content-Length uvicorn writes the body as it is; without one it would chunk it (more bytes, more
    # TLS records, and a terminating chunk for the apiserver to read).
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def _reason(status: int, reason: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"reason": reason})


class Admission:
    """POST /mutate and /mutate-namespace: read, parse once, review (memoized), count, log one line."""

    def __init__(self, config: Config, server: ServerConfig, metrics: Metrics, deadlines: Deadlines) -> None:
        self._request_timeout = server.request_timeout_seconds
        self._deadlines = deadlines
        self._review = MemoizedReview(config, observe=metrics.answered)
        self._metrics = metrics
        self._limit = server.max_body_bytes
        self._logger = logging.getLogger(LOGGER_NAME)
        self._log = AdmissionLog(self._logger)
        self._pid = os.getpid()  # which process answered, when several write to one log stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send, inject_by_default: bool) -> None:
        if scope["method"] != "POST":
            await _answer(
                send, 405, orjson.dumps({"detail": "Method Not Allowed"}), [*_JSON_HEADERS, (b"allow", b"POST")]
            )
            return
        started = time.perf_counter()
        path = scope["path"]
        deadline = _deadline(scope.get("query_string", b""), self._request_timeout)
        try:
            body = await self._deadlines.within(deadline, _read_body(scope, receive, self._limit))
        except BodyTooLarge:
            self._metrics.count(path, "", "too_large")
            reason = f"request body is larger than {self._limit} bytes (server.maxBodyBytes)"
            await _answer(send, *_reason(413, reason))
            return
        except TimeoutError:
            self._metrics.count(path, "", "timeout")
            await _answer(send, *_reason(408, f"request body not received within {deadline:g}s"))
            return
        status, payload = self.respond(body, path, inject_by_default, started)
        await _answer(send, status, payload)

    def respond(self, body: bytes, path: str, inject_by_default: bool, started: float) -> tuple[int, bytes]:
        """The HTTP status and body for one request body (synchronous: nothing here waits)."""
        try:
            admission = parse_review(body)
        except BadReview as error:
            self._metrics.count(path, "", "invalid")
            self._log.write({"path": path, "outcome": "invalid", "reason": error.message, "pid": self._pid})
            return _reason(400, error.message)
        try:
            summary, payload = self._review(admission, inject_by_default=inject_by_default)
        except BadReview as error:
            self._metrics.count(path, admission.operation, "invalid")
            self._write(admission, path, "invalid", started, error.message)
            return _reason(400, error.message)
        except Exception:  # a bug of ours must not block pod creation, nor crash the server
            self._logger.exception("internal error", extra={"fields": {"uid": admission.uid, "path": path}})
            warning = f"downward-webhook internal error, nothing injected (uid {admission.uid})"
            answer = Answer(allowed=True, outcome="error", warnings=(warning,))
            summary, payload = Summary.of(answer), encode_answer(admission.uid, answer)
        self._metrics.count(path, admission.operation, summary.outcome, time.perf_counter() - started)
        for kind in summary.injected:
            self._metrics.injected(kind)
        self._write(admission, path, summary.outcome, started, summary.note)
        return 200, payload

    def flush_log(self) -> None:
        self._log.flush()

    def _write(self, admission: AdmissionRequest, path: str, outcome: str, started: float, reason: str) -> None:
        obj = admission.obj if isinstance(admission.obj, dict) else {}
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        self._log.write(
            {
                "uid": admission.uid,
                "path": path,
                "kind": admission.kind,
                "operation": admission.operation,
                "namespace": admission.namespace,
                "name": admission.name or metadata.get("name") or "",
                "generateName": metadata.get("generateName") or "",
                "dryRun": admission.dry_run,
                "outcome": outcome,
                "reason": reason,
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
                "pid": self._pid,
            }
        )


def create_app(
    config: Config,
    server: ServerConfig | None = None,
    metrics: Metrics | None = None,
    state: AppState | None = None,
) -> ASGIApp:
    """The ASGI app: the admission paths, health, readiness and metrics."""
    server = server if server is not None else ServerConfig()
    metrics = metrics if metrics is not None else Metrics()
    state = state if state is not None else AppState()
    deadlines = Deadlines()
    state.background.append(deadlines.watch)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything allocated at start-up is long-lived: keep the collector from rescanning it on every
        # request (GC pauses were the p99 spikes: docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(job()) for job in state.background]
        yield
        for task in tasks:
            task.cancel()
        admission.flush_log()  # the last batch of admission lines

    api = FastAPI(title="downward-webhook", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    api.state.downward = state

    @api.get("/healthz")
    @api.get("/livez")
    async def alive() -> Response:
        return Response(b"ok", media_type="text/plain")

    @api.get("/readyz")
    async def ready() -> Response:
        if state.ready:
            return Response(b"ok", media_type="text/plain")
        return Response(b"shutting down", status_code=503, media_type="text/plain")

    @api.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    admission = Admission(config, server, metrics, deadlines)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            inject_by_default = ADMISSION_PATHS.get(scope["path"])
            if inject_by_default is not None:
                await admission(scope, receive, send, inject_by_default)
                return
        await api(scope, receive, send)

    return app
