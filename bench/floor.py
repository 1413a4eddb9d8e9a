"""The floor: the least an admission server on this stack can do per request.

A bare ASGI app (no framework) on the same uvicorn, uvloop, httptools, Python and hardened TLS context as
`downward-webhook serve`: it reads the AdmissionReview body, parses it with orjson and answers allowed with
the request's uid. Nothing the webhook does could be cheaper, so its throughput is the ceiling.

    python -m bench.floor --port 9443 --cert tls.crt --key tls.key [--workers N]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import signal
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from webhook.tls import harden
from webhook.workers import BACKLOG

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                gc.collect()
                gc.freeze()  # as the webhook does
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    uid = orjson.loads(b"".join(chunks))["request"]["uid"]
    body = orjson.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": True}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _server(cert: Path, key: Path) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_config=None,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        server_header=False,
        proxy_headers=False,  # as the webhook
        timeout_keep_alive=120,
        limit_concurrency=1000,
    )
    config.load()
    assert config.ssl is not None
    harden(config.ssl)
    return uvicorn.Server(config)


def _worker(sock: socket.socket, cert: Path, key: Path) -> None:
    _server(cert, key).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    sock = socket.create_server((args.host, args.port), backlog=BACKLOG)
    if args.workers == 1:
        _server(args.cert, args.key).run(sockets=[sock])
        return
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(sock, args.cert, args.key)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()

    def forward(sig: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None:
                os.kill(worker.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
