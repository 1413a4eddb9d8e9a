"""Where the served webhook spends its CPU: py-spy samples the server process under wrk (typical pod).

    python -m bench profile        (needs py-spy from the `bench` extra; root, or ptrace allowed)

The samples are grouped by the layer of their innermost frame that belongs to a known area, so the
figures read "share of the server's busy samples". Raw files are kept for flame graphs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from .pods import SIZE_BY_NAME, review_body
from .servers import Server, run_wrk

# (area, substrings of a frame): the first area whose substring appears in the innermost-first walk wins.
AREAS = (
    ("log line (logging, JsonFormatter)", ("logging/__init__.py", "webhook/serving/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("core: parse_review (orjson.loads)", ("parse_review",)),
    ("core: review (view, memo, plan, ops)", ("webhook/core/", "webhook/serving/memo.py")),
    ("core: encode_response", ("encode_response",)),
    ("TLS (ssl.SSLObject read/write)", ("ssl.py",)),
    ("webhook HTTP handler (app, mutate, asgi)", ("webhook/serving/app.py", "webhook/serving/mutate.py",
                                                  "webhook/serving/asgi.py")),
    ("FastAPI / Starlette", ("fastapi/", "starlette/", "opentelemetry/")),
    ("uvicorn protocol (httptools)", ("uvicorn/protocols",)),
    ("floor app", ("bench/floor.py",)),
    ("event loop (uvloop, asyncio)", ("asyncio/", "uvloop", "Runner.run")),
)  # fmt: skip


def _area(stack: list[str]) -> str:
    for frame in reversed(stack):
        for area, needles in AREAS:
            if any(n in frame for n in needles):
                return area
    return "other"


def breakdown(raw: Path) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        stack, _, number = line.rpartition(" ")
        counts[_area(stack.split(";"))] += int(number)
    total = sum(counts.values()) or 1
    return {area: 100 * n / total for area, n in counts.most_common()}


def run(seconds: float = 10.0) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    workdir = Path(tempfile.mkdtemp(prefix="downward-profile-"))
    body = workdir / "typical.json"
    body.write_bytes(review_body(SIZE_BY_NAME["typical"]))
    results: dict[str, Any] = {}
    for kind in ("webhook", "floor"):
        server = Server(kind, workdir, cpus="0").start()
        try:
            run_wrk(server.url, [body], seconds=2, cpus="1")
            raw = workdir / f"{kind}.txt"
            command = [spy, "record", "--pid", str(server.pids[0]), "--rate", "250", "--duration",
                       str(int(seconds)), "--format", "raw", "--output", str(raw), "--nonblocking"]  # fmt: skip
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = run_wrk(server.url, [body], seconds=seconds + 2, cpus="1")
            recorder.wait(timeout=seconds + 30)
        finally:
            server.stop()
        results[kind] = {"rps": load["rps"], "areas": breakdown(raw), "raw": str(raw)}
        print(f"\n{kind} (typical pod, {load['rps']:.0f} req/s while sampled): share of busy samples")
        for area, share in results[kind]["areas"].items():
            print(f"  {share:5.1f}%  {area}")
    return results


if __name__ == "__main__":
    run()
