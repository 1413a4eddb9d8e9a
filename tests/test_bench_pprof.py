"""Reading `go tool pprof -top -cum` listings (bench/apiserver_profile.py): the figures of the apiserver table."""

from __future__ import annotations

import pytest

from bench.apiserver_profile import cumulative_ms

LISTING = """\
File: kube-apiserver
Type: cpu
Duration: 8.01s, Total samples = 11.82s (147.65%)
Showing nodes accounting for 0.03s, 0.25% of 11.82s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      6.79s 57.45%  k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1.2
         0     0%  0.25%      2.02s 17.09%  gopkg.in/evanphx/json-patch%2ev4.Patch.Apply (inline)
     0.78s  7.09%  7.27%      1.06s  9.64%  encoding/json.appendCompact
    10.5ms  0.09%  7.36%    950.5ms  8.04%  gopkg.in/evanphx/json-patch%2ev4.(*lazyNode).MarshalJSON
     120us     0%  7.36%      300us     0%  runtime.mallocgc
"""


@pytest.mark.parametrize(
    ("function", "ms"),
    [
        ("k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1.2", 6790.0),  # flat "0", no unit
        ("gopkg.in/evanphx/json-patch%2ev4.Patch.Apply", 2020.0),  # "(inline)" is not part of the name
        ("encoding/json.appendCompact", 1060.0),
        ("gopkg.in/evanphx/json-patch%2ev4.(*lazyNode).MarshalJSON", 950.5),  # milliseconds
        ("runtime.mallocgc", 0.3),  # microseconds
    ],
)
def test_each_function_gets_its_cumulative_time_in_milliseconds(function: str, ms: float) -> None:
    total, found = cumulative_ms(LISTING)
    assert total == pytest.approx(11820.0)
    assert found[function] == pytest.approx(ms)


def test_the_header_lines_are_not_functions() -> None:
    _, found = cumulative_ms(LISTING)
    assert len(found) == 5


def test_a_listing_without_a_total_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not a pprof -top listing"):
        cumulative_ms("flat flat% sum% cum cum%\n")
