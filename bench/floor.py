"""The floor: the least an admission server on this stack can do per request.

A bare ASGI app (no framework) on the same uvicorn, uvloop, httptools, Python and hardened TLS context as
`downward-webhook serve`: it reads the AdmissionReview body, parses it with orjson and answers allowed with
the request's uid. Nothing the webhook does could be cheaper, so its throughput is the ceiling.

With --patch one-env it answers with the smallest patch an env-injecting webhook can send: one env var added
to the first container. The apiserver's cost of applying any patch that touches a container is in that
answer (bench/apiserver.py), whoever computes it.

    python -m bench.floor --port 9443 --cert tls.crt --key tls.key [--patch one-env]
"""

from __future__ import annotations

import argparse
import base64
import gc
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from webhook.serving.tls import harden

BACKLOG = 2048  # uvicorn's default

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HEADERS = [(b"content-type", b"application/json")]
MINIMAL_ENV_NAME = "MINIMAL_PATCH_POD_NAME"
# The first container of the benchmark pods has an env list: insert at its head, as downward-webhook does.
ONE_ENV_PATCH = [
    {
        "op": "add",
        "path": "/spec/containers/0/env/0",
        "value": {
            "name": MINIMAL_ENV_NAME,
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        },
    }
]
PATCHES: dict[str, dict[str, str]] = {
    "none": {},
    "one-env": {"patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(ONE_ENV_PATCH)).decode()},
}
_patch: dict[str, str] = {}


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
    request = orjson.loads(b"".join(chunks))["request"]
    response = {"uid": request["uid"], "allowed": True}
    if _patch and request["kind"]["kind"] == "Pod":
        response.update(_patch)
    body = orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--patch", choices=sorted(PATCHES), default="none", help="answer Pods with this patch")
    args = parser.parse_args(argv)
    sock = socket.create_server((args.host, args.port), backlog=BACKLOG)
    _patch.update(PATCHES[args.patch])
    _server(args.cert, args.key).run(sockets=[sock])


if __name__ == "__main__":
    main()
