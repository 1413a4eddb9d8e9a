"""MemoizedReview: review() with the response bytes of Pod CREATEs remembered by the pod's view.

Pods come in families: a ReplicaSet's, a Job's or a StatefulSet's pods differ in name, uid and status, which
the planner never reads (webhook/core/pod.py keeps only what it decides on). So the answer to a Pod CREATE is
a function of (pod view, namespace, path) under one configuration, and the answer for the next pod of the same
family is the remembered response with its uid filled in: no planning, no patch building, no serialising.

The memo is bounded by entries and by the memory it holds (responses, keys, summaries), and evicts the least
recently used. A pod that looks like no other costs what it always did, plus one lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ..core.answer import AdmissionRequest, Answer
from ..core.config import Config
from ..core.review import PodCreate, pod_create, review, review_pod
from .admission import encode_answer

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# A pod with thousands of containers or env vars: recomputing its answer costs little next to parsing it,
# and keeping it could flush dozens of others.
DEFAULT_MAX_ENTRY_BYTES = 256 * 1024
# What an entry holds besides its response bytes: the key (the pod's view) and the summary.
# Measured with tracemalloc over 1000 distinct pods: 1.7 KB (small pod) to 2.1 KB (typical).
ENTRY_OVERHEAD_BYTES = 2048
_UID_SLOT = b'"uid":""'  # where encode_response put an empty uid: the first key of "response"


@dataclass(frozen=True, slots=True)
class Summary:
    """What the server counts and logs about an answer; its operations are in the response bytes only."""

    allowed: bool
    outcome: str
    note: str  # the denial's message, or the reason it was allowed
    injected: tuple[str, ...]

    @classmethod
    def of(cls, answer: Answer) -> Summary:
        return cls(answer.allowed, answer.outcome, answer.message or answer.reason, answer.injected)


@dataclass(frozen=True, slots=True)
class ResponseTemplate:
    """An encoded AdmissionReview response around its uid."""

    head: bytes  # up to and including "uid":
    tail: bytes  # everything after the uid

    @classmethod
    def of(cls, answer: Answer) -> ResponseTemplate:
        head, slot, tail = encode_answer("", answer).partition(_UID_SLOT)
        if not slot:
            raise RuntimeError("encode_response wrote no uid slot")  # a bug of ours: the caller fails open
        return cls(head + b'"uid":', tail)

    def fill(self, uid: str) -> bytes:
        return self.head + orjson.dumps(uid) + self.tail

    @property
    def size(self) -> int:
        return len(self.head) + len(self.tail)


class MemoizedReview:
    """review() for one configuration, Pod CREATE answers remembered; not thread-safe (one event loop calls it).

    `max_bytes` bounds the memory the memo holds: response bytes plus ENTRY_OVERHEAD_BYTES per entry."""

    def __init__(
        self,
        config: Config,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        observe: Callable[[bool], None] | None = None,
    ) -> None:
        """`observe(memoized)` is called for every Pod CREATE answered (the server counts them in a metric)."""
        self._config = config
        self._observe = observe or (lambda _memoized: None)
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._memo: OrderedDict[tuple[PodCreate, bool], tuple[Summary, ResponseTemplate]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def __call__(self, request: AdmissionRequest, *, inject_by_default: bool) -> tuple[Summary, bytes]:
        """The summary (for metrics and logs) and the response body; raises BadReview for an object that is no Pod."""
        pod = pod_create(request, self._config)
        if pod is None:  # everything but a Pod CREATE: rare, cheap, not worth remembering
            answer = review(request, self._config, inject_by_default=inject_by_default)
            return Summary.of(answer), encode_answer(request.uid, answer)
        key = (pod, inject_by_default)
        found = self._memo.get(key)
        self._observe(found is not None)
        if found is not None:
            self.hits += 1
            self._memo.move_to_end(key)
            return found[0], found[1].fill(request.uid)
        self.misses += 1
        answer = review_pod(pod, self._config, inject_by_default=inject_by_default)
        summary, template = Summary.of(answer), ResponseTemplate.of(answer)
        self._remember(key, summary, template)
        return summary, template.fill(request.uid)

    def _remember(self, key: tuple[PodCreate, bool], summary: Summary, template: ResponseTemplate) -> None:
        if template.size > self._max_entry_bytes:
            return
        self._memo[key] = (summary, template)
        self._bytes += template.size + ENTRY_OVERHEAD_BYTES
        while len(self._memo) > self._max_entries or self._bytes > self._max_bytes:
            _, (_, evicted) = self._memo.popitem(last=False)
            self._bytes -= evicted.size + ENTRY_OVERHEAD_BYTES

    def __len__(self) -> int:
        return len(self._memo)

    @property
    def size_bytes(self) -> int:
        """The memory the memo accounts for: response bytes plus the overhead of each entry."""
        return self._bytes
