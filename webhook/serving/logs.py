"""JSON logs: one object per line, the fields an operator greps for (uid, namespace, pod, outcome)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from functools import lru_cache
from typing import Any

import orjson

LOGGER_NAME = "downward_webhook"
FLUSH_AFTER_SECONDS = 0.1  # how late an admission line may reach the log stream
MAX_BATCH_BYTES = 64 * 1024  # admission lines held before they are written, at most
_NEWLINE = orjson.OPT_APPEND_NEWLINE


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return logging.getLogger(LOGGER_NAME)


def log_fields(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields})


def timestamp(now: float) -> str:
    """The `ts` field of every line: UTC, milliseconds."""
    return _seconds(int(now)) + f".{int(now * 1000) % 1000:03d}Z"


@lru_cache(maxsize=4)  # formatting the date and time once per second, not once per line
def _seconds(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


class AdmissionLog:
    """The one line per admission, written straight to the log stream with orjson.

    Same format as JsonFormatter's lines, without the logging module's records, locks and formatters: at
    thousands of admissions a second that machinery cost more than injecting the pod. Only when the
    root logger writes JSON to a stream (configure_logging); with any other logging set-up the line goes
    through logging like every other one.

    Lines are batched here, not in the stream: under PYTHONUNBUFFERED (set in our image, as in most Python
    images) stderr has no buffer and every write is a write(2), which cost the served webhook 15% of its CPU
    time per request (docs/benchmarks.md). A batch is written in one call `flush_after` seconds after its first
    line, when it reaches MAX_BATCH_BYTES, before any other log line (so the order of lines is kept), and when
    the app shuts down. A line thus reaches the log at most 0.1 s late; a process killed with SIGKILL loses at
    most that much. Outside an event loop every line is written at once.
    """

    def __init__(self, logger: logging.Logger, *, flush_after: float = FLUSH_AFTER_SECONDS) -> None:
        self._logger = logger
        self._flush_after = flush_after
        handlers = logging.getLogger().handlers
        direct = [
            h for h in handlers if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)
        ]
        self._stream = direct[0].stream if len(direct) == len(handlers) == 1 else None
        if self._stream is not None:
            direct[0].addFilter(self._before_other_line)
        self._head = {"ts": "", "level": "info", "logger": logger.name, "msg": "admission"}  # ts first, as elsewhere
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._flush_scheduled = False

    def write(self, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        if self._stream is None:
            self._logger.info("admission", extra={"fields": fields})
            return
        line = orjson.dumps({**self._head, "ts": timestamp(time.time()), **fields}, default=str, option=_NEWLINE)
        self._batch.append(line)
        self._batch_bytes += len(line)
        if self._batch_bytes >= MAX_BATCH_BYTES:
            self.flush()
        elif not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_scheduled = True
            loop.call_later(self._flush_after, self._scheduled_flush)

    def flush(self) -> None:
        """Write the batch to the stream, in one write."""
        stream = self._stream
        if not self._batch or stream is None:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        data = b"".join(batch)
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            binary.write(data)
        else:
            stream.write(data.decode())
        stream.flush()

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def _before_other_line(self, _record: logging.LogRecord) -> bool:
        # A filter of the stream's handler: runs before any other line is written, which must come after ours.
        self.flush()
        return True
