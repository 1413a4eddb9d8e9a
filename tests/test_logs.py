"""The admission log line: its timestamp is every other line's (JsonFormatter), and its flushing is batched."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from webhook.logs import LOGGER_NAME, AdmissionLog, JsonFormatter, timestamp


@pytest.mark.parametrize("now", [1764115200.0, 1764115200.999, 1764115201.0005, 1767225599.5, 0.25])
def test_timestamp_is_the_formatters(now: float) -> None:
    record = logging.LogRecord("downward_webhook", logging.INFO, __file__, 1, "admission", None, None)
    record.created, record.msecs = now, (now - int(now)) * 1000
    assert timestamp(now) == orjson.loads(JsonFormatter().format(record))["ts"]


def test_timestamp_moves_with_the_second() -> None:
    assert timestamp(1764115200.5) == "2025-11-26T00:00:00.500Z"
    assert timestamp(1764115201.5) == "2025-11-26T00:00:01.500Z"


class CountingRaw(io.RawIOBase):
    """The file descriptor under the log stream: counts write(2) calls."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return len(data)


@pytest.fixture
def json_stream() -> Iterator[CountingRaw]:
    """A JSON StreamHandler over a counting descriptor; the root logger restored afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.setLevel(logging.INFO)
    yield CountingRaw()
    root.handlers[:] = saved
    root.setLevel(level)


def _admission_log(raw: CountingRaw) -> AdmissionLog:
    """The root logger as configure_logging leaves it: one JSON StreamHandler, here over `raw`.

    Set inside the test: pytest adds its own capturing handler for the test's duration."""
    handler = logging.StreamHandler(io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8"))
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    return AdmissionLog(logging.getLogger(LOGGER_NAME))


def _lines(raw: CountingRaw) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in b"".join(raw.writes).splitlines()]


def test_lines_of_one_loop_turn_are_flushed_together(json_stream: CountingRaw) -> None:
    log = _admission_log(json_stream)

    async def scenario() -> None:
        for uid in ("a", "b", "c"):
            log.write({"uid": uid})
        assert json_stream.writes == []  # not yet: the turn is not over
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(json_stream.writes) == 1
        log.write({"uid": "d"})  # the next turn gets its own flush
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(json_stream.writes) == 2

    asyncio.run(scenario())
    assert [line["uid"] for line in _lines(json_stream)] == ["a", "b", "c", "d"]


def test_outside_an_event_loop_every_line_is_flushed_at_once(json_stream: CountingRaw) -> None:
    log = _admission_log(json_stream)
    log.write({"uid": "x"})
    log.write({"uid": "y"})
    assert [line["uid"] for line in _lines(json_stream)] == ["x", "y"]
    assert len(json_stream.writes) == 2


def test_other_log_lines_stay_in_order_with_buffered_admission_lines(json_stream: CountingRaw) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    log = _admission_log(json_stream)

    async def scenario() -> None:
        log.write({"uid": "first"})
        logger.warning("in between")  # through logging: flushed at once, with what was buffered before it
        log.write({"uid": "last"})
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert [line.get("uid", line["msg"]) for line in _lines(json_stream)] == ["first", "in between", "last"]
