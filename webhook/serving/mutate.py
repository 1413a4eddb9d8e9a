"""POST /mutate and /mutate-namespace as plain ASGI: read the body, parse it once, review, count, log one line.

How failures map to HTTP (the apiserver treats any non-200 or non-AdmissionReview answer as a call
failure and lets failurePolicy decide, so we answer 200 whenever we know the request's uid):

    body is not JSON / not an AdmissionReview v1 / no request.uid   400 {"reason": ...}
    object is not a Pod's shape                                     400 {"reason": ...}
    body larger than server.maxBodyBytes                            413 {"reason": ...}
    body not received within the request deadline                   408 {"reason": ...}
    wrong method / unknown path                                     405 / 404
    a bad annotation or a conflict                                  200, allowed: false, status.code 400
    a bug in this webhook                                           200, allowed: true, a warning (fail open)

tests/test_http_errors.py checks each row in process.
"""

from __future__ import annotations

import logging
import os
import time

import orjson

from ..core.answer import AdmissionRequest, Answer
from ..core.config import Config
from ..core.errors import BadReview
from .admission import encode_answer, parse_review
from .asgi import (
    JSON_HEADERS,
    BodyTooLarge,
    Receive,
    Scope,
    Send,
    read_body,
    read_deadline,
    send_answer,
    with_reason,
)
from .deadlines import Deadlines
from .logs import LOGGER_NAME, AdmissionLog
from .memo import MemoizedReview, Summary
from .metrics import Metrics
from .settings import ServerConfig


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
            await send_answer(
                send, 405, orjson.dumps({"detail": "Method Not Allowed"}), [*JSON_HEADERS, (b"allow", b"POST")]
            )
            return
        started = time.perf_counter()
        path = scope["path"]
        deadline = read_deadline(scope.get("query_string", b""), self._request_timeout)
        try:
            body = await self._deadlines.within(deadline, read_body(scope, receive, self._limit))
        except BodyTooLarge:
            self._metrics.count(path, "", "too_large")
            reason = f"request body is larger than {self._limit} bytes (server.maxBodyBytes)"
            await send_answer(send, *with_reason(413, reason))
            return
        except TimeoutError:
            self._metrics.count(path, "", "timeout")
            await send_answer(send, *with_reason(408, f"request body not received within {deadline:g}s"))
            return
        status, payload = self.respond(body, path, inject_by_default, started)
        await send_answer(send, status, payload)

    def respond(self, body: bytes, path: str, inject_by_default: bool, started: float) -> tuple[int, bytes]:
        """The HTTP status and body for one request body (synchronous: nothing here waits)."""
        try:
            admission = parse_review(body)
        except BadReview as error:
            self._metrics.count(path, "", "invalid")
            self._log.write({"path": path, "outcome": "invalid", "reason": error.message, "pid": self._pid})
            return with_reason(400, error.message)
        try:
            summary, payload = self._review(admission, inject_by_default=inject_by_default)
        except BadReview as error:
            self._metrics.count(path, admission.operation, "invalid")
            self._write(admission, path, "invalid", started, error.message)
            return with_reason(400, error.message)
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
