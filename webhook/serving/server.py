"""Run the app under uvicorn: TLS only, certificates reloaded live, slow clients cut off, drained on SIGTERM.

One server per process, one process per pod: the chart scales with replicas (docs/operations.md, "Sizing").
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..core.config import Config
from .app import AppState, create_app
from .logs import LOGGER_NAME, log_fields
from .metrics import Metrics
from .settings import ServeOptions, ServerConfig
from .tls import CertificateReloader, harden


def header_guarded_protocol(timeout: float) -> type[HttpToolsProtocol]:
    """httptools with a deadline for the request line and headers (uvicorn has none: slowloris).

    HttpToolsProtocol is private to uvicorn: pyproject.toml pins the releases this is tested with
    (tests/test_reliability.py drives it: slow headers, shutdown with kept-alive connections).
    """

    class HeaderGuardedProtocol(HttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_deadline = self.loop.call_later(timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _too_slow(self) -> None:
            self._header_deadline = None
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            self._arm()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._lost = True
            super().connection_lost(exc)

        _lost = False

        def shutdown(self) -> None:
            # Closing a TLS connection waits for the peer's close_notify, which a client idling on a
            # kept-alive connection may never send: without this, shutdown would sit out the whole graceful
            # timeout. Idle connections get one second to close politely, then are dropped.
            idle = self.cycle is None or self.cycle.response_complete
            super().shutdown()
            if idle:
                self.loop.call_later(1.0, self._drop_if_open)

        def _drop_if_open(self) -> None:
            if not self._lost:
                self.transport.abort()

    return HeaderGuardedProtocol


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: fail readiness, keep serving for the delay, then shut down gracefully."""

    def __init__(self, config: uvicorn.Config, state: AppState, delay: float) -> None:
        super().__init__(config)
        self._state, self._delay = state, delay
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._delay <= 0:
            self._state.ready = False
            super().handle_exit(sig, frame)  # a second signal: stop now
            return
        self._draining = True
        self._state.ready = False
        log_fields(
            logging.getLogger(LOGGER_NAME), logging.INFO, "shutdown requested: readiness failing, still serving",
            signal=signal.Signals(sig).name, delaySeconds=self._delay,
        )  # fmt: skip
        timer = threading.Timer(self._delay, super().handle_exit, args=(sig, frame))
        timer.daemon = True
        timer.start()


def build_server(
    config: Config, limits: ServerConfig, options: ServeOptions, metrics: Metrics | None = None
) -> DrainingServer:
    """The uvicorn server of the app, TLS hardened, certificates reloaded; run it with .run()."""
    metrics = metrics if metrics is not None else Metrics()
    state = AppState()
    app = create_app(config, limits, metrics, state)
    extra: dict[str, Any] = {}
    if options.client_ca is not None:
        extra = {"ssl_ca_certs": str(options.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
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
        http=header_guarded_protocol(limits.header_timeout_seconds),
        lifespan="on",
        server_header=False,
        # Nothing stands between the apiserver and us: X-Forwarded-* headers are never ours to believe.
        proxy_headers=False,
        timeout_keep_alive=int(limits.keep_alive_seconds),
        limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=int(limits.graceful_timeout_seconds),
        **extra,
    )
    uv_config.load()
    assert uv_config.ssl is not None
    harden(uv_config.ssl)
    state.background.append(
        CertificateReloader(
            uv_config.ssl,
            options.cert,
            options.key,
            interval=limits.cert_reload_seconds,
            on_loaded=metrics.certificate_expiry.set,
        ).run
    )
    return DrainingServer(uv_config, state, limits.shutdown_delay_seconds)
