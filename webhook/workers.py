"""`serve --workers N` (N > 1): one listening socket, N worker processes, one supervising parent.

The parent binds the socket once and runs N worker processes that accept on it, each a complete server of
its own (server.build_server: event loop, hardened SSLContext, certificate reloader, draining on SIGTERM).
The parent only supervises: it forwards SIGTERM/SIGINT to the workers and waits for them to drain, replaces
a worker that dies, and keeps the metrics directory that the workers share.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_any
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from .config import OperatorConfig
from .serving.logs import LOGGER_NAME, configure_logging, log_fields
from .serving.metrics import Metrics
from .serving.server import build_server
from .serving.settings import ServeOptions

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BACKLOG = 2048  # uvicorn's default
# A worker that exits with an error this soon after it was started is failing at start-up: stop.
WORKER_STARTUP_SECONDS = 10.0
RESPAWN_SECONDS = 1.0  # a worker is replaced no sooner than this after its predecessor started


def check_tls_files(options: ServeOptions) -> None:
    """Load the pair (and the client CA) as every worker will: a bad file fails once, in the parent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options.cert, options.key)
    if options.client_ca is not None:
        context.load_verify_locations(options.client_ca)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)  # SO_REUSEADDR on POSIX


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker if the parent dies (even by SIGKILL), so none is ever orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _worker_main(
    config: OperatorConfig, options: ServeOptions, sock: socket.socket, metrics_dir: str, parent: int
) -> None:
    """A worker process (started by spawn: a fresh interpreter, so prometheus_client sees the directory)."""
    _die_with_parent(parent)
    # Its own process group: a signal sent to the parent's group (a terminal's Ctrl-C, `kill -- -PGID`)
    # reaches the parent alone, which forwards it once. Reaching the workers twice would read as a
    # second signal, which skips the drain.
    os.setpgid(0, 0)
    configure_logging(options.log_level)
    server = build_server(config.core, config.server, options, Metrics(multiprocess_dir=Path(metrics_dir)))
    log_fields(logging.getLogger(LOGGER_NAME), logging.INFO, "worker started", pid=os.getpid())
    server.run(sockets=[sock])
    sys.exit(0 if server.started else 1)


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    started: float
    signalled: int = 0  # how many of the parent's signals it was sent
    reported: bool = False  # its unexpected exit was logged
    failed_at_startup: bool = False


class Supervisor:
    """The parent of `serve --workers N`: binds once, starts the workers, forwards signals, waits.

    Workers are spawned, not forked: a fresh interpreter inherits no event loop, no threads and no
    prometheus_client state from the parent (the multiprocess value class is chosen at import, so the
    directory must be in the environment before prometheus_client is imported); the socket is passed to
    the child as a file descriptor. Start-up costs ~1 s of imports per worker, once.
    """

    def __init__(self, config: OperatorConfig, options: ServeOptions, workers: int) -> None:
        self._config, self._options, self._count = config, options, workers
        self._logger = logging.getLogger(LOGGER_NAME)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._signals: list[int] = []
        self._stop_by = 0.0
        self._failed = False
        self._sock: socket.socket | None = None
        self._metrics_dir = ""

    def run(self) -> int:
        try:
            self._sock = bind_socket(self._options.host, self._options.port)
        except OSError as error:
            log_fields(self._logger, logging.ERROR, "cannot listen", host=self._options.host,
                       port=self._options.port, error=str(error))  # fmt: skip
            return 1
        self._metrics_dir = tempfile.mkdtemp(prefix="downward-webhook-metrics-")
        previous_env = os.environ.get(MULTIPROC_ENV)
        os.environ[MULTIPROC_ENV] = self._metrics_dir  # inherited by the spawned workers
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            with self._sock:
                log_fields(self._logger, logging.INFO, "starting workers", workers=self._count, pid=os.getpid(),
                           host=self._options.host, port=self._options.port)  # fmt: skip
                for index in range(self._count):
                    if self._signals:
                        break
                    self._workers.append(self._spawn(index))
                self._supervise()
        finally:
            self._kill_all()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if previous_env is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = previous_env
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        log_fields(self._logger, logging.INFO, "all workers stopped", pid=os.getpid())
        return 1 if self._failed else 0

    def _spawn(self, index: int) -> _Worker:
        process = self._context.Process(
            target=_worker_main,
            args=(self._config, self._options, self._sock, self._metrics_dir, os.getpid()),
            name=f"downward-webhook-worker-{index}",
        )
        process.start()
        return _Worker(index, process, time.monotonic())

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if not self._signals:
            limits = self._config.server
            # The workers' own drain plus their graceful timeout, and some slack: then they are killed.
            self._stop_by = time.monotonic() + limits.shutdown_delay_seconds + limits.graceful_timeout_seconds + 10
            log_fields(self._logger, logging.INFO, "stopping workers", signal=signal.Signals(sig).name)
        self._signals.append(sig)
        self._forward()

    def _forward(self) -> None:
        """Send each worker every signal the parent got that it has not been sent yet (a second one: stop now)."""
        for worker in self._workers:
            while worker.signalled < len(self._signals):
                sig = self._signals[worker.signalled]
                worker.signalled += 1
                if worker.process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.process.pid, sig)

    def _supervise(self) -> None:
        while True:
            if self._signals:
                self._forward()  # workers started while the first signal was being handled
            alive = [w for w in self._workers if w.process.is_alive()]
            if self._signals and not alive:
                return
            if self._signals and time.monotonic() > self._stop_by:
                log_fields(self._logger, logging.ERROR, "workers did not stop in time; killing them",
                           pids=[w.process.pid for w in alive])  # fmt: skip
                self._failed = True
                return
            if self._signals:  # stopping: only wait
                wait_for_any([w.process.sentinel for w in alive], timeout=1.0)
                continue
            for position, worker in enumerate(self._workers):
                if worker.process.is_alive():
                    continue
                if not worker.reported:
                    self._report_death(worker)
                    if worker.failed_at_startup:
                        self._failed = True
                        self._on_signal(signal.SIGTERM, None)
                        break
                if time.monotonic() >= worker.started + RESPAWN_SECONDS:  # no tight loop of crashes
                    self._workers[position] = self._spawn(worker.index)
            sentinels = [w.process.sentinel for w in self._workers if w.process.is_alive()]
            wait_for_any(sentinels, timeout=0.2 if len(sentinels) < len(self._workers) else 1.0)

    def _report_death(self, worker: _Worker) -> None:
        worker.reported = True
        pid, code = worker.process.pid, worker.process.exitcode
        assert pid is not None
        assert code is not None
        mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call] # its live gauge values no longer count
        # Exiting with an error of its own soon after start (certificate, port, app start-up) would repeat in
        # every replacement: stop. Killed by a signal (the OOM killer, a crash), or later on: replace it.
        worker.failed_at_startup = code > 0 and time.monotonic() - worker.started < WORKER_STARTUP_SECONDS
        log_fields(self._logger, logging.ERROR, "worker exited unexpectedly", worker=worker.index, pid=pid,
                   exitcode=code, action="stopping" if worker.failed_at_startup else "replacing it")  # fmt: skip

    def _kill_all(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(timeout=5)
