"""Pod creation through a real kube-apiserver, with the webhook registered and without it.

The control plane of the end-to-end tests (tests/e2e/controlplane.py: etcd, kube-apiserver and
kube-controller-manager built by tools/kube/build.sh; never built from here) and one `downward-webhook serve`
process (one worker) whose certificate the control plane's CA signs. The MutatingWebhookConfiguration is the
chart's pod entry: clientConfig.url https://127.0.0.1:PORT/mutate with the caBundle, the same
matchConditions (CEL), failurePolicy Fail.

Each run creates the same typical pods (opted in; 120 env vars) in the same namespace from a few concurrent
creators over keep-alive connections, as the admin; the runs alternate between the modes and the pods are
deleted between runs (unscheduled pods go at once: there is no kubelet). The modes:

    none       no webhook registered
    floor      the floor server registered: called, answers allowed with no patch
    minimal    the floor server answering with one env var added to the first container: the least any
               env-injecting webhook costs the apiserver (applying a patch that touches a container)
    webhook    downward-webhook
"""

from __future__ import annotations

import http.client
import json
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.cluster import ControlPlane, find_binaries

from .floor import MINIMAL_ENV_NAME
from .machine import busy_seconds
from .pods import NAMESPACE, SIZE_BY_NAME, pod
from .servers import HOST, Server, cpu_seconds

CONFIGURATION_NAME = "downward-bench"
MODES = ("none", "floor", "minimal", "webhook")
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"


def _configuration(port: int, ca_bundle: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION_NAME},
        "webhooks": [
            {
                "name": name,
                "clientConfig": {"url": f"https://{HOST}:{port}/mutate", "caBundle": ca_bundle},
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "matchConditions": [
                    {
                        "name": "not-a-mirror-pod",
                        "expression": "!has(object.metadata.annotations) || "
                        "!('kubernetes.io/config.mirror' in object.metadata.annotations)",
                    },
                    {
                        "name": "has-downward-annotation",
                        "expression": "has(object.metadata.annotations) && "
                        "object.metadata.annotations.exists(k, k.startsWith('downward.dev/'))",
                    },
                ],
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "reinvocationPolicy": "IfNeeded",
                "sideEffects": "None",
                "timeoutSeconds": 10,
                "admissionReviewVersions": ["v1"],
            }
        ],
    }


class Api:
    """Keep-alive HTTPS connections to the apiserver as the admin (client certificate)."""

    def __init__(self, cp: Any) -> None:
        self._port = cp.apiserver_port
        self._context = ssl.create_default_context(cafile=str(cp.ca_cert_path))
        self._context.load_cert_chain(str(cp.admin_cert_path), str(cp.admin_key_path))

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(HOST, self._port, context=self._context, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = self.connection()
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, data, {"Content-Type": "application/json", "Accept": "application/json"})
            answer = connection.getresponse()
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
        finally:
            connection.close()


MARKERS = {"webhook": "POD_NAME", "minimal": MINIMAL_ENV_NAME}  # mode -> the env var its patch adds


def _patched_by(created: dict[str, Any]) -> str:
    """Which mode's patch the created pod carries ("none" when no patch)."""
    names = {e.get("name") for e in created["spec"]["containers"][0].get("env", [])}
    return next((mode for mode, marker in MARKERS.items() if marker in names), "none")


def _expected_patch(mode: str) -> str:
    return mode if mode in MARKERS else "none"


def _webhook_calls(api: Api, name: str) -> float:
    """How many times the apiserver has called the webhook `name` (its own metric)."""
    connection = api.connection()
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    prefix = "apiserver_admission_webhook_request_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and f'name="{name}"' in line
    )


