"""Memory soak: the webhook at a fixed request rate for minutes, its RSS sampled every 5 s.

wrk (one thread, 4 connections) sends small, typical and large pods in turn, each connection pausing
WRK_DELAY_MS before every request (wrk's delay() hook): a steady rate well under capacity, not a flood.
The growth is measured from the first sample under load (start-up imports and first-use allocations are
behind it) to the last one; the slope over the second half tells a leak from a plateau.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .pods import SIZES, review_body
from .servers import Server, run_wrk

SAMPLE_SECONDS = 5.0


def run(seconds: float = 300.0, connections: int = 4, delay_ms: float = 10.0) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="downward-soak-"))
    bodies = []
    for size in SIZES:
        path = workdir / f"{size.name}.json"
        path.write_bytes(review_body(size))
        bodies.append(path)
    server = Server("webhook", workdir, cpus="0").start()
    samples: list[tuple[float, int]] = [(0.0, server.rss_kib())]
    stop = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not stop.wait(SAMPLE_SECONDS):
            samples.append((round(time.monotonic() - started, 1), server.rss_kib()))

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        result = run_wrk(server.url, bodies, seconds=seconds, connections=connections, cpus="1", delay_ms=delay_ms)
    finally:
        stop.set()
        sampler.join()
        server.stop()
    under_load = [s for s in samples if s[0] > 0]
    first, last = under_load[0][1], under_load[-1][1]
    half = under_load[len(under_load) // 2 :]
    slope = _slope(half) * 60  # KiB per minute over the second half
    out = {
        "seconds": seconds,
        "connections": connections,
        "delay_ms": delay_ms,
        "rps": result["rps"],
        "requests": result["requests"],
        "errors": result["errors"],
        "p99_ms": result["p99_us"] / 1000,
        "rss_idle_kib": samples[0][1],
        "rss_first_kib": first,
        "rss_last_kib": last,
        "rss_max_kib": max(s[1] for s in under_load),
        "growth_pct": 100 * (last - first) / first,
        "second_half_kib_per_min": slope,
        "samples": samples,
    }
    print(
        f"soak {seconds:.0f} s at {out['rps']:.0f} req/s ({out['requests']} requests, {out['errors']} errors): "
        f"RSS idle {samples[0][1] / 1024:.1f} MiB, first under load {first / 1024:.1f} MiB, "
        f"last {last / 1024:.1f} MiB, max {out['rss_max_kib'] / 1024:.1f} MiB: growth {out['growth_pct']:+.1f}% "
        f"(second half {slope:+.0f} KiB/min)",
        flush=True,
    )
    return out


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope (KiB per second)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [float(p[1]) for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0
