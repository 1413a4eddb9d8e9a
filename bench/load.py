"""HTTP load: the real `downward-webhook serve` against the floor, driven by wrk over TLS keep-alive.

For each pod size: a warm-up run of each server, then `rounds` measured runs of each, alternating
(webhook, floor, webhook, floor, ...), so that whatever else the machine does falls on both alike.
The server is pinned to CPU 0 and wrk to CPU 1 (2 cores: they would otherwise compete).

A run is repeated (up to twice) when other processes used more than 10% of a core during it: the machine is
shared. The server's CPU time per request is measured too: it does not depend on who else is running.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from .machine import busy_seconds, wait_quiet
from .pods import SIZES, review_body
from .servers import Server, run_wrk

FOREIGN_LIMIT = 0.10  # cores used by other processes during a run, above which the run is repeated
KINDS = ("webhook", "floor")


def check_answers(server: Server, size: str, body: bytes) -> None:
    status, answer = server.post(body)
    response = answer["response"]
    injected = response.get("patchType") == "JSONPatch" or server.kind == "floor"
    if status != 200 or not response.get("uid") or response.get("allowed") is not True or not injected:
        raise RuntimeError(f"{server.kind} answered a {size} pod wrongly: {status} {response}")


def measured_run(
    server: Server, body: Path, seconds: float, *, connections: int, wrk_cpus: str | None, patience: float
) -> dict[str, Any]:
    for attempt in range(3):
        wait_quiet(patience=patience)
        busy, cpu = busy_seconds(), server.cpu_seconds()
        result = run_wrk(server.url, [body], seconds=seconds, connections=connections, cpus=wrk_cpus)
        result["server_cpu_s"] = server.cpu_seconds() - cpu
        elapsed = result["duration_us"] / 1e6
        result["foreign_cores"] = (
            max(0.0, busy_seconds() - busy - result["server_cpu_s"] - result["wrk_cpu_s"]) / elapsed
        )
        result["server_cpu_us_per_request"] = 1e6 * result["server_cpu_s"] / max(1, result["requests"])
        result["attempt"] = attempt + 1
        if result["errors"]:
            raise RuntimeError(f"{server.kind}: {result['errors']} errors in a run: {result}")
        if result["foreign_cores"] <= FOREIGN_LIMIT:
            break
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    return {
        "rps": median("rps"),
        "rps_min": min(r["rps"] for r in runs),
        "rps_max": max(r["rps"] for r in runs),
        "p50_ms": median("p50_us") / 1000,
        "p99_ms": median("p99_us") / 1000,
        "p99_ms_max": max(r["p99_us"] for r in runs) / 1000,
        "cpu_us_per_request": median("server_cpu_us_per_request"),
        "foreign_cores_max": max(r["foreign_cores"] for r in runs),
        "runs": runs,
    }


def run(
    *,
    seconds: float = 10.0,
    rounds: int = 3,
    connections: int = 16,
    sizes: tuple[str, ...] = (),
    patience: float = 180.0,
) -> dict[str, Any]:
    """`patience`: how long each run may wait for other processes to quiet down before it starts anyway."""
    workdir = Path(tempfile.mkdtemp(prefix="downward-bench-"))
    servers = {kind: Server(kind, workdir, cpus="0").start() for kind in KINDS}
    wrk_cpus = "1"
    results: dict[str, Any] = {
        "workers": 1, "connections": connections, "seconds": seconds, "rounds": rounds, "pinned": True, "sizes": {},
    }  # fmt: skip
    try:
        for size in SIZES:
            if sizes and size.name not in sizes:
                continue
            body_bytes = review_body(size)
            body = workdir / f"{size.name}.json"
            body.write_bytes(body_bytes)
            runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for kind in KINDS:
                check_answers(servers[kind], size.name, body_bytes)
                run_wrk(servers[kind].url, [body], seconds=2, connections=connections, cpus=wrk_cpus)  # warm-up
            for _ in range(rounds):
                for kind in KINDS:
                    runs[kind].append(
                        measured_run(
                            servers[kind], body, seconds, connections=connections, wrk_cpus=wrk_cpus, patience=patience
                        )
                    )
            entry: dict[str, Any] = {kind: summarise(runs[kind]) for kind in KINDS}
            entry["body_bytes"] = len(body_bytes)
            entry["ratio"] = entry["webhook"]["rps"] / entry["floor"]["rps"]
            results["sizes"][size.name] = entry
            w, f = entry["webhook"], entry["floor"]
            print(
                f"{size.name:8} webhook {w['rps']:7.0f} req/s p50 {w['p50_ms']:6.2f} ms "
                f"p99 {w['p99_ms']:6.2f} ms {w['cpu_us_per_request']:6.0f} us CPU/req | floor {f['rps']:7.0f} req/s "
                f"p50 {f['p50_ms']:6.2f} ms p99 {f['p99_ms']:6.2f} ms {f['cpu_us_per_request']:6.0f} us CPU/req "
                f"| ratio {entry['ratio']:.2f}",
                flush=True,
            )
    finally:
        for server in servers.values():
            server.stop()
    return results