def _switch(api: Api, mode: str, configurations: dict[str, dict[str, Any]], probe: dict[str, Any]) -> None:
    """Register the configuration of `mode` (or none), then wait until the apiserver acts on it: dry-run
    creates go on until the webhook of `mode` is called and the others are not (the apiserver's own counter),
    and, for the real webhook, until the probe comes back injected."""
    path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    status, answer = api.call("DELETE", f"{path}/{CONFIGURATION_NAME}")
    if status not in (200, 404):
        raise RuntimeError(f"webhook configuration: HTTP {status}: {answer}")
    if mode in configurations:
        status, answer = api.call("POST", path, configurations[mode])
        if status != 201:
            raise RuntimeError(f"webhook configuration: HTTP {status}: {answer}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = {key: configuration["webhooks"][0]["name"] for key, configuration in configurations.items()}
        before = {key: _webhook_calls(api, name) for key, name in names.items()}
        status, created = api.call("POST", PODS + "?dryRun=All", probe)
        after = {key: _webhook_calls(api, name) for key, name in names.items()}
        called = {key for key in names if after[key] > before[key]}
        if status == 201 and called == ({mode} & set(configurations)) and _patched_by(created) == _expected_patch(mode):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the apiserver did not switch to {mode!r} in 30 s")


def _delete_pods(api: Api) -> None:
    api.call("DELETE", PODS)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, listed = api.call("GET", PODS + "?limit=1")
        if status == 200 and not listed["items"]:
            return
        time.sleep(0.2)
    raise RuntimeError("pods were not deleted in 60 s")


def _pids_with(argument: str) -> list[int]:
    """Processes whose command line has this exact argument (the control plane's, told apart by port)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if argument.encode() in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _create(
    api: Api,
    body: bytes,
    count: int,
    *,
    creators: int,
    patched_by: str,
    processes: dict[str, list[int]],
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Create `count` pods (fewer if `stop` is set first) from `creators` threads; figures per pod."""
    latencies: list[float] = []
    failures: list[str] = []
    remaining = [count]
    lock = threading.Lock()

    def creator() -> None:
        connection = api.connection()
        checked = False
        try:
            while True:
                with lock:
                    if remaining[0] == 0 or (stop is not None and stop.is_set()):
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                connection.request(
                    "POST", PODS, body, {"Content-Type": "application/json", "Accept": "application/json"}
                )
                answer = connection.getresponse()
                raw = answer.read()
                elapsed = time.perf_counter() - started
                if answer.status != 201:
                    failures.append(f"HTTP {answer.status}: {raw[:300]!r}")
                    continue
                if not checked:  # one pod per creator: patched by the registered webhook, and only by it
                    checked = True
                    found = _patched_by(json.loads(raw))
                    if found != patched_by:
                        failures.append(f"the pod carries the patch of {found!r}, not of {patched_by!r}")
                with lock:
                    latencies.append(elapsed)
        finally:
            connection.close()

    threads = [threading.Thread(target=creator) for _ in range(creators)]
    cpu_before = {name: cpu_seconds(pids) for name, pids in processes.items()}
    busy_before = busy_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in processes.items()}
    cpu["all processes"] = busy_seconds() - busy_before
    if failures:
        raise RuntimeError(f"{len(failures)} pod creations failed, e.g. {failures[0]}")
    latencies.sort()
    return {
        "pods": len(latencies),
        "seconds": elapsed,
        "pods_per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "latencies_ms": [round(1000 * x, 3) for x in latencies],
        "cpu_ms_per_pod": {name: 1000 * seconds / max(1, len(latencies)) for name, seconds in cpu.items()},
    }


@dataclass(frozen=True)
class Bench:
    """A running control plane with the three servers started and their configurations ready to register."""

    cp: ControlPlane
    api: Api
    configurations: dict[str, dict[str, Any]]
    processes: dict[str, list[int]]  # name -> pids, for CPU accounting
    manifest: dict[str, Any]  # the typical pod, as a client creates it
    body: bytes


@contextmanager
def started(extra_apiserver_args: Sequence[str] = ()) -> Iterator[Bench]:
    workdir = Path(tempfile.mkdtemp(prefix="downward-bench-api-"))
    with ControlPlane(find_binaries(build=False), extra_apiserver_args=extra_apiserver_args) as cp:
        api = Api(cp)
        status, answer = api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                  "metadata": {"name": NAMESPACE}})  # fmt: skip
        if status != 201:
            raise RuntimeError(f"namespace: HTTP {status}: {answer}")
        cp.wait_for_default_serviceaccount(NAMESPACE)
        tls = workdir / "tls"
        issued = cp.issue_cert("downward-webhook", dns_names=["localhost"], ip_addresses=[HOST], directory=tls)
        # Server() expects tls/{tls.crt,tls.key,ca.crt}: the control plane's pair and CA.
        issued.cert_path.rename(tls / "tls.crt")
        issued.key_path.rename(tls / "tls.key")
        (tls / "ca.crt").write_bytes(cp.ca_pem)
        webhook = Server("webhook", workdir).start()
        floor = Server("floor", workdir).start()
        minimal = Server("floor", workdir, patch="one-env").start()
        try:
            manifest = pod(SIZE_BY_NAME["typical"], admitted=False)
            yield Bench(
                cp=cp,
                api=api,
                configurations={
                    "floor": _configuration(floor.port, cp.ca_bundle_b64, "floor.downward.dev"),
                    "minimal": _configuration(minimal.port, cp.ca_bundle_b64, "minimal.downward.dev"),
                    "webhook": _configuration(webhook.port, cp.ca_bundle_b64, "pods.downward.dev"),
                },
                processes={
                    "kube-apiserver": _pids_with(f"--secure-port={cp.apiserver_port}"),
                    "etcd": _pids_with(f"--listen-client-urls={cp.etcd_url}"),
                    "webhook": webhook.pids,
                    "floor": floor.pids + minimal.pids,
                },
                manifest=manifest,
                body=json.dumps(manifest).encode(),
            )
        finally:
            webhook.stop()
            floor.stop()
            minimal.stop()


