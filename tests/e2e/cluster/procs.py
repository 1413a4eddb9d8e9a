"""The clusters' processes: each in its own process group, logging to a file, stopped newest first."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ClusterError(RuntimeError):
    """A cluster process failed to start or to become ready; the message carries its log tail."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def pdeathsig_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux): the child gets SIGKILL if the process that started it
    dies, even by SIGKILL, so nothing is orphaned by a killed test run. (A ``preexec_fn`` would do the same
    but is unsafe when the test process has threads.)"""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if sys.platform == "linux" and setpriv else []


# klog error/fatal lines (E1125 ..., F1125 ...), cobra's "Error: ...", etcd's JSON levels.
_ERROR_LINE = re.compile(r'^(Error:|[EF]\d{4} )|"level":"(error|fatal|panic)"|^panic:')


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log, preceded by its first few error lines (a bad flag prints
    ``Error: ...`` and then pages of usage, which would hide it)."""
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    last = data[-lines:]
    errors = [ln for ln in data[: len(data) - len(last)] if _ERROR_LINE.search(ln)][:8]
    head = ["(first error lines)", *errors, "(last lines)"] if errors else []
    return "\n".join(head + last)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def failure(self, what: str) -> ClusterError:
        return ClusterError(f"{self.name} {what}\n--- tail of {self.log_path} ---\n{tail(self.log_path)}")


class Processes:
    """Starts programs (optionally behind a prefix such as ``nsenter ...``) and stops them all.

    ``detached`` processes get no parent-death signal: they outlive the Python process that started them
    (``make cluster``); otherwise a killed test run takes them with it.
    """

    def __init__(self, logs_dir: Path, cwd: Path, env: Mapping[str, str], *, detached: bool = False) -> None:
        self.logs_dir = logs_dir
        self.cwd = cwd
        self.env = dict(env)
        self.detached = detached
        self.procs: list[Proc] = []
        logs_dir.mkdir(parents=True, exist_ok=True)

    def spawn(
        self, name: str, argv: Sequence[str], *, prefix: Sequence[str] = (), pass_fds: Sequence[int] = ()
    ) -> Proc:
        log_path = self.logs_dir / f"{name}.log"
        with log_path.open("ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            popen = subprocess.Popen(
                [*([] if self.detached else pdeathsig_prefix()), *prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,  # own process group: killpg reaches all of it
                env=self.env,
                pass_fds=tuple(pass_fds),
            )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def get(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM each process group (newest first), SIGKILL after ``grace`` s."""
        self.stop_some(list(self.procs), grace)

    def stop_some(self, procs: Sequence[Proc], grace: float = 5.0) -> None:
        """SIGTERM (then SIGKILL after ``grace`` s) these process groups only, newest first."""
        for p in reversed(procs):
            if p in self.procs:
                self.procs.remove(p)
            terminate(p.popen.pid, grace, p.popen.wait)

    def wait_until(self, proc: Proc, check: Callable[[], str | None], deadline: float, what: str) -> None:
        """Poll ``check`` (None = ready, else what it saw) until ``deadline``; fail at once if ``proc`` exits."""
        last = "nothing yet"
        while True:
            if not proc.alive():
                raise proc.failure(f"exited with code {proc.popen.returncode} while waiting for {what}")
            seen = check()
            if seen is None:
                return
            last = seen
            if time.monotonic() > deadline:
                raise proc.failure(f"did not get to {what} in time (last: {last})")
            time.sleep(0.2)


def terminate(pgid: int, grace: float, wait: Callable[[float], object]) -> None:
    """SIGTERM the group, SIGKILL after ``grace`` s; then make sure nothing of the group is left."""
    for sig, timeout in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            wait(timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def http_status(url: str, context: ssl.SSLContext | None) -> str | None:
    """None when ``url`` answers 200, else what it answered (for :meth:`Processes.wait_until`)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=5) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read().decode(errors='replace')[-500:]}"
    except (OSError, ssl.SSLError) as exc:
        return repr(exc)


def insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
