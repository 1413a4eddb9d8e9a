"""In-process cost of the pure core, per pod size: no HTTP, no TLS, no event loop.

    parse     parse_review(body)                      orjson.loads + the envelope checks
    view      pod_create(request, config)             the facts the planner decides on (webhook/core/pod.py)
    review    review(request, config)                 view -> annotations -> plan -> JSON-Patch ops
    encode    encode_answer(uid, answer)              response bytes (orjson + base64 of the patch)
    core      review + encode                         the issue's "annotations -> plan -> ops -> response bytes",
                                                      for a pod unlike any seen before (the core keeps no cache)
    memo      MemoizedReview(request) on a known view the same bytes for the next pod of a workload (view +
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

from webhook.core.config import Config
from webhook.core.review import pod_create, review
from webhook.serving.admission import encode_answer, parse_review
from webhook.serving.memo import MemoizedReview

from .pods import SIZES, PodSize, review_body


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
    answer = review(request, config, inject_by_default=False)
    assert answer.outcome == "injected", answer

    def encode() -> bytes:
        return encode_answer(request.uid, answer)

    def core() -> bytes:
        return encode_answer(request.uid, review(request, config, inject_by_default=False))

    def total() -> bytes:
        r = parse_review(body)
        return encode_answer(r.uid, review(r, config, inject_by_default=False))

    answers = MemoizedReview(config)
    # The memo holds the answer of an earlier pod of the same workload: another uid, the same view.
    sibling = dataclasses.replace(request, uid="earlier-pod")
    answers(sibling, inject_by_default=False)
    if answers(request, inject_by_default=False)[1] != core():
        raise RuntimeError("the memoized answer differs from a fresh one")

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
        ops=len(answer.ops),
        patch_bytes=len(encode()),
        parse_us=best_of(lambda: parse_review(body), repeat) * us,
        view_us=best_of(lambda: pod_create(request, config), repeat) * us,
        review_us=best_of(lambda: review(request, config, inject_by_default=False), repeat) * us,
        encode_us=best_of(encode, repeat) * us,
        core_us=best_of(core, repeat) * us,
        memo_us=best_of(memo, repeat) * us,
        total_us=best_of(total, repeat) * us,
        memo_total_us=best_of(memo_total, repeat) * us,
    )


def run(repeat: int = 7) -> list[dict[str, Any]]:
    config = Config()
    results = [asdict(measure(size, config, repeat)) for size in SIZES]
    by_name = {r["size"]: r for r in results}
    print("\ncore micro-benchmark (best of %d, microseconds per review)" % repeat)  # noqa: UP031
    print(f"{'pod':8} {'body':>8} {'parse':>7} {'view':>7} {'review':>7} {'encode':>7} {'core':>7} "
          f"{'memo':>7} {'total':>7} {'memo total':>10}")  # fmt: skip
    for r in results:
        print(
            f"{r['size']:8} {r['body_bytes']:>8} {r['parse_us']:>7.1f} {r['view_us']:>7.1f} {r['review_us']:>7.1f} "
            f"{r['encode_us']:>7.1f} {r['core_us']:>7.1f} {r['memo_us']:>7.1f} "
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