def run(pods: int = 600, rounds: int = 5, creators: int = 4) -> dict[str, Any]:
    with started() as bench:
        api, configurations, processes = bench.api, bench.configurations, bench.processes
        manifest, body = bench.manifest, bench.body
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for number in range(rounds + 1):  # round 0 warms every path up and is not counted
            order = MODES if number % 2 else MODES[::-1]
            for mode in order:
                _switch(api, mode, configurations, manifest)
                _delete_pods(api)
                count = pods if number else 50
                name = configurations[mode]["webhooks"][0]["name"] if mode in configurations else ""
                calls = _webhook_calls(api, name) if name else 0.0
                result = _create(
                    api, body, count, creators=creators, patched_by=_expected_patch(mode), processes=processes
                )
                result["webhook_calls"] = (_webhook_calls(api, name) - calls) if name else 0.0
                if result["webhook_calls"] != (count if name else 0):
                    raise RuntimeError(f"{mode}: {result['webhook_calls']} webhook calls for {count} pods")
                if number:
                    runs[mode].append(result)
                    print(
                        f"apiserver round {number} {mode:7}: {result['pods_per_second']:6.1f} pods/s "
                        f"p50 {result['p50_ms']:6.1f} ms p99 {result['p99_ms']:6.1f} ms",
                        flush=True,
                    )
    summary: dict[str, Any] = {"pods_per_run": pods, "rounds": rounds, "creators": creators, "pod_bytes": len(body)}
    for mode, mode_runs in runs.items():
        pooled = sorted(x for r in mode_runs for x in r["latencies_ms"])
        summary[mode] = {
            "pods_per_second": statistics.median(r["pods_per_second"] for r in mode_runs),
            "pods_per_second_runs": [r["pods_per_second"] for r in mode_runs],
            "p50_ms": pooled[len(pooled) // 2],
            "p99_ms": pooled[min(len(pooled) - 1, int(len(pooled) * 0.99))],
            "cpu_ms_per_pod": {
                name: statistics.median(r["cpu_ms_per_pod"][name] for r in mode_runs)
                for name in mode_runs[0]["cpu_ms_per_pod"]
            },
        }
    none = summary["none"]
    for mode in ("floor", "minimal", "webhook"):
        # Each round against the no-webhook run of the same round, then the median: the host's speed drifts
        # between rounds (one quiet round and one busy one moved a median of pods/s by a third), much less
        # within one.
        paired = zip(runs[mode], runs["none"], strict=True)
        costs = [100 * (1 - r["pods_per_second"] / n["pods_per_second"]) for r, n in paired]
        summary[mode]["throughput_cost_pct_runs"] = costs
        summary[mode]["throughput_cost_pct"] = statistics.median(costs)
        summary[mode]["p50_added_ms"] = summary[mode]["p50_ms"] - none["p50_ms"]
        summary[mode]["p99_added_ms"] = summary[mode]["p99_ms"] - none["p99_ms"]
    summary["throughput_cost_pct"] = summary["webhook"]["throughput_cost_pct"]
    print(
        f"apiserver: {none['pods_per_second']:.1f} pods/s without a webhook, "
        f"{summary['floor']['pods_per_second']:.1f} with the floor as the webhook "
        f"(cost {summary['floor']['throughput_cost_pct']:.1f}%), {summary['minimal']['pods_per_second']:.1f} "
        f"with a one-env-var patch (cost {summary['minimal']['throughput_cost_pct']:.1f}%), "
        f"{summary['webhook']['pods_per_second']:.1f} with downward-webhook "
        f"(cost {summary['throughput_cost_pct']:.1f}%)",
        flush=True,
    )
    return summary
