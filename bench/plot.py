"""docs/benchmarks.png: throughput and p99 by pod size, webhook vs floor (matplotlib, the `bench` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

SIZES = ("small", "typical", "large")


def plot(results: dict[str, Any], out: Path) -> Path:
    series = []  # (label, http section, kind, colour, hatch)
    if "http_1" in results:
        series.append(("webhook", "http_1", "webhook", "#1f77b4", ""))
        series.append(("floor", "http_1", "floor", "#bbbbbb", ""))
    figure = Figure(figsize=(11, 4.2))
    throughput, p99 = figure.subplots(1, 2)
    width = 0.8 / max(1, len(series))
    for number, (label, section, kind, colour, hatch) in enumerate(series):
        xs = [i + (number - (len(series) - 1) / 2) * width for i in range(len(SIZES))]
        entries = [results[section]["sizes"].get(size, {}).get(kind) for size in SIZES]
        rps = [e["rps"] if e else 0 for e in entries]
        tail = [e["p99_ms"] if e else 0 for e in entries]
        throughput.bar(xs, rps, width, label=label, color=colour, hatch=hatch, edgecolor="black", linewidth=0.4)
        p99.bar(xs, tail, width, label=label, color=colour, hatch=hatch, edgecolor="black", linewidth=0.4)
        for x, value in zip(xs, rps, strict=True):
            throughput.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=7)
        for x, value in zip(xs, tail, strict=True):
            p99.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom", fontsize=7)
    sizes = [f"{s}\n({results['http_1']['sizes'][s]['body_bytes'] / 1024:.0f} KiB)" for s in SIZES]
    for axis, title, unit in ((throughput, "Throughput", "requests/s"), (p99, "p99 latency", "ms (log scale)")):
        axis.set_xticks(range(len(SIZES)), sizes)
        axis.set_title(f"{title} by pod size (wrk, 16 connections, TLS keep-alive)", fontsize=9)
        axis.set_ylabel(unit)
        axis.grid(axis="y", alpha=0.3)
    for axis in (throughput, p99):
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_minor_formatter(NullFormatter())
    p99.axhline(10, color="red", linestyle="--", linewidth=0.8, label="target for the typical pod: 10 ms")
    p99.set_yticks([1, 2, 5, 10, 20, 50, 100])
    p99.set_ylim(1, 150)
    p99.legend(fontsize=7, loc="upper left")
    throughput.legend(fontsize=7)
    machine = results.get("machine", {})
    figure.suptitle(
        f"downward-webhook vs floor: {machine.get('nproc', '?')} cores ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python', '?')}, uvicorn {machine.get('uvicorn', '?')}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    return out
