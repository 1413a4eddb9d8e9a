"""The HTTP layer: bytes in, AdmissionReview bytes out. The only module that knows HTTP.

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
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from .admission import AdmissionRequest, encode_response, parse_review
from .config import Config
from .errors import BadReview
from .logs import LOGGER_NAME, log_fields
from .metrics import Metrics
from .review import Verdict, review

MUTATE_PATH = "/mutate"
MUTATE_NAMESPACE_PATH = "/mutate-namespace"
JSON = "application/json"


class BodyTooLarge(Exception):
    """The body passed server.maxBodyBytes; raised before it is all read."""


@dataclass
class AppState:
    """Mutable server state shared with the process that runs the app."""

    ready: bool = True  # false once shutdown began: /readyz fails so endpoints drop us first
    # Coroutines run on the event loop for the app's lifetime (the certificate reloader).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _deadline(request: Request, configured: float) -> float:
    """Seconds allowed to read the body: ours, and never more than most of the apiserver's ?timeout=Ns."""
    sent = request.query_params.get("timeout", "")
    if sent.endswith("s") and sent[:-1].replace(".", "", 1).isdigit():
        return min(configured, max(0.5, float(sent[:-1]) * 0.8))
    return configured


def _error(status: int, reason: str) -> Response:
    return Response(orjson.dumps({"reason": reason}), status_code=status, media_type=JSON)


def create_app(config: Config, metrics: Metrics | None = None, state: AppState | None = None) -> FastAPI:
    metrics = metrics if metrics is not None else Metrics()
    state = state if state is not None else AppState()
    logger = logging.getLogger(LOGGER_NAME)
    limit = config.server.max_body_bytes
    pid = os.getpid()  # which worker answered, with `serve --workers N` (the app is built in its process)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything allocated at start-up is long-lived: keep the collector from rescanning it on every
        # request (GC pauses were the p99 spikes in performance.md).
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(job()) for job in state.background]
        yield
        for task in tasks:
            task.cancel()

    app = FastAPI(title="downward-webhook", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.downward = state

    async def admit(request: Request, path: str, inject_by_default: bool) -> Response:
        started = time.perf_counter()
        deadline = _deadline(request, config.server.request_timeout_seconds)
        try:
            async with asyncio.timeout(deadline):
                body = await _read_body(request, limit)
        except BodyTooLarge:
            metrics.requests.labels(path, "", "too_large").inc()
            return _error(413, f"request body is larger than {limit} bytes (server.maxBodyBytes)")
        except TimeoutError:
            metrics.requests.labels(path, "", "timeout").inc()
            return _error(408, f"request body not received within {deadline:g}s")
        try:
            admission = parse_review(body)
        except BadReview as error:
            metrics.requests.labels(path, "", "invalid").inc()
            log_fields(logger, logging.INFO, "invalid request", path=path, outcome="invalid", reason=error.message)
            return _error(400, error.message)
        try:
            verdict = review(admission, config, inject_by_default=inject_by_default)
        except BadReview as error:
            metrics.requests.labels(path, admission.operation, "invalid").inc()
            _log(logger, admission, path, "invalid", started=started, reason=error.message, pid=pid)
            return _error(400, error.message)
        except Exception:  # a bug of ours must not block pod creation, nor crash the worker
            logger.exception("internal error", extra={"fields": {"uid": admission.uid, "path": path}})
            verdict = Verdict(
                allowed=True,
                outcome="error",
                warnings=(f"downward-webhook internal error, nothing injected (uid {admission.uid})",),
            )
        payload = encode_response(
            admission.uid,
            allowed=verdict.allowed,
            ops=verdict.ops,
            warnings=verdict.warnings,
            audit=verdict.audit,
            message=verdict.message,
        )
        elapsed = time.perf_counter() - started
        metrics.requests.labels(path, admission.operation, verdict.outcome).inc()
        metrics.latency.labels(path).observe(elapsed)
        for kind in verdict.injected:
            metrics.injections.labels(kind).inc()
        _log(
            logger, admission, path, verdict.outcome, started=started, reason=verdict.message or verdict.reason, pid=pid
        )
        return Response(payload, media_type=JSON)

    @app.post(MUTATE_PATH)
    async def mutate(request: Request) -> Response:
        return await admit(request, MUTATE_PATH, inject_by_default=False)

    @app.post(MUTATE_NAMESPACE_PATH)
    async def mutate_namespace(request: Request) -> Response:
        return await admit(request, MUTATE_NAMESPACE_PATH, inject_by_default=True)

    @app.get("/healthz")
    @app.get("/livez")
    async def alive() -> Response:
        return Response(b"ok", media_type="text/plain")

    @app.get("/readyz")
    async def ready() -> Response:
        if state.ready:
            return Response(b"ok", media_type="text/plain")
        return Response(b"shutting down", status_code=503, media_type="text/plain")

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def _log(
    logger: logging.Logger,
    admission: AdmissionRequest,
    path: str,
    outcome: str,
    *,
    started: float,
    reason: str,
    pid: int,
) -> None:
    obj = admission.obj if isinstance(admission.obj, dict) else {}
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    log_fields(
        logger,
        logging.INFO,
        "admission",
        uid=admission.uid,
        path=path,
        kind=admission.kind,
        operation=admission.operation,
        namespace=admission.namespace,
        name=admission.name or metadata.get("name") or "",
        generateName=metadata.get("generateName") or "",
        dryRun=admission.dry_run,
        outcome=outcome,
        reason=reason,
        durationMs=round((time.perf_counter() - started) * 1000, 3),
        pid=pid,
    )
