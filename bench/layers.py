"""Where a request's time goes above the core, in process: the ASGI apps called directly (no socket, no TLS).

    floor app         bench.floor.app: read the body, orjson.loads, answer
    webhook app       webhook.serving.app.create_app (FastAPI): body read, parse, review, encode, metrics, one JSON
                      log line per admission (written to a file, as the server writes it to stderr)
    webhook, no log   the same with the log level at warning (the admission line is not formatted)
    core (total)      parse + review + encode, from bench.core

The difference between the webhook app and the core is the framework, metrics and logging; the difference
between the floor's CPU per request over TLS (bench.load) and the floor app here is uvicorn, httptools
and TLS, which the webhook pays alike.
"""

from __future__ import annotations

import gc
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvloop

from webhook.core.config import Config
from webhook.serving.app import create_app
from webhook.serving.logs import JsonFormatter

from . import floor
from .pods import SIZES, PodSize, review_body

App = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


def _time_app(app: App, body: bytes, repeat: int) -> float:
    """Microseconds per request: best of `repeat` batches of calls to the ASGI app."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
        "path": "/mutate", "raw_path": b"/mutate", "query_string": b"", "root_path": "", "state": {},
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8443),
    }  # fmt: skip
    statuses: list[int] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def batch(count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            await app(dict(scope), receive, send)
        return time.perf_counter() - started

    async def measure() -> float:
        await batch(50)
        gc.collect()
        gc.freeze()
        count = max(20, int(0.2 / max(await batch(20) / 20, 1e-7)))
        best = min([await batch(count) for _ in range(repeat)]) / count
        gc.unfreeze()
        return best * 1e6

    result = uvloop.run(measure())
    if set(statuses) != {200}:
        raise RuntimeError(f"the app answered {set(statuses)}")
    return result


def _webhook_app(level: int, log_file: Path) -> App:
    handler = logging.FileHandler(log_file)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return create_app(Config())


def measure(size: PodSize, repeat: int, log_file: Path) -> dict[str, Any]:
    body = review_body(size)
    return {
        "size": size.name,
        "floor_app_us": _time_app(floor.app, body, repeat),
        "webhook_app_us": _time_app(_webhook_app(logging.INFO, log_file), body, repeat),
        "webhook_app_nolog_us": _time_app(_webhook_app(logging.WARNING, log_file), body, repeat),
    }


def run(repeat: int = 5) -> list[dict[str, Any]]:
    log_file = Path(tempfile.mkdtemp(prefix="downward-layers-")) / "app.log"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        results = [measure(size, repeat, log_file) for size in SIZES]
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    print(f"\nASGI apps in process (best of {repeat}, microseconds per request)", file=sys.stdout)
    print(f"{'pod':8} {'floor app':>10} {'webhook app':>12} {'no log line':>12}")
    for r in results:
        print(
            f"{r['size']:8} {r['floor_app_us']:>10.1f} {r['webhook_app_us']:>12.1f} {r['webhook_app_nolog_us']:>12.1f}"
        )
    return results


if __name__ == "__main__":
    run()
