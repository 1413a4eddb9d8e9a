"""Markdown tables of bench/results.json, with each target of the issue marked met or missed."""

from __future__ import annotations

from typing import Any

SIZES = ("small", "typical", "large")
APISERVER_MODES = {
    "none": "none registered",
    "floor": "the floor (answers, no patch)",
    "minimal": "one env var added to one container",
    "webhook": "downward-webhook",
}


def _mark(met: bool) -> str:
    return "**met**" if met else "**missed**"


def _http_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "| pod (body) | server | req/s (median; min-max) | p50 ms | p99 ms | server CPU µs/req | webhook/floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        entry = section["sizes"].get(size)
        if entry is None:
            continue
        for kind in ("webhook", "floor"):
            e = entry[kind]
            ratio = f"**{entry['ratio']:.2f}**" if kind == "webhook" else ""
            lines.append(
                f"| {size} ({entry['body_bytes'] / 1024:.1f} KiB) | {kind} | {e['rps']:.0f} "
                f"({e['rps_min']:.0f}-{e['rps_max']:.0f}) | {e['p50_ms']:.2f} | {e['p99_ms']:.2f} | "
                f"{e['cpu_us_per_request']:.0f} | {ratio} |"
            )
    return lines


def report(results: dict[str, Any]) -> str:  # noqa: PLR0912, PLR0915 - one section after the other
    out: list[str] = []
    machine = results.get("machine")
    if machine:
        out += ["### Machine", "", "| | |", "|---|---|"]
        out += [f"| {key} | {value} |" for key, value in machine.items()]
        out += [f"| measured | {results.get('date', '?')}{' (--quick)' if results.get('quick') else ''} |", ""]
    targets: list[str] = []
    core = {r["size"]: r for r in results.get("core", [])}
    if core:
        out += ["### Core, in process (µs per review, best of 7)", ""]
        out += [
            "| pod | body bytes | ops | parse | view | review | encode | core = review + encode (a new pod) "
            "| memo (the next pod of a workload) | total (new) | total (memo) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for size in SIZES:
            r = core[size]
            out.append(
                f"| {size} | {r['body_bytes']} | {r['ops']} | {r['parse_us']:.1f} | {r['view_us']:.1f} | "
                f"{r['review_us']:.1f} | {r['encode_us']:.1f} | {r['core_us']:.1f} | "
                f"{r['memo_us']:.1f} | "
                f"{r['total_us']:.1f} | {r['memo_total_us']:.1f} |"
            )
        ratio = core["large"]["core_us"] / core["typical"]["core_us"]
        out += [
            "",
            f"large/typical: core {ratio:.1f}x, total "
            f"{core['large']['total_us'] / core['typical']['total_us']:.1f}x, for a body "
            f"{core['large']['body_bytes'] / core['typical']['body_bytes']:.1f}x as large.",
            "",
        ]
        typical = core["typical"]
        targets.append(
            f"| core cost, typical pod <= 50 µs | the next pod of a workload (memoized): "
            f"{typical['memo_us']:.0f} µs; a pod unlike any before: {typical['core_us']:.0f} µs | "
            f"{_mark(typical['memo_us'] <= 50)} for workloads' pods, "
            f"{_mark(typical['core_us'] <= 50)} for a new pod |"
        )
        targets.append(f"| large pod <= ~15x typical (linear) | {ratio:.1f}x | {_mark(ratio <= 15)} |")
    layers = {r["size"]: r for r in results.get("layers", [])}
    if layers:
        out += [
            "### ASGI apps in process (µs per request, no socket, no TLS)",
            "",
            "| pod | floor app | core total | webhook app | webhook app without the log line |",
            "|---|---|---|---|---|",
        ]
        for size in SIZES:
            r = layers[size]
            total = core.get(size, {}).get("total_us", float("nan"))
            out.append(
                f"| {size} | {r['floor_app_us']:.0f} | {total:.0f} | {r['webhook_app_us']:.0f} | "
                f"{r['webhook_app_nolog_us']:.0f} |"
            )
        out.append("")
    for section, title in (("http_1", "one process (server on CPU 0, wrk on CPU 1)"),):
        if section in results:
            s = results[section]
            out += [
                f"### HTTP over TLS, {title}: wrk -t1 -c{s['connections']}, {s['rounds']} x {s['seconds']:g} s "
                "alternating runs per server",
                "",
            ]
            out += [*_http_table(s), ""]
    if "http_1" in results and "typical" in results["http_1"]["sizes"]:
        typical = results["http_1"]["sizes"]["typical"]
        targets.append(
            f"| typical pod, 16 connections, one process: >= 0.8x the floor | {typical['ratio']:.2f}x "
            f"({typical['webhook']['rps']:.0f} vs {typical['floor']['rps']:.0f} req/s) | "
            f"{_mark(typical['ratio'] >= 0.8)} |"
        )
        targets.append(
            f"| typical pod p99 <= 10 ms | {typical['webhook']['p99_ms']:.1f} ms | "
            f"{_mark(typical['webhook']['p99_ms'] <= 10)} |"
        )
    if "soak" in results:
        s = results["soak"]
        out += [
            "### RSS soak",
            "",
            f"{s['seconds']:.0f} s at {s['rps']:.0f} req/s ({s['requests']} requests, {s['errors']} errors, "
            f"small/typical/large in turn, wrk -c{s['connections']} with a {s['delay_ms']:g} ms delay), "
            f"RSS sampled every 5 s:",
            "",
            "| idle | first sample under load | last | max | growth | second-half slope |",
            "|---|---|---|---|---|---|",
            f"| {s['rss_idle_kib'] / 1024:.1f} MiB | {s['rss_first_kib'] / 1024:.1f} MiB | "
            f"{s['rss_last_kib'] / 1024:.1f} MiB | {s['rss_max_kib'] / 1024:.1f} MiB | {s['growth_pct']:+.1f}% | "
            f"{s['second_half_kib_per_min']:+.0f} KiB/min |",
            "",
        ]
        targets.append(
            f"| RSS flat (< 10% growth) over {s['seconds'] / 60:.0f} min at a fixed rate | "
            f"{s['growth_pct']:+.1f}% | "
            f"{_mark(s['growth_pct'] < 10 and s['seconds'] >= 300)} |"
        )
    if "apiserver" in results:
        a = results["apiserver"]
        labels = APISERVER_MODES
        names = list(a["none"]["cpu_ms_per_pod"])
        out += [
            "### Pod creation through kube-apiserver",
            "",
            f"{a['pods_per_run']} typical pods per run ({a['pod_bytes'] / 1024:.0f} KiB each, opted in), "
            f"{a['creators']} concurrent creators, {a['rounds']} alternating runs per mode. Cost: each round's "
            "pods/s against the no-webhook run of the same round, the median over the rounds (each round's, in %, "
            "in brackets):",
            "",
            "| webhook | pods/s (median) | runs | cost | p50 ms | p99 ms | "
            + " | ".join(f"CPU ms/pod: {n}" for n in names)
            + " |",
            "|---|---|---|---|---|---|" + "---|" * len(names),
        ]
        for mode, label in labels.items():
            m = a[mode]
            runs = ", ".join(f"{x:.0f}" for x in m["pods_per_second_runs"])
            cost = ""
            if mode != "none":
                each = ", ".join(f"{x:.0f}" for x in m.get("throughput_cost_pct_runs", []))
                cost = f"{m['throughput_cost_pct']:.1f}%" + (f" ({each})" if each else "")
            cpu = " | ".join(f"{m['cpu_ms_per_pod'][n]:.2f}" for n in names)
            out.append(
                f"| {label} | {m['pods_per_second']:.1f} | {runs} | {cost} | {m['p50_ms']:.1f} | "
                f"{m['p99_ms']:.1f} | {cpu} |"
            )
        out.append("")
        targets.append(
            f"| webhook costs < 15% of pod-creation throughput | {a['throughput_cost_pct']:.1f}% "
            f"(a webhook that does nothing: {a['floor']['throughput_cost_pct']:.1f}%; "
            f"one that adds one env var: {a['minimal']['throughput_cost_pct']:.1f}%) | "
            f"{_mark(a['throughput_cost_pct'] < 15)} |"
        )
    if "profile" in results:
        p = results["profile"]
        areas = list(dict.fromkeys([*p["webhook"]["areas"], *p["floor"]["areas"]]))
        out += [
            "### Where the served process spends its time (py-spy, typical pod, 1 worker under wrk)",
            "",
            "Share of busy samples, and µs per request (share x 1/throughput: the server saturates its core).",
            "",
            f"| area | webhook ({p['webhook']['rps']:.0f} req/s) | µs/req | floor ({p['floor']['rps']:.0f} req/s) "
            "| µs/req |",
            "|---|---|---|---|---|",
        ]
        for area in areas:
            cells = []
            for kind in ("webhook", "floor"):
                share = p[kind]["areas"].get(area, 0.0)
                cells += [f"{share:.1f}%", f"{share / 100 * 1e6 / p[kind]['rps']:.0f}"]
            out.append(f"| {area} | " + " | ".join(cells) + " |")
        out.append("")
    if "apiserver_profile" in results:
        ap = results["apiserver_profile"]
        modes = ap["modes"]
        steps = list(next(iter(modes.values()))["cpu_ms_per_pod"])
        out += [
            "### Where kube-apiserver spends its CPU per pod (its own pprof profile, typical pod)",
            "",
            f"{ap['creators']} creators for {ap['seconds']:g} s per mode while the apiserver samples itself; "
            "CPU ms per pod created (nested: the plugin holds the json-patch, decode and request body).",
            "",
            "| webhook | pods | " + " | ".join(steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        for mode, label in APISERVER_MODES.items():
            if mode in modes:
                m = modes[mode]
                row = " | ".join(f"{m['cpu_ms_per_pod'][s]:.2f}" for s in steps)
                out.append(f"| {label} | {m['pods']} | {row} |")
        out.append("")
    if targets:
        out += ["### Targets", "", "| target | measured | |", "|---|---|---|", *targets, ""]
    return "\n".join(out)
