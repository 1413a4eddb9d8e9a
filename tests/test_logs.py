"""The admission log line: its timestamp is every other line's (JsonFormatter), and its flushing is batched."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson
import pytest

from tests.server_process import opted_in_review
from webhook.core.config import Config
from webhook.serving.app import create_app
from webhook.serving.logs import LOGGER_NAME, MAX_BATCH_BYTES, AdmissionLog, JsonFormatter, timestamp


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


@pytest.fixture(params=["buffered", "unbuffered"])
def json_stream(request: pytest.FixtureRequest) -> Iterator[tuple[CountingRaw, io.TextIOWrapper]]:
    """A counting descriptor and a text stream over it, as sys.stderr is: with a buffer, or without one
    (PYTHONUNBUFFERED, which our image sets: every write to stderr.buffer is then a write(2))."""
    raw = CountingRaw()
    if request.param == "buffered":
        stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True)
    else:
        stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # type: ignore[arg-type]
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.setLevel(logging.INFO)
    yield raw, stream
    root.handlers[:] = saved
    root.setLevel(level)


def _admission_log(stream: io.TextIOWrapper, flush_after: float = 0.05) -> AdmissionLog:
    """The root logger as configure_logging leaves it: one JSON StreamHandler, here over `stream`.

    Set inside the test: pytest adds its own capturing handler for the test's duration."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    return AdmissionLog(logging.getLogger(LOGGER_NAME), flush_after=flush_after)


def _lines(raw: CountingRaw) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in b"".join(raw.writes).splitlines()]


Stream = tuple[CountingRaw, io.TextIOWrapper]


def test_lines_are_written_together_once_the_batch_window_ends(json_stream: Stream) -> None:
    raw, stream = json_stream
    log = _admission_log(stream, flush_after=0.05)

    async def scenario() -> None:
        for uid in ("a", "b", "c"):
            log.write({"uid": uid})
            await asyncio.sleep(0)  # each in its own loop turn, as requests are
        assert raw.writes == []  # not yet: the window is open
        await asyncio.sleep(0.1)
        assert len(raw.writes) == 1
        log.write({"uid": "d"})  # the next line opens the next window
        await asyncio.sleep(0.1)
        assert len(raw.writes) == 2

    asyncio.run(scenario())
    assert [line["uid"] for line in _lines(raw)] == ["a", "b", "c", "d"]


def test_a_full_batch_is_written_at_once(json_stream: Stream) -> None:
    raw, stream = json_stream
    log = _admission_log(stream, flush_after=60)  # the window never ends in this test
    padding = "x" * 1000

    async def scenario() -> None:
        lines = 0
        while not raw.writes:
            log.write({"uid": str(lines), "reason": padding})
            lines += 1
        assert sum(map(len, raw.writes)) >= MAX_BATCH_BYTES
        assert lines * (len(padding) + 100) < 2 * MAX_BATCH_BYTES  # bounded: the first full batch was written

    asyncio.run(scenario())


def test_outside_an_event_loop_every_line_is_written_at_once(json_stream: Stream) -> None:
    raw, stream = json_stream
    log = _admission_log(stream)
    log.write({"uid": "x"})
    log.write({"uid": "y"})
    assert [line["uid"] for line in _lines(raw)] == ["x", "y"]
    assert len(raw.writes) == 2


def test_other_log_lines_stay_in_order_with_batched_admission_lines(json_stream: Stream) -> None:
    raw, stream = json_stream
    logger = logging.getLogger(LOGGER_NAME)
    log = _admission_log(stream)

    async def scenario() -> None:
        log.write({"uid": "first"})
        logger.warning("in between")  # through logging: written at once, after the batch before it
        log.write({"uid": "last"})
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert [line.get("uid", line["msg"]) for line in _lines(raw)] == ["first", "in between", "last"]


def test_flush_writes_what_is_pending(json_stream: Stream) -> None:
    """What the app's shutdown calls: no line is left in the batch."""
    raw, stream = json_stream
    log = _admission_log(stream, flush_after=60)

    async def scenario() -> None:
        log.write({"uid": "pending"})
        assert raw.writes == []
        log.flush()
        assert [line["uid"] for line in _lines(raw)] == ["pending"]

    asyncio.run(scenario())


def test_the_apps_shutdown_writes_the_last_batch(json_stream: Stream) -> None:
    raw, stream = json_stream
    _admission_log(stream)  # the root logger's handler; the app builds its own AdmissionLog over it
    app = create_app(Config())
    body = opted_in_review("last-before-shutdown")
    scope = {"type": "http", "method": "POST", "path": "/mutate", "query_string": b"",
             "headers": [(b"content-length", str(len(body)).encode())]}  # fmt: skip

    async def scenario() -> None:
        shutdown = asyncio.Event()
        lifespan_sent: list[str] = []

        async def lifespan_receive() -> dict[str, Any]:
            if not lifespan_sent:
                return {"type": "lifespan.startup"}
            await shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def lifespan_send(message: MutableMapping[str, Any]) -> None:
            lifespan_sent.append(message["type"])

        async def run_lifespan() -> None:
            await app({"type": "lifespan"}, lifespan_receive, lifespan_send)

        lifespan = asyncio.create_task(run_lifespan())
        while not lifespan_sent:
            await asyncio.sleep(0)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        answers: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            answers.append(message)

        await app(scope, receive, send)
        assert answers[0]["status"] == 200
        assert raw.writes == []  # the line waits for its batch window (0.1 s)...
        shutdown.set()
        await lifespan
        assert lifespan_sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(scenario())
    assert [line.get("uid") for line in _lines(raw)] == ["last-before-shutdown"]  # ...or for the shutdown
