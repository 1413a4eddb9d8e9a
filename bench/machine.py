"""The machine a benchmark ran on, and how busy other processes kept it (this machine is shared)."""

from __future__ import annotations

import os
import platform
import ssl
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any


def busy_seconds() -> float:
    """CPU time spent busy (all cores, all processes) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def busy_fraction(seconds: float = 1.0) -> float:
    """How many cores were busy on average over the next `seconds` (0..nproc)."""
    before = busy_seconds()
    time.sleep(seconds)
    return (busy_seconds() - before) / seconds


def wait_quiet(threshold: float = 0.15, patience: float = 180.0) -> float:
    """Wait (bounded) until other processes use less than `threshold` of a core; the last reading."""
    deadline = time.monotonic() + patience
    load = busy_fraction()
    while load > threshold and time.monotonic() < deadline:
        load = busy_fraction(2.0)
    return load


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def describe() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.split()[1]
    except (OSError, IndexError):
        wrk = "-"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "uvicorn": _version("uvicorn"),
        "uvloop": _version("uvloop"),
        "httptools": _version("httptools"),
        "fastapi": _version("fastapi"),
        "starlette": _version("starlette"),
        "orjson": _version("orjson"),
        "pybase64": _version("pybase64"),
        "prometheus_client": _version("prometheus-client"),
        "wrk": wrk,
    }
