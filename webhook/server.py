"""Run the app under uvicorn over TLS (never plain HTTP), with a hardened SSL context."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .app import AppState, create_app
from .config import Config
from .metrics import Metrics

# Mozilla "intermediate": ECDHE with AEAD ciphers only for TLS 1.2; TLS 1.3 suites are always modern.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    cert: Path
    key: Path
    log_level: str = "info"


def harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION


def build_server(config: Config, options: ServeOptions) -> uvicorn.Server:
    app = create_app(config, Metrics(), AppState())
    uv_config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        ssl_certfile=str(options.cert),
        ssl_keyfile=str(options.key),
        log_config=None,
        log_level=options.log_level,
        access_log=False,  # one JSON line per admission is written by the app itself
        loop="uvloop",
        http="httptools",
        lifespan="on",
        server_header=False,
    )
    uv_config.load()
    assert uv_config.ssl is not None
    harden(uv_config.ssl)
    return uvicorn.Server(uv_config)
