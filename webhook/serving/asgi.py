"""Plain ASGI for the admission paths: reading a bounded body within its deadline, and sending an answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    """The body passed server.maxBodyBytes; raised before it is all read."""


@lru_cache(maxsize=64)  # the apiserver sends the same ?timeout= on every call of a webhook
def read_deadline(query: bytes, configured: float) -> float:
    """Seconds allowed to read the body: ours, and never more than most of the apiserver's ?timeout=Ns."""
    if not query:
        return configured
    sent = parse_qs(query.decode("latin-1")).get("timeout", [""])[0]
    if sent.endswith("s") and sent[:-1].replace(".", "", 1).isdigit():
        return min(configured, max(0.5, float(sent[:-1]) * 0.8))
    return configured


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
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


async def send_answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = JSON_HEADERS) -> None:
    # With a Content-Length uvicorn writes the body as it is; without one it would chunk it (more bytes, more
    # TLS records, and a terminating chunk for the apiserver to read).
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def with_reason(status: int, reason: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"reason": reason})
