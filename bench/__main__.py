"""`python -m bench` (or `make bench`): every benchmark, its figures saved to bench/results.json.

    python -m bench                          everything (about 20 minutes, of which the soak is 5)
    python -m bench core layers              only those parts (core, layers, http, soak, apiserver)
    python -m bench profile                  py-spy of the served webhook and floor (typical pod; not in "all")
    python -m bench apiserver-profile        kube-apiserver's own CPU profile, per mode (not in "all")
    python -m bench --soak-seconds 60        a shorter soak
    python -m bench --quick                  short runs everywhere (a smoke test of the harness, ~4 minutes)
    python -m bench report                   print the markdown tables of bench/results.json
    python -m bench plot                     redraw docs/benchmarks.png from bench/results.json

Load goes to 127.0.0.1 only. The control-plane part needs the binaries of tools/kube/build.sh (never built
from here) and is skipped when they are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.cluster import ToolchainMissing

from . import apiserver, apiserver_profile, core, layers, load, profile, soak
from .machine import describe
from .plot import plot
from .report import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
PLOT = ROOT / "docs" / "benchmarks.png"
PARTS = ("core", "layers", "http", "soak", "apiserver")
OPTIONAL = ("profile", "apiserver-profile")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def _run_part(part: str, args: argparse.Namespace, results: dict[str, Any]) -> None:
    if part == "core":
        results["core"] = core.run(repeat=3 if args.quick else 7)
    elif part == "layers":
        results["layers"] = layers.run(repeat=2 if args.quick else 5)
    elif part == "http":
        results["http_1"] = load.run(seconds=args.seconds, rounds=args.rounds, patience=5.0 if args.quick else 60.0)
    elif part == "profile":
        results["profile"] = profile.run(seconds=4.0 if args.quick else 10.0)
    elif part == "soak":
        results["soak"] = soak.run(seconds=args.soak_seconds)
    elif part == "apiserver":
        try:
            results["apiserver"] = apiserver.run(pods=args.pods, rounds=args.apiserver_rounds)
        except ToolchainMissing as missing:
            print(f"apiserver part skipped: {missing}", file=sys.stderr)
    elif part == "apiserver-profile":
        try:
            results["apiserver_profile"] = apiserver_profile.run(seconds=4.0 if args.quick else 10.0)
        except ToolchainMissing as missing:
            print(f"apiserver-profile part skipped: {missing}", file=sys.stderr)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="downward-webhook benchmarks")
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)}, or report, or plot (default: all)")
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness, not for the docs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run (default 10)")
    parser.add_argument("--rounds", type=_positive, default=3, help="alternating runs per server and size (default 3)")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="length of the RSS soak (default 300)")
    parser.add_argument("--pods", type=_positive, default=600, help="pods per apiserver run (default 600)")
    parser.add_argument(
        "--apiserver-rounds",
        type=_positive,
        default=5,
        help="alternating runs per mode through the apiserver (default 5)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to merge the figures")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - {*PARTS, *OPTIONAL, "report", "plot"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    if args.parts == ["report"]:
        print(report(_load(args.results)))
        return 0
    if args.parts == ["plot"]:
        print(plot(_load(args.results), PLOT))
        return 0
    parts = [p for p in (args.parts or PARTS) if p in PARTS or p in OPTIONAL]
    if args.quick:
        args.seconds, args.rounds, args.soak_seconds, args.pods = 2.0, 1, min(args.soak_seconds, 20.0), 60
        args.apiserver_rounds = 2
    results = _load(args.results)
    results["machine"] = describe()
    results["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["quick"] = args.quick
    for part in parts:
        _run_part(part, args, results)
        _save(results, args.results)  # after each part: a long run interrupted keeps what it measured
    if "http_1" in results:
        print(f"plot: {plot(results, PLOT)}")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
