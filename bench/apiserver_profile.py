"""Where kube-apiserver spends the CPU a webhook adds to pod creation: its own pprof CPU profile, per mode.

    python -m bench apiserver-profile      (not in "all"; needs the control plane binaries and Go's pprof)

The control plane and servers of bench/apiserver.py, with the apiserver's profiling on. For each mode the
creators run while the apiserver samples itself for `seconds`; the samples of a few functions, divided by the
pods created, give CPU milliseconds per pod for each step of admitting a pod:

    all             every sample of the apiserver
    webhook plugin  the MutatingAdmissionWebhook plugin: matching, calling the webhook, applying its answer
    json-patch      applying the response's JSON Patch (gopkg.in/evanphx/json-patch v4)
    decode          decoding the patched JSON back into a Pod (only when there is a patch)
    request body    encoding the AdmissionReview the webhook is sent
    GC              Go's background mark workers: grows with what every step allocates

Profiles are kept (their paths are printed) for `go tool pprof -http`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.cluster import ToolchainMissing

from .apiserver import MODES, Bench, _create, _delete_pods, _expected_patch, _switch, started

DISPATCHER = "mutatingDispatcher..callAttrMutatingHook$"  # a pprof regexp: the call of one webhook
# (label, pprof function name pattern, only in the dispatcher's stacks)
STEPS = (
    ("webhook plugin", r"webhook/generic\.\(\*Webhook\)\.Dispatch$", False),
    ("json-patch", r"json-patch.*\.Patch\.ApplyIndent$", False),
    ("decode", r"serializer/json\.\(\*Serializer\)\.Decode$", True),
    ("request body", r"client-go/rest\.\(\*Request\)\.Body$", True),
    ("GC", r"^runtime\.gcBgMarkWorker$", False),
)
_UNITS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "min": 6e4, "hrs": 3.6e6}
_ROW = re.compile(r"^\s*[\d.]+\w*\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(\w+)\s+[\d.]+%\s+(.+?)(?: \(inline\))?$")
_TOTAL = re.compile(r"Total samples = ([\d.]+)(\w+)")


def _pprof() -> list[str]:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise ToolchainMissing("go not found: reading the apiserver's profile needs `go tool pprof`")
    return [go, "tool", "pprof", "-top", "-cum", "-nodecount=100000", "-nodefraction=0"]


def cumulative_ms(top: str) -> tuple[float, dict[str, float]]:
    """(total, function -> cumulative) in milliseconds, from the text of `go tool pprof -top -cum`."""
    total = _TOTAL.search(top)
    if total is None:
        raise RuntimeError(f"not a pprof -top listing: {top[:200]!r}")
    found = {}
    for line in top.splitlines():
        row = _ROW.match(line)
        if row is not None:
            found[row.group(3)] = float(row.group(1)) * _UNITS[row.group(2)]
    return float(total.group(1)) * _UNITS[total.group(2)], found


def _top(profile: Path, *focus: str) -> str:
    command = [*_pprof(), *(f"-focus={f}" for f in focus), str(profile)]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout


def steps_ms(profile: Path, pods: int) -> dict[str, float]:
    """CPU milliseconds per pod of each step, from one profile."""
    total, everywhere = cumulative_ms(_top(profile))
    _, dispatcher = cumulative_ms(_top(profile, DISPATCHER))
    figures = {"all": total / pods}
    for label, pattern, in_dispatcher in STEPS:
        functions = dispatcher if in_dispatcher else everywhere
        figures[label] = sum(ms for name, ms in functions.items() if re.search(pattern, name)) / pods
    return figures


def _capture(bench: Bench, seconds: float, into: Path, done: threading.Event) -> None:
    connection = bench.api.connection()
    connection.timeout = seconds + 60  # the answer comes when the sampling ends
    try:
        connection.request("GET", f"/debug/pprof/profile?seconds={seconds:g}")
        answer = connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"pprof: HTTP {answer.status}: {data[:200]!r}")
        into.write_bytes(data)
    finally:
        connection.close()
        done.set()  # the creators stop with the profile, whatever became of it


def run(seconds: float = 10.0, creators: int = 4) -> dict[str, Any]:
    _pprof()  # before minutes of set-up
    keep = Path(tempfile.mkdtemp(prefix="downward-bench-pprof-"))
    results: dict[str, Any] = {"seconds": seconds, "creators": creators, "modes": {}}
    with started(["--profiling=true"]) as bench:
        for mode in MODES:
            _switch(bench.api, mode, bench.configurations, bench.manifest)
            _delete_pods(bench.api)
            warm = _create(bench.api, bench.body, 50, creators=creators, patched_by=_expected_patch(mode),
                           processes=bench.processes)  # fmt: skip
            _delete_pods(bench.api)
            profile, done = keep / f"{mode}.pb.gz", threading.Event()
            capture = threading.Thread(target=_capture, args=(bench, seconds, profile, done))
            capture.start()
            time.sleep(0.3)  # the apiserver has started sampling
            # More pods than the profile lasts for: the creators stop when it ends.
            result = _create(
                bench.api,
                bench.body,
                int(seconds * 4 * warm["pods_per_second"]) + 100,
                creators=creators,
                patched_by=_expected_patch(mode),
                processes=bench.processes,
                stop=done,
            )
            capture.join()
            if not profile.exists():
                raise RuntimeError(f"{mode}: no profile from the apiserver")
            figures = steps_ms(profile, result["pods"])
            results["modes"][mode] = {"pods": result["pods"], "pods_per_second": result["pods_per_second"],
                                      "cpu_ms_per_pod": figures, "profile": str(profile)}  # fmt: skip
            print(
                f"apiserver profile {mode:7}: {result['pods']} pods, "
                + ", ".join(f"{label} {ms:.2f}" for label, ms in figures.items())
                + f" ms/pod ({profile})",
                flush=True,
            )
    return results
