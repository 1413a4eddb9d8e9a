"""The ASGI app: the admission paths (webhook/serving/mutate.py) ahead of FastAPI, which serves the rest.

The two admission paths are served as plain ASGI: they are called for every pod in the cluster, and
FastAPI's routing, request and response objects cost more than the whole injection (see
docs/benchmarks.md). FastAPI serves health, readiness, metrics, and the lifespan.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from ..core.config import Config
from .asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
)
from .deadlines import Deadlines
from .metrics import Metrics
from .mutate import Admission
from .settings import ServerConfig

MUTATE_PATH = "/mutate"
MUTATE_NAMESPACE_PATH = "/mutate-namespace"
# path -> inject_by_default: annotation opt-in, or namespace-wide opt-in where a missing annotation injects.
ADMISSION_PATHS = {MUTATE_PATH: False, MUTATE_NAMESPACE_PATH: True}


@dataclass
class AppState:
    """Mutable server state shared with the process that runs the app."""

    ready: bool = True  # false once shutdown began: /readyz fails so endpoints drop us first
    # Coroutines run on the event loop for the app's lifetime (the certificate reloader).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


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
            if not state.ready:
                send = closing(send)
            inject_by_default = ADMISSION_PATHS.get(scope["path"])
            if inject_by_default is not None:
                await admission(scope, receive, send, inject_by_default)
                return
        await api(scope, receive, send)

    return app


def closing(send: Send) -> Send:
    """`send` with `Connection: close` on the response: while draining, each answer ends its connection.

    The apiserver reaches us through kept-alive HTTP/1.1 connections that endpoint removal does not move (a
    connection stays on the pod it was opened to). Closing one that is idle races with the apiserver sending
    on it, and a POST lost that way is not retried: the pod creation fails (EOF). Said in the answer, the
    close is one the client reads before it could reuse the connection; uvicorn closes it after the response.
    """

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return send_closing
