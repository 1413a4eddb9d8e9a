"""The admission log line's timestamp matches every other line's (JsonFormatter), to the millisecond."""

from __future__ import annotations

import logging

import orjson
import pytest

from webhook.logs import JsonFormatter, timestamp


@pytest.mark.parametrize("now", [1764115200.0, 1764115200.999, 1764115201.0005, 1767225599.5, 0.25])
def test_timestamp_is_the_formatters(now: float) -> None:
    record = logging.LogRecord("downward_webhook", logging.INFO, __file__, 1, "admission", None, None)
    record.created, record.msecs = now, (now - int(now)) * 1000
    assert timestamp(now) == orjson.loads(JsonFormatter().format(record))["ts"]


def test_timestamp_moves_with_the_second() -> None:
    assert timestamp(1764115200.5) == "2025-11-26T00:00:00.500Z"
    assert timestamp(1764115201.5) == "2025-11-26T00:00:01.500Z"
