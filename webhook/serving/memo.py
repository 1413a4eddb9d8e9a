"""AdmissionRequest -> (Verdict, response bytes), with the decisions for pods memoized by their view.

Pods come in families: a ReplicaSet's, a Job's or a StatefulSet's pods differ in name, uid and status, which
the planner never reads (webhook/pod.py keeps only what it decides on). So the decision for a Pod CREATE is a
function of (pod view, namespace, path) under one configuration, and the answer for the next pod of the same
family is the memoized response with its uid filled in: no planning, no patch building, no serialising.

The memo is bounded by entries and by the memory it holds (responses, keys, verdicts), and evicts the least
recently used. A pod that looks like no other costs what it always did, plus one lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ..config import Config
from ..core.pod import PodView
from ..core.review import Verdict, decide, pod_to_inject, review
from .admission import AdmissionRequest, encode_response

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# A pod with thousands of containers or env vars: recomputing its answer costs little next to parsing it,
# and keeping it could flush dozens of others.
DEFAULT_MAX_ENTRY_BYTES = 256 * 1024
# What an entry holds besides its response bytes: the key (the pod's view) and the verdict without its ops.
# Measured with tracemalloc over 1000 distinct pods: 1.7 KB (small pod) to 2.1 KB (typical).
ENTRY_OVERHEAD_BYTES = 2048
_UID_SLOT = b'"uid":""'  # where encode_response put an empty uid: the first key of "response"


@dataclass(frozen=True, slots=True)
class ResponseTemplate:
    """An encoded AdmissionReview response around its uid."""

    head: bytes  # up to and including "uid":
    tail: bytes  # everything after the uid

    @classmethod
    def of(cls, verdict: Verdict) -> ResponseTemplate:
        body = encode_verdict("", verdict)
        head, slot, tail = body.partition(_UID_SLOT)
        if not slot:
            raise RuntimeError("encode_response wrote no uid slot")  # a bug of ours: the caller fails open
        return cls(head + b'"uid":', tail)

    def fill(self, uid: str) -> bytes:
        return self.head + orjson.dumps(uid) + self.tail

    @property
    def size(self) -> int:
        return len(self.head) + len(self.tail)


def encode_verdict(uid: str, verdict: Verdict) -> bytes:
    return encode_response(
        uid,
        allowed=verdict.allowed,
        ops=verdict.ops,
        warnings=verdict.warnings,
        audit=verdict.audit,
        message=verdict.message,
    )


_Key = tuple[PodView, str, bool]


class Answers:
    """The answers of one configuration; not thread-safe (one event loop per process calls it).

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
        self._observe = observe
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._memo: OrderedDict[_Key, tuple[Verdict, ResponseTemplate]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def __call__(self, request: AdmissionRequest, *, inject_by_default: bool) -> tuple[Verdict, bytes]:
        """The verdict (for metrics and logs) and the response body; raises BadReview for an object that is no Pod.

        For a Pod CREATE the verdict carries no ops: they are in the response body, and the memo keeps them
        there only (as Python objects they took three times the memory)."""
        pod = pod_to_inject(request, self._config)
        if pod is None:  # everything but a Pod CREATE: rare, cheap, not worth remembering
            verdict = review(request, self._config, inject_by_default=inject_by_default)
            return verdict, encode_verdict(request.uid, verdict)
        key = (*pod, inject_by_default)
        memo = self._memo
        found = memo.get(key)
        if found is not None:
            self.hits += 1
            memo.move_to_end(key)
            if self._observe is not None:
                self._observe(True)
            return found[0], found[1].fill(request.uid)
        self.misses += 1
        if self._observe is not None:
            self._observe(False)
        verdict = decide(*pod, self._config, inject_by_default=inject_by_default)
        template = ResponseTemplate.of(verdict)
        verdict = verdict._replace(ops=())
        self._remember(key, verdict, template)
        return verdict, template.fill(request.uid)

    def _remember(self, key: _Key, verdict: Verdict, template: ResponseTemplate) -> None:
        if template.size > self._max_entry_bytes:
            return
        memo = self._memo
        memo[key] = (verdict, template)
        self._bytes += template.size + ENTRY_OVERHEAD_BYTES
        while len(memo) > self._max_entries or self._bytes > self._max_bytes:
            _, (_, evicted) = memo.popitem(last=False)
            self._bytes -= evicted.size + ENTRY_OVERHEAD_BYTES

    def __len__(self) -> int:
        return len(self._memo)

    @property
    def size_bytes(self) -> int:
        """The memory the memo accounts for: response bytes plus the overhead of each entry."""
        return self._bytes
