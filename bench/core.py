"""In-process cost of the pure core, per pod size: no HTTP, no TLS, no event loop.

    parse     parse_review(body)                      orjson.loads + the envelope checks
    view      pod_to_inject(request, config)          the facts the planner decides on (webhook/pod.py)
    review    review(request, config)                 view -> annotations -> plan -> JSON-Patch ops
    encode    encode_response(uid, ops, ...)          response bytes (orjson + base64 of the patch)
    core      review + encode                         the issue's "annotations -> plan -> ops -> response bytes",
                                                      for a pod unlike any seen before
    cold      core, its caches emptied first           the same, with nothing left from earlier pods: what is
                                                      cached per container name (NAME_CACHES) is built again
    memo      Answers(request) on a memoized view     the same bytes for the next pod of a workload (view +
                                                      lookup + uid): what the server does for a ReplicaSet's pods
    total     parse + review + encode                 everything the handler does with the body (fresh)
    memo total  parse + memo                          the same, for the next pod of a workload

Each figure is the best of `repeat` timings of a loop sized to take ~0.2 s: the least-disturbed run, which
is the usual way to time CPU-bound code on a shared machine (timeit's advice).
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from webhook.config import Config
from webhook.core import catalog, patch, plan
from webhook.core.review import pod_to_inject, review
from webhook.serving.admission import encode_response, parse_review
from webhook.serving.memo import Answers

from .pods import SIZES, PodSize, review_body

# What the core caches by container name (env entries, volume items), by position and count (the env ops'
# paths), by both (the env ops) and by configuration (the ambassador): warm for every pod but the first of
# its kind.
NAME_CACHES = (
    catalog.env_entries,
    catalog.volume_items,
    patch._env_paths,
    patch._env_ops,
    plan.ambassador_container,
)


def clear_name_caches() -> None:
    for cache in NAME_CACHES:
        cache.cache_clear()


@dataclass(frozen=True, slots=True)
class CoreResult:
    size: str
    body_bytes: int
    ops: int
    patch_bytes: int
    parse_us: float
    view_us: float
    review_us: float
    encode_us: float
    core_us: float
    cold_us: float
    memo_us: float
    total_us: float
    memo_total_us: float


def best_of(function: Callable[[], Any], repeat: int, budget: float = 0.2) -> float:
    """Seconds per call: the best of `repeat` loops, each about `budget` seconds long."""
    function()
    number, elapsed = 1, 0.0
    while elapsed < budget / 4:  # size the loop
        number *= 2
        started = time.perf_counter()
        for _ in range(number):
            function()
        elapsed = time.perf_counter() - started
    number = max(1, int(number * budget / elapsed))
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def measure(size: PodSize, config: Config, repeat: int) -> CoreResult:
    body = review_body(size)
    request = parse_review(body)
    verdict = review(request, config, inject_by_default=False)
    assert verdict.outcome == "injected", verdict

    def encode() -> bytes:
        return encode_response(
            request.uid, allowed=verdict.allowed, ops=verdict.ops, warnings=verdict.warnings, audit=verdict.audit
        )

    def core() -> bytes:
        v = review(request, config, inject_by_default=False)
        return encode_response(request.uid, allowed=v.allowed, ops=v.ops, warnings=v.warnings, audit=v.audit)

    def total() -> bytes:
        r = parse_review(body)
        v = review(r, config, inject_by_default=False)
        return encode_response(r.uid, allowed=v.allowed, ops=v.ops, warnings=v.warnings, audit=v.audit)

    answers = Answers(config)
    # The memo holds the answer of an earlier pod of the same workload: another uid, the same view.
    sibling = dataclasses.replace(request, uid="earlier-pod")
    answers(sibling, inject_by_default=False)
    if answers(request, inject_by_default=False)[1] != core():
        raise RuntimeError("the memoized answer differs from a fresh one")

    def cold() -> bytes:
        clear_name_caches()
        return core()

    def memo() -> bytes:
        return answers(request, inject_by_default=False)[1]

    def memo_total() -> bytes:
        return answers(parse_review(body), inject_by_default=False)[1]

    # As in the server: start-up objects frozen out of the collector's sight.
    gc.collect()
    gc.freeze()
    us = 1e6
    return CoreResult(
        size=size.name,
        body_bytes=len(body),
        ops=len(verdict.ops),
        patch_bytes=len(encode()),
        parse_us=best_of(lambda: parse_review(body), repeat) * us,
        view_us=best_of(lambda: pod_to_inject(request, config), repeat) * us,
        review_us=best_of(lambda: review(request, config, inject_by_default=False), repeat) * us,
        encode_us=best_of(encode, repeat) * us,
        core_us=best_of(core, repeat) * us,
        cold_us=(best_of(cold, repeat) - best_of(clear_name_caches, repeat)) * us,
        memo_us=best_of(memo, repeat) * us,
        total_us=best_of(total, repeat) * us,
        memo_total_us=best_of(memo_total, repeat) * us,
    )


def run(repeat: int = 7) -> list[dict[str, Any]]:
    config = Config()
    results = [asdict(measure(size, config, repeat)) for size in SIZES]
    by_name = {r["size"]: r for r in results}
    print("\ncore micro-benchmark (best of %d, microseconds per review)" % repeat)  # noqa: UP031
    print(f"{'pod':8} {'body':>8} {'parse':>7} {'view':>7} {'review':>7} {'encode':>7} {'core':>7} {'cold':>7} "
          f"{'memo':>7} {'total':>7} {'memo total':>10}")  # fmt: skip
    for r in results:
        print(
            f"{r['size']:8} {r['body_bytes']:>8} {r['parse_us']:>7.1f} {r['view_us']:>7.1f} {r['review_us']:>7.1f} "
            f"{r['encode_us']:>7.1f} {r['core_us']:>7.1f} {r['cold_us']:>7.1f} {r['memo_us']:>7.1f} "
            f"{r['total_us']:>7.1f} "
            f"{r['memo_total_us']:>10.1f}"
        )
    large, typical = by_name["large"], by_name["typical"]
    print(
        f"large/typical: core {large['core_us'] / typical['core_us']:.1f}x, "
        f"total {large['total_us'] / typical['total_us']:.1f}x "
        f"(body {large['body_bytes'] / typical['body_bytes']:.1f}x)"
    )
    return results


if __name__ == "__main__":
    run()
